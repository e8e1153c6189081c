/**
 * Subscribe overhead: the time `Queue.subscribe` takes beyond the model's own run time, gated
 * against a bare Effect program making the same three requests.
 *
 * `tsx scripts/bench/subscribe.ts` prints the markdown section. The loopback emulator runs in a
 * child process (`subscribe.ts server`) with a model `bench/sleep` that sleeps `BENCH_SUBSCRIBE_MS`
 * (default 300) and answers; each client runs in a child process of its own (`subscribe.ts client
 * <variant> <urls>`), making sequential calls (1 warm-up, then `BENCH_SUBSCRIBE_CALLS`, default 7),
 * and prints each call's wall time. Rounds are interleaved (`BENCH_SUBSCRIBE_ROUNDS`, default 3:
 * every variant once per round, in turn); the figure is the median over all calls of a variant,
 * minus the model's run time.
 *
 * Variants: effect-fal `Queue.subscribe` with the status stream and with polling (500 ms),
 * `@fal-ai/client` `subscribe` in streaming mode and with its default polling (500 ms), the same
 * streamed call made with the platform's `HttpClient` alone (no effect-fal: the gate's baseline,
 * what an Effect program on this transport takes), and a breakdown of effect-fal's
 * steps (`Queue.submit`, `Queue.statusStream` until COMPLETED, `Queue.result`, each timed) to show
 * where the time goes.
 */
import { FalClient, Queue } from "@effect-fal/api"
import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { createFalClient } from "@fal-ai/client"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import {
  exitWhen,
  type Gate,
  gateLine,
  isMain,
  jsonLines,
  median,
  printGates,
  runAlone,
  stamp,
  startChild,
  times
} from "./report.js"

const root = path.join(import.meta.dirname, "..", "..")
const self = path.join(root, "scripts/bench/subscribe.ts")
const modelMs = Number(process.env.BENCH_SUBSCRIBE_MS ?? "300")
const calls = Number(process.env.BENCH_SUBSCRIBE_CALLS ?? "7")
const rounds = Number(process.env.BENCH_SUBSCRIBE_ROUNDS ?? "3")
const key = FalPlatform.defaultKeys.user
const model = "bench/sleep"
const input = { prompt: "a lighthouse" }

type Variant =
  | "effect-fal stream"
  | "effect-fal poll"
  | "@fal-ai/client streaming"
  | "@fal-ai/client polling"
  | "bare Effect HttpClient stream"
const variants: ReadonlyArray<Variant> = [
  "effect-fal stream",
  "effect-fal poll",
  "@fal-ai/client streaming",
  "@fal-ai/client polling",
  "bare Effect HttpClient stream"
]

/** The two fields of fal's submit answer the bare call follows. */
const Submitted = Schema.Struct({ status_url: Schema.String, response_url: Schema.String })

/**
 * One streamed subscribe with the platform's `HttpClient` alone, without effect-fal: submit, read
 * the status stream's lines until COMPLETED, read the result. No time limits, retries or spans:
 * what an Effect program on this transport takes, the gate's baseline.
 */
const bareSubscribe = (urls: FalPlatform.Urls) =>
  Effect.gen(function*() {
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest(HttpClientRequest.setHeader("authorization", `Key ${key}`))
    )
    const submitted = yield* Effect.flatMap(
      client.execute(HttpClientRequest.bodyUnsafeJson(HttpClientRequest.post(`${urls.queue}/${model}`), input)),
      HttpClientResponse.schemaBodyJson(Submitted)
    )
    const stream = yield* client.execute(
      HttpClientRequest.get(`${submitted.status_url}/stream`).pipe(
        HttpClientRequest.setHeader("accept", "text/event-stream")
      )
    )
    yield* stream.stream.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.takeUntil((line) => line.startsWith("data:") && line.includes(`"status":"COMPLETED"`)),
      Stream.runDrain
    )
    return yield* Effect.flatMap(client.execute(HttpClientRequest.get(submitted.response_url)), (r) => r.json)
  }).pipe(Effect.scoped)

/** The emulator's process: one sleeping model, 8 runners. */
const server = () =>
  NodeRuntime.runMain(
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.register(Model.make({
        id: model,
        input: Schema.Struct({ prompt: Schema.String }),
        runners: 8,
        handler: (input) => Effect.as(Effect.sleep(`${modelMs} millis`), { echo: input.prompt })
      }))
      const { urls } = yield* FalEmulator.FalEmulator
      yield* Console.log(JSON.stringify(urls))
      return yield* Effect.never
    }).pipe(Effect.provide(FalEmulator.layer()))
  )

