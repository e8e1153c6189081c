/**
 * The request path's regression check (issue 13): `Fal.run` against a bare Effect `HttpClient`
 * call over the same undici transport, and against `@fal-ai/client`, all in this one process
 * against the static server (scripts/bench/static-server.ts, its own process). Rounds are
 * interleaved (every variant once per round, in turn) and each figure is the median over the
 * rounds, so a burst of load on a shared machine hits every variant alike.
 *
 * Standalone: `tsx scripts/bench/ratios.ts` prints the section and the ratios; `pnpm bench`
 * includes it. `BENCH_ROUNDS` (default 5) and `BENCH_RATIO_REQUESTS` (default 2000) tune it. Run under
 * `node --expose-gc --import tsx` to start every measurement with a collected heap: otherwise a
 * variant pays for part of the garbage its predecessor in the round left behind.
 */
import { Fal, FalClient } from "@effect-fal/api"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { createFalClient } from "@fal-ai/client"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Supervisor from "effect/Supervisor"
import { type ChildProcess, spawn } from "node:child_process"
import { Session } from "node:inspector/promises"
import * as path from "node:path"
import { createInterface } from "node:readline"

const root = path.join(import.meta.dirname, "..", "..")
const tsx = path.join(root, "node_modules", ".bin", "tsx")
const rounds = Number(process.env.BENCH_ROUNDS ?? "5")
const requests = Number(process.env.BENCH_RATIO_REQUESTS ?? "2000")
const sequential = Math.max(100, Math.round(requests / 8))
const key = "bench-key-id:bench-key-secret"
const input = { prompt: "a lighthouse at dusk, oil on canvas", seed: 42 }

const startServer = (): Promise<{ readonly child: ChildProcess; readonly run: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(tsx, [path.join(root, "scripts/bench/static-server.ts")], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.once("error", reject)
    createInterface({ input: child.stdout! }).once("line", (line) => {
      const urls = JSON.parse(line) as { readonly run: string }
      resolve({ child, run: urls.run })
    })
  })

/** `count` calls with `parallel` Promise callers in flight; returns calls per second. */
const promisePool = async (count: number, parallel: number, call: () => Promise<unknown>) => {
  let next = 0
  const worker = async () => {
    while (next < count) {
      next++
      await call()
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: parallel }, worker))
  return count / ((performance.now() - start) / 1000)
}

const collect = (globalThis as { readonly gc?: () => void }).gc

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Counts the steps (effects evaluated) of every fiber it supervises, and the fibers started. */
class StepCounter extends Supervisor.AbstractSupervisor<void> {
  steps = 0
  fibers = 0
  get value() {
    return Effect.void
  }
  override onStart() {
    this.fibers++
  }
  override onEffect() {
    this.steps++
  }
}

/**
 * The two counts of a call that do not scatter with the machine's load: the fiber steps it takes
 * (its own fiber's and those of every fiber it starts) and the bytes it allocates (V8's sampling
 * heap profiler, collected objects included), over `count` sequential calls.
 */
const counts = async (
  runtime: ManagedRuntime.ManagedRuntime<FalClient.FalClient | HttpClient.HttpClient, never>,
  effect: Effect.Effect<unknown, unknown, FalClient.FalClient | HttpClient.HttpClient>,
  count: number
) => {
  const counter = new StepCounter()
  const calls = Effect.forEach(Array.from({ length: count }), () => effect, { discard: true })
  await runtime.runPromise(
    Effect.withRuntimeFlagsPatch(
      Effect.supervised(calls, counter),
      RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision)
    )
  )
  const session = new Session()
  session.connect()
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true
  })
  await runtime.runPromise(calls)
  const { profile } = await session.post("HeapProfiler.stopSampling")
  session.disconnect()
  let bytes = 0
  const walk = (node: { readonly selfSize: number; readonly children: ReadonlyArray<typeof node> }): void => {
    bytes += node.selfSize
    node.children.forEach(walk)
  }
  walk(profile.head)
  return { steps: counter.steps / count, fibers: counter.fibers / count, bytes: bytes / count }
}

interface Target {
  readonly name: string
  readonly numerator: string
  readonly denominator: string
  /** Absent: a diagnostic row (printed, never a failure). */
  readonly min?: number
}

