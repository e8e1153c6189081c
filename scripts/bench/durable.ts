/**
 * Durable step overhead: a fal job as a `FalJob` step of a workflow on SQLite (the single runner,
 * a journal file) against the same job with `Queue.subscribe`, and the throughput of many jobs on
 * the durable engines.
 *
 * `tsx scripts/bench/durable.ts` prints the markdown section. The loopback emulator runs in this
 * process with a model `bench/sleep` that sleeps `BENCH_DURABLE_MS` (default 300 ms). Latency:
 * `BENCH_DURABLE_CALLS` (default 10) sequential jobs per variant after one warm-up, interleaved;
 * the figure is the median wall time minus the model's run time. The durable step is completed by
 * its webhook (served here), its poll fallback set to one minute so it never answers first. Two
 * durable variants: the workflow's default `suspendedRetrySchedule` (the caller of
 * `Workflow.execute` checks a suspended workflow again after 200 ms, then 1.5 times longer each
 * time), and a caller checking every 25 ms (docs/durable.md, "Latency").
 * Throughput: `BENCH_DURABLE_JOBS` (default 1000) workflows, `BENCH_DURABLE_IN_FLIGHT` (default 100)
 * at a time, on SQLite, and on
 * PostgreSQL (a throwaway server from the installed binaries, as the package's tests start it);
 * jobs per second until the last completes.
 *
 * The PostgreSQL runner is shut down (its scope closed) before the server stops; a failure of that
 * shutdown is reported in the section, after the figures.
 *
 * Gate: the durable step's overhead (the 25 ms caller) is at most 2x `Queue.subscribe`'s on SQLite.
 */
import { Queue } from "@effect-fal/api"
import { FalEmulator, Model } from "@effect-fal/testing"
import { FalJob } from "@effect-fal/workflow"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Workflow, type WorkflowEngine } from "@effect/workflow"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { freePort } from "../../packages/workflow/test/utils/child.js"
import { serveWebhooks } from "../../packages/workflow/test/utils/harness.js"
import * as Postgres from "../../packages/workflow/test/utils/postgres.js"
import { type Gate, isMain, printGates, runAlone, stamp, times } from "./report.js"

const modelMs = Number(process.env.BENCH_DURABLE_MS ?? "300")
const calls = Number(process.env.BENCH_DURABLE_CALLS ?? "10")
const jobs = Number(process.env.BENCH_DURABLE_JOBS ?? "1000")
// 1,000 submits opened at once overrun the emulator's accept queue (connect timeouts, then failed
// steps); a fleet keeps a bound too
const inFlight = Number(process.env.BENCH_DURABLE_IN_FLIGHT ?? "100")
const model = "bench/sleep"

const sleepModel = Model.make({
  id: model,
  input: Schema.Struct({ n: Schema.Number }),
  // Enough runners that the model never queues: the figure is the engine's, not the model's.
  runners: 1024,
  handler: (input) => Effect.as(Effect.sleep(`${modelMs} millis`), { n: input.n })
})

const workflow = <const Name extends string>(name: Name, suspendedRetrySchedule?: Schedule.Schedule<unknown>) =>
  Workflow.make({
    name,
    payload: { run: Schema.String, n: Schema.Number },
    success: Schema.Number,
    error: FalJob.FalErrorSchema,
    idempotencyKey: ({ n, run }) => `${run}-${n}`,
    suspendedRetrySchedule
  })

/** The workflow as declared with its defaults. */
const Job = workflow("BenchJob")
/** The same, its caller checking a suspended execution every 25 ms. */
const EagerJob = workflow("BenchEagerJob", Schedule.spaced("25 millis"))

const body = ({ n }: { readonly n: number }) =>
  Effect.map(
    FalJob.run({ name: "job", modelId: model, input: { n }, output: Schema.Struct({ n: Schema.Number }) }),
    (result) => result.data.n
  )

const JobLive = Layer.merge(Job.toLayer(body), EagerJob.toLayer(body))

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(
    Effect.timed(effect),
    ([duration]) => Number(duration.value._tag === "Nanos" ? duration.value.nanos : 0n) / 1e6
  )

/** The workflow's engine, its webhook handler on a loopback port, and the job's layer on them. */
const engineWith = (engine: Layer.Layer<WorkflowEngine.WorkflowEngine, unknown>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Layer.orDie(engine))
    const webhookUrl = yield* serveWebhooks(context)
    yield* Layer.build(
      JobLive.pipe(
        Layer.provide(Layer.succeedContext(context)),
        Layer.provide(FalJob.layerConfig({ webhookUrl, pollInterval: "1 minute" }))
      )
    )
    return Layer.succeedContext(context)
  })