interface Step {
  readonly total: number
  readonly steps?: Readonly<Record<string, number>>
}

/** The steps both clients' breakdowns share: submit, first event, COMPLETED, result returned. */
const timeline = (t0: number, submitted: number, firstEvent: number, completed: number, returned: number) => {
  const steps: Record<string, number> = {
    "submit (POST)": submitted - t0,
    "stream opened to first event": firstEvent - submitted,
    "first event to COMPLETED": completed - firstEvent,
    "COMPLETED to result returned": returned - completed
  }
  return { total: returned - t0, steps }
}

/** One client's process: sequential calls, one JSON line of wall times (ms) per call. */
const client = async (variant: Variant | "effect-fal steps" | "@fal-ai/client steps", urls: FalPlatform.Urls) => {
  let call: () => Promise<Step>
  let dispose = async () => {}
  if (variant.startsWith("@fal-ai/client")) {
    const fal = createFalClient({
      credentials: key,
      requestMiddleware: async (request) => ({
        ...request,
        url: request.url.replace("https://queue.fal.run", urls.queue)
      })
    })
    const streaming = variant === "@fal-ai/client streaming"
    if (variant === "@fal-ai/client steps") {
      call = async () => {
        const t0 = performance.now()
        let t1 = 0
        let firstEvent = 0
        let completed = 0
        await fal.subscribe(model, {
          input,
          mode: "streaming",
          onEnqueue: () => (t1 = performance.now()),
          onQueueUpdate: (status) => {
            if (firstEvent === 0) firstEvent = performance.now()
            if (status.status === "COMPLETED") completed = performance.now()
          }
        })
        return timeline(t0, t1, firstEvent, completed, performance.now())
      }
    } else {
      call = async () => {
        const start = performance.now()
        await (streaming
          ? fal.subscribe(model, { input, mode: "streaming" })
          : fal.subscribe(model, { input }))
        return { total: performance.now() - start }
      }
    }
  } else if (variant === "bare Effect HttpClient stream") {
    const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
    dispose = () => runtime.dispose()
    const subscribe = bareSubscribe(urls)
    call = async () => {
      const start = performance.now()
      await runtime.runPromise(subscribe)
      return { total: performance.now() - start }
    }
  } else {
    const runtime = ManagedRuntime.make(
      FalClient.layer({ key: Redacted.make(key), urls: { queue: urls.queue, run: urls.run } }).pipe(
        Layer.orDie,
        Layer.provide(NodeHttpClient.layerUndici)
      )
    )
    dispose = () => runtime.dispose()
    if (variant === "effect-fal steps") {
      call = () =>
        runtime.runPromise(Effect.gen(function*() {
          const t0 = performance.now()
          const submitted = yield* Queue.submit(model, input)
          const t1 = performance.now()
          let firstEvent = 0
          let completed = 0
          yield* Stream.runForEach(Queue.statusStream(submitted), (status) =>
            Effect.sync(() => {
              if (firstEvent === 0) firstEvent = performance.now()
              if (status.status === "COMPLETED") completed = performance.now()
            }))
          const t2 = performance.now()
          yield* Queue.result(submitted)
          const t3 = performance.now()
          const seen = timeline(t0, t1, firstEvent, completed, t3)
          return {
            total: seen.total,
            steps: {
              ...seen.steps,
              "of which: COMPLETED to stream closed": t2 - completed,
              "of which: result (GET)": t3 - t2
            }
          }
        }))
    } else {
      const mode = variant === "effect-fal poll" ? "poll" : "stream"
      call = () =>
        runtime.runPromise(Effect.gen(function*() {
          const start = performance.now()
          yield* Queue.subscribe(model, input, { mode })
          return { total: performance.now() - start }
        }))
    }
  }
  await call() // warm-up: connection pool, JIT
  for (let i = 0; i < calls; i++) console.log(JSON.stringify(await call()))
  await dispose()
}

const startServer = () => startChild(self, ["server"]).then(({ child, line }) => ({ child, urls: line }))