const targets: ReadonlyArray<Target> = [
  {
    name: "Fal.run fibers / bare HttpClient fibers (64)",
    numerator: "fal-fibers-64",
    denominator: "bare-fibers-64",
    min: 0.9
  },
  {
    name: "Fal.run runPromise / bare HttpClient runPromise (64)",
    numerator: "fal-promise-64",
    denominator: "bare-promise-64",
    min: 0.9
  },
  { name: "Fal.run fibers / @fal-ai/client (64)", numerator: "fal-fibers-64", denominator: "official-64", min: 1.5 },
  {
    name: "Fal.run runPromise / @fal-ai/client (64)",
    numerator: "fal-promise-64",
    denominator: "official-64",
    min: 1.5
  },
  { name: "Fal.run runPromise / @fal-ai/client (1)", numerator: "fal-promise-1", denominator: "official-1", min: 1.2 },
  // Diagnostics, no target: what the floors of the targets above are.
  // The cost of a per-call time limit that interrupts the call (Effect's own `Effect.timeout`):
  // `Fal.run` has two per attempt (headers, body), run on one fiber of the attempt's own.
  {
    name: "bare HttpClient on a fiber of its own / bare HttpClient (runPromise, 64)",
    numerator: "bare-forked-promise-64",
    denominator: "bare-promise-64"
  },
  {
    name: "bare HttpClient + Effect.timeout / bare HttpClient (runPromise, 64)",
    numerator: "bare-timeout-promise-64",
    denominator: "bare-promise-64"
  },
  {
    name: "Fal.run / bare HttpClient + Effect.timeout (runPromise, 64)",
    numerator: "fal-promise-64",
    denominator: "bare-timeout-promise-64"
  },
  // the bare call's own latency against the official client's, one call at a time
  { name: "bare HttpClient runPromise / @fal-ai/client (1)", numerator: "bare-promise-1", denominator: "official-1" }
]