const program = Effect.gen(function*() {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "fal-durable-bench-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
  const sqlite = yield* engineWith(FalJob.layerSqlite({ filename: Path.join(dir, "bench.sqlite") }))
  const subscribe = (n: number) => Queue.subscribe(model, { n })
  const durable = (run: string, n: number) => Job.execute({ run, n }).pipe(Effect.provide(sqlite))
  const eager = (run: string, n: number) => EagerJob.execute({ run, n }).pipe(Effect.provide(sqlite))
  yield* subscribe(-1)
  yield* durable("warm", -1)
  yield* eager("warm", -1)
  const latency = { subscribe: [] as Array<number>, durable: [] as Array<number>, eager: [] as Array<number> }
  for (let i = 0; i < calls; i++) {
    latency.subscribe.push((yield* timed(subscribe(i))) - modelMs)
    latency.durable.push((yield* timed(durable("latency", i))) - modelMs)
    latency.eager.push((yield* timed(eager("latency", i))) - modelMs)
  }
  const throughput = (label: string, layer: Layer.Layer<WorkflowEngine.WorkflowEngine>) =>
    Effect.map(
      timed(Effect.forEach(
        Array.from({ length: jobs }, (_, n) => n),
        (n) => Job.execute({ run: label, n }).pipe(Effect.provide(layer)),
        { concurrency: inFlight, discard: true }
      )),
      (ms) => ({ label, ms, perSecond: jobs / (ms / 1000) })
    )
  const onSqlite = yield* throughput("SQLite", sqlite)
  // The runner's scope (its engine, webhook server and workflows) closes before PostgreSQL stops:
  // a runner outliving its database fails its shutdown's statements.
  const { onPg, shutdown } = yield* Effect.scoped(Effect.gen(function*() {
    const pg = yield* Postgres.start
    const runner = yield* Scope.make()
    const onPg = yield* engineWith(FalJob.layerPg({
      url: Redacted.make(pg.url),
      runnerAddress: { host: "127.0.0.1", port: yield* freePort }
    })).pipe(
      Effect.flatMap((engine) => throughput("PostgreSQL", engine)),
      Scope.extend(runner),
      Effect.onError((cause) => Scope.close(runner, Exit.failCause(cause)))
    )
    return { onPg, shutdown: yield* Effect.exit(Scope.close(runner, Exit.void)) }
  }))
  const overSubscribe = median(latency.eager) / median(latency.subscribe)
  const gates = printGates([{
    name: "durable step overhead on SQLite (caller checking every 25 ms) vs Queue.subscribe",
    measured: `${median(latency.eager).toFixed(1)} ms vs ${median(latency.subscribe).toFixed(1)} ms (${
      times(overSubscribe)
    })`,
    bound: "<= 2x",
    pass: overSubscribe <= 2
  }])
  const markdown = `## Durable step overhead (@effect-fal/workflow)

${stamp("npx tsx --import ./scripts/bench/built-register.mjs scripts/bench/durable.ts")}
- Model run time ${modelMs} ms; ${calls} sequential jobs per variant after a warm-up; overhead = median wall time minus the model's run time. Throughput: ${jobs} workflows, ${inFlight} in flight at a time.

| variant | overhead per job (median) |
|---|---|
| \`Queue.subscribe\` | ${median(latency.subscribe).toFixed(1)} ms |
| \`FalJob.run\` on SQLite (webhook), caller with the default \`suspendedRetrySchedule\` | ${
    median(latency.durable).toFixed(1)
  } ms |
| \`FalJob.run\` on SQLite (webhook), caller checking every 25 ms | ${median(latency.eager).toFixed(1)} ms |

| engine | ${jobs} jobs | jobs/s |
|---|---|---|
${[onSqlite, onPg].map((r) => `| ${r.label} | ${(r.ms / 1000).toFixed(1)} s | ${r.perSecond.toFixed(1)} |`).join("\n")}
${
    Exit.isFailure(shutdown)
      ? `\nThe PostgreSQL runner's shutdown failed after the figures were taken: ${
        Cause.pretty(shutdown.cause).split("\n")[0]
      }\n`
      : ""
  }`
  return { markdown, gates }
})

/** The section and its gate. */
export const durableSection = (): Promise<{ readonly markdown: string; readonly gates: ReadonlyArray<Gate> }> =>
  Effect.runPromise(
    program.pipe(
      Effect.provide(FalEmulator.layerClient({ config: { models: [sleepModel], demoModels: false } })),
      Effect.provide(NodeHttpClient.layerUndici),
      Effect.scoped
    )
  )

if (isMain(import.meta.filename)) {
  runAlone(durableSection)
}