const runClient = (variant: string, urls: string): ReadonlyArray<Step> =>
  jsonLines<Step>(self, ["client", variant, urls])

/** The gate: effect-fal's overhead at most this multiple of the bare Effect program's. */
const bound = 1.1

export const subscribeSection = async (): Promise<
  { readonly markdown: string; readonly gates: ReadonlyArray<Gate> }
> => {
  const started = stamp("npx tsx --import ./scripts/bench/built-register.mjs scripts/bench/subscribe.ts")
  const { child, urls } = await startServer()
  try {
    const totals = new Map<string, Array<number>>(variants.map((v) => [v, []]))
    const steps: Array<Step> = []
    const officialSteps: Array<Step> = []
    for (let round = 0; round < rounds; round++) {
      for (const variant of variants) totals.get(variant)!.push(...runClient(variant, urls).map((s) => s.total))
      steps.push(...runClient("effect-fal steps", urls))
      officialSteps.push(...runClient("@fal-ai/client steps", urls))
      console.error(`subscribe round ${round + 1}/${rounds}`)
    }
    const overhead = new Map([...totals].map(([name, values]) => [name, median(values) - modelMs]))
    const stream = overhead.get("effect-fal stream")!
    const bare = overhead.get("bare Effect HttpClient stream")!
    const gates = printGates([{
      name: "Subscribe overhead, effect-fal stream / bare Effect HttpClient stream",
      measured: `${times(stream / bare)} (${stream.toFixed(1)} ms vs ${bare.toFixed(1)} ms)`,
      bound: `<= ${bound.toFixed(2)}x`,
      pass: stream <= bound * bare
    }])
    const stepNames = Object.keys(steps[0]?.steps ?? {})
    const step = (list: ReadonlyArray<Step>, name: string) => {
      const values = list.flatMap((s) => (s.steps?.[name] === undefined ? [] : [s.steps[name]]))
      return values.length === 0 ? "" : median(values).toFixed(1)
    }
    const markdown = `## Subscribe overhead (Queue.subscribe beyond the model's run time)

${started}

Method: the loopback emulator in its own process with a model that sleeps ${modelMs} ms (8 runners, so
nothing queues); each client in a process of its own, making sequential calls (1 warm-up, then
${calls}); ${rounds} interleaved rounds (every variant once per round, in turn). The figure is the median wall
time of a call over the ${calls * rounds} calls of a variant, minus ${modelMs} ms. effect-fal on undici;
\`@fal-ai/client\` with its default fetch; both polling variants poll every 500 ms (both clients'
default). \`bare Effect HttpClient stream\` is the gate's baseline: the same three requests (submit,
the status stream's lines read until COMPLETED, the result) made with the platform's
\`HttpClient\` on undici alone, with no time limits, retries or spans.

| variant | median overhead (ms) | median call (ms) | calls |
|---|---:|---:|---:|
${
      [...totals].map(([name, values]) =>
        `| ${name} | ${overhead.get(name)!.toFixed(1)} | ${median(values).toFixed(1)} | ${values.length} |`
      ).join("\n")
    }

Gate: ${gates.map(gateLine).join("; ")}.

Where the time goes: effect-fal's call made step by step with the public API (\`Queue.submit\`,
\`Queue.statusStream\` run to its end, \`Queue.result\`), and \`@fal-ai/client\`'s streaming
\`subscribe\` timed through its \`onEnqueue\` and \`onQueueUpdate\` callbacks; medians over
${steps.length} calls each (the model's ${modelMs} ms fall in "first event to COMPLETED"):

| step | effect-fal (ms) | @fal-ai/client streaming (ms) |
|---|---:|---:|
${stepNames.map((name) => `| ${name} | ${step(steps, name)} | ${step(officialSteps, name)} |`).join("\n")}
| whole call | ${median(steps.map((s) => s.total)).toFixed(1)} | ${
      median(officialSteps.map((s) => s.total)).toFixed(1)
    } |
`
    return { markdown, gates }
  } finally {
    child.removeAllListeners("exit")
    child.kill("SIGINT")
  }
}

const [role, variant, urls] = process.argv.slice(2)
if (role === "server") {
  server()
} else if (role === "client") {
  exitWhen(client(variant as Variant, JSON.parse(urls!) as FalPlatform.Urls))
} else if (isMain(self)) {
  runAlone(subscribeSection)
}