export const ratiosSection = async (): Promise<{ readonly markdown: string; readonly ok: boolean }> => {
  const server = await startServer()
  try {
    const runtime = ManagedRuntime.make(
      FalClient.layer({ key: Redacted.make(key), urls: { run: server.run } }).pipe(
        Layer.orDie,
        Layer.provideMerge(NodeHttpClient.layerUndici)
      )
    )
    const client = await runtime.runPromise(HttpClient.HttpClient)
    // the same work a caller of fal would do by hand: POST JSON with the key, read the JSON back
    const bare = client.execute(
      HttpClientRequest.post(`${server.run}/fal-ai/echo`).pipe(
        HttpClientRequest.setHeader("authorization", `Key ${key}`),
        HttpClientRequest.bodyUnsafeJson(input)
      )
    ).pipe(Effect.flatMap((response) => response.json))
    // the same call under a time limit that interrupts it, as an Effect caller would bound it
    const bareTimeout = Effect.timeout(bare, "15 minutes")
    // the least such a limit costs: the call on a fiber of its own, awaited
    const bareForked = Effect.flatMap(Effect.fork(bare), Fiber.join)
    const falRun = Fal.run("fal-ai/echo", input)
    const fibers =
      (effect: Effect.Effect<unknown, unknown, FalClient.FalClient | HttpClient.HttpClient>, count: number) =>
      async () => {
        const start = performance.now()
        await runtime.runPromise(Effect.forEach(Array.from({ length: count }), () => effect, {
          concurrency: 64,
          discard: true
        }))
        return count / ((performance.now() - start) / 1000)
      }
    const official = createFalClient({
      credentials: key,
      requestMiddleware: async (request) => ({ ...request, url: request.url.replace("https://fal.run", server.run) })
    })
    const variants: ReadonlyArray<readonly [string, () => Promise<number>]> = [
      ["bare-fibers-64", fibers(bare, requests)],
      ["fal-fibers-64", fibers(falRun, requests)],
      ["bare-promise-64", () => promisePool(requests, 64, () => runtime.runPromise(bare))],
      ["fal-promise-64", () => promisePool(requests, 64, () => runtime.runPromise(falRun))],
      ["bare-timeout-promise-64", () => promisePool(requests, 64, () => runtime.runPromise(bareTimeout))],
      ["bare-forked-promise-64", () => promisePool(requests, 64, () => runtime.runPromise(bareForked))],
      ["official-64", () => promisePool(requests, 64, () => official.run("fal-ai/echo", { input }))],
      ["fal-promise-1", () => promisePool(sequential, 1, () => runtime.runPromise(falRun))],
      ["official-1", () => promisePool(sequential, 1, () => official.run("fal-ai/echo", { input }))],
      ["bare-promise-1", () => promisePool(sequential, 1, () => runtime.runPromise(bare))]
    ]
    // warm-up: JIT and connection pools, every variant
    for (const [, measure] of variants) await measure()
    const samples = new Map<string, Array<number>>(variants.map(([name]) => [name, []]))
    for (let round = 0; round < rounds; round++) {
      for (const [name, measure] of variants) {
        // with `node --expose-gc`: each variant starts with a clean heap instead of collecting
        // the previous variant's garbage (interleaved variants otherwise pay for each other's)
        collect?.()
        samples.get(name)!.push(await measure())
      }
      console.error(`round ${round + 1}/${rounds}`)
    }
    const perCall = {
      bare: await counts(runtime, bare, 2000),
      fal: await counts(runtime, falRun, 2000)
    }
    await runtime.dispose()
    for (const [name, c] of Object.entries(perCall)) {
      console.log(
        `INFO ${name} per call: ${c.steps.toFixed(0)} fiber steps, ${c.fibers.toFixed(0)} fibers started, ` +
          `${(c.bytes / 1024).toFixed(1)} KiB allocated`
      )
    }
    const med = new Map([...samples].map(([name, values]) => [name, median(values)]))
    let ok = true
    const ratioRows = targets.map((t) => {
      const ratio = med.get(t.numerator)! / med.get(t.denominator)!
      if (t.min === undefined) {
        console.log(`INFO ${t.name}: ${ratio.toFixed(2)}x`)
        return `| ${t.name} | ${ratio.toFixed(2)}x | (diagnostic) | |`
      }
      const pass = ratio >= t.min
      if (!pass) ok = false
      const line = `${pass ? "PASS" : "FAIL"} ${t.name}: ${ratio.toFixed(2)}x (target >= ${t.min}x)`
      console.log(line)
      return `| ${t.name} | ${ratio.toFixed(2)}x | >= ${t.min}x | ${pass ? "yes" : "**no**"} |`
    })
    const markdown = `## Request path regression check (one process, interleaved rounds)

\`scripts/bench/ratios.ts\`: one process, the static server in another; ${rounds} interleaved rounds
(each variant once per round, in turn), medians. ${requests} calls per variant at 64 in flight,
${sequential} at 1 in flight. "bare" is an Effect \`HttpClient\` POST with the key and a JSON body,
reading the JSON back, over the same undici transport in the same runtime; "fibers" is one
\`runPromise\` of an \`Effect.forEach\` with concurrency 64; "runPromise" is one \`runPromise\` per
call from 64 Promise callers; "bare-timeout" is the bare call under \`Effect.timeout\` (a limit that
interrupts the call, as \`Fal.run\`'s per-attempt limits do); "bare-forked" is the bare call on a fiber
of its own (\`Effect.fork\` then \`Fiber.join\`), the least such a limit costs. Rows marked "(diagnostic)" have no target:
they show the floors of the targets.

| variant | median requests/s | samples |
|---|---:|---|
${
      [...samples].map(([name, values]) =>
        `| ${name} | ${med.get(name)!.toFixed(0)} | ${values.map((v) => v.toFixed(0)).join(", ")} |`
      ).join("\n")
    }

| ratio | measured | target | met |
|---|---:|---:|---|
${ratioRows.join("\n")}

What a call costs, counted rather than timed (2,000 sequential calls each, same runtime): the fiber
steps (every effect evaluated, by a \`Supervisor\` with op supervision, the fibers a call starts
included) and the bytes allocated (V8's sampling heap profiler, collected objects included).
These do not scatter with the machine's load, so a change that adds work to the request path
shows here even when the timed ratios above move within their noise.

| per call | fiber steps | fibers started | allocated (KiB) |
|---|---:|---:|---:|
${
      Object.entries(perCall).map(([name, c]) =>
        `| ${name === "fal" ? "Fal.run" : "bare HttpClient"} | ${c.steps.toFixed(0)} | ${c.fibers.toFixed(0)} | ${
          (c.bytes / 1024).toFixed(1)
        } |`
      ).join("\n")
    }
`
    return { markdown, ok }
  } finally {
    server.child.kill("SIGINT")
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  ratiosSection().then(({ markdown, ok }) => {
    console.log(markdown)
    if (!ok && process.env.BENCH_STRICT === "1") process.exitCode = 1
  }).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
