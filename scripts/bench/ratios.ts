/**
 * The request path's regression check: `Fal.run` at 64 in flight against `@fal-ai/client` and
 * against a bare Effect `HttpClient` call with the same per-attempt time limit (`Effect.timeoutFail`
 * with the run's `headers` limit, then the JSON body read), all in this one process against the
 * static server (scripts/bench/static-server.ts, its own process). The same bare call without the
 * limit is an informative row. Rounds are interleaved (every variant once per round, in turn) and
 * each figure is the median over the rounds, so a burst of load on a shared machine hits every
 * variant alike.
 *
 * Standalone: `tsx scripts/bench/ratios.ts` prints the section and the gates; `pnpm bench`
 * includes it. `BENCH_ROUNDS` (default 5) and `BENCH_RATIO_REQUESTS` (default 2000) tune it. Run under
 * `node --expose-gc --import tsx` to start every measurement with a collected heap: otherwise a
 * variant pays for part of the garbage its predecessor in the round left behind.
 */
import { Fal, FalClient } from "@effect-fal/api"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { createFalClient } from "@fal-ai/client"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Supervisor from "effect/Supervisor"
import { Session } from "node:inspector/promises"
import * as path from "node:path"
import { type Gate, gateLine, isMain, median, printGates, runAlone, stamp, startChild, times } from "./report.js"

const root = path.join(import.meta.dirname, "..", "..")
const rounds = Number(process.env.BENCH_ROUNDS ?? "5")
const requests = Number(process.env.BENCH_RATIO_REQUESTS ?? "2000")
const key = "bench-key-id:bench-key-secret"
const input = { prompt: "a lighthouse at dusk, oil on canvas", seed: 42 }

const startServer = () =>
  startChild(path.join(root, "scripts/bench/static-server.ts")).then(({ child, line }) => ({
    child,
    run: (JSON.parse(line) as { readonly run: string }).run
  }))

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

/** The variants, each a `runPromise` per call from 64 Promise callers (the official client's shape). */
const names = {
  fal: "Fal.run",
  bounded: "bare HttpClient + Effect.timeoutFail",
  bare: "bare HttpClient, no limit",
  official: "@fal-ai/client"
} as const

export const ratiosSection = async (): Promise<{ readonly markdown: string; readonly gates: ReadonlyArray<Gate> }> => {
  const started = stamp("npx tsx --import ./scripts/bench/built-register.mjs scripts/bench/ratios.ts")
  const server = await startServer()
  try {
    const runtime = ManagedRuntime.make(
      FalClient.layer({ key: Redacted.make(key), urls: { run: server.run } }).pipe(
        Layer.orDie,
        Layer.provideMerge(NodeHttpClient.layerUndici)
      )
    )
    const client = await runtime.runPromise(HttpClient.HttpClient)
    const request = HttpClientRequest.post(`${server.run}/fal-ai/echo`).pipe(
      HttpClientRequest.setHeader("authorization", `Key ${key}`),
      HttpClientRequest.bodyUnsafeJson(input)
    )
    // the same work a caller of fal would do by hand: POST JSON with the key, read the JSON back
    const bare = client.execute(request).pipe(Effect.flatMap((response) => response.json))
    // the same call with Fal.run's per-attempt limit: no answer within the run's headers limit fails it
    const headersLimit = FalClient.defaultTimeouts.run.headers
    const bounded = client.execute(request).pipe(
      Effect.timeoutFail({ duration: headersLimit, onTimeout: () => "headers timeout" as const }),
      Effect.flatMap((response) => response.json)
    )
    const falRun = Fal.run("fal-ai/echo", input)
    const official = createFalClient({
      credentials: key,
      requestMiddleware: async (request) => ({ ...request, url: request.url.replace("https://fal.run", server.run) })
    })
    const effects: Record<
      "fal" | "bounded" | "bare",
      Effect.Effect<unknown, unknown, FalClient.FalClient | HttpClient.HttpClient>
    > = { fal: falRun, bounded, bare }
    const variants: ReadonlyArray<readonly [keyof typeof names, () => Promise<number>]> = [
      ...Object.entries(effects).map(([name, effect]) =>
        [
          name as keyof typeof effects,
          () => promisePool(requests, 64, () => runtime.runPromise(effect))
        ] as const
      ),
      ["official", () => promisePool(requests, 64, () => official.run("fal-ai/echo", { input }))]
    ]
    // warm-up: JIT and connection pools, every variant
    for (const [, measure] of variants) await measure()
    const samples = new Map<keyof typeof names, Array<number>>(variants.map(([name]) => [name, []]))
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
      fal: await counts(runtime, falRun, 2000),
      bounded: await counts(runtime, bounded, 2000),
      bare: await counts(runtime, bare, 2000)
    }
    await runtime.dispose()
    const med = new Map([...samples].map(([name, values]) => [name, median(values)]))
    const rate = (name: keyof typeof names) => `${med.get(name)!.toFixed(0)} req/s`
    const ratio = (a: keyof typeof names, b: keyof typeof names) => med.get(a)! / med.get(b)!
    const gates = printGates([
      {
        name: "Fal.run / @fal-ai/client, 64 in flight",
        measured: `${times(ratio("fal", "official"))} (${rate("fal")} vs ${rate("official")})`,
        bound: ">= 1.50x",
        pass: ratio("fal", "official") >= 1.5
      },
      {
        name: "Fal.run / bare HttpClient + Effect.timeoutFail, 64 in flight",
        measured: `${times(ratio("fal", "bounded"))} (${rate("fal")} vs ${rate("bounded")})`,
        bound: ">= 0.90x",
        pass: ratio("fal", "bounded") >= 0.9
      }
    ])
    console.log(`INFO Fal.run / bare HttpClient, no limit: ${times(ratio("fal", "bare"))}`)
    const markdown = `## Request path: Fal.run against @fal-ai/client and a bare Effect call

${started}

Method: one process makes every call; the static server (\`scripts/bench/static-server.ts\`: a
\`node:http\` server answering at once with a fixed JSON body and fal's response headers) runs in
another. Each variant makes ${requests.toLocaleString("en-US")} calls with 64 in flight, one \`runPromise\` (or
one Promise) per call from 64 Promise callers; after one warm-up pass of every variant, ${rounds} rounds
interleave the variants (each once per round, in turn${
      collect === undefined ? "" : ", after a forced GC"
    }), and each figure is the
median over the rounds. "${names.bounded}" is an Effect \`HttpClient\` POST with the key and a
JSON body over the same undici transport in the same runtime, bounded by
\`Effect.timeoutFail\` with the run's headers limit (${Duration.format(headersLimit)}), reading the JSON body:
the per-attempt limit \`Fal.run\` has, and the fair baseline. "${names.bare}" is the same call
without the limit. \`@fal-ai/client\` is fal's official client with its default fetch transport
and a \`requestMiddleware\` pointing it at the server.

| variant | median requests/s | samples |
|---|---:|---|
${
      [...samples].map(([name, values]) =>
        `| ${names[name]} | ${med.get(name)!.toFixed(0)} | ${values.map((v) => v.toFixed(0)).join(", ")} |`
      ).join("\n")
    }

Gates: ${gates.map(gateLine).join("; ")}. Informative: Fal.run / ${names.bare},
${times(ratio("fal", "bare"))}.

What a call costs, counted rather than timed (2,000 sequential calls each, same runtime): the fiber
steps (every effect evaluated, by a \`Supervisor\` with op supervision, the fibers a call starts
included) and the bytes allocated (V8's sampling heap profiler, collected objects included).
These do not scatter with the machine's load.

| per call | fiber steps | fibers started | allocated (KiB) |
|---|---:|---:|---:|
${
      Object.entries(perCall).map(([name, c]) =>
        `| ${names[name as keyof typeof perCall]} | ${c.steps.toFixed(0)} | ${c.fibers.toFixed(0)} | ${
          (c.bytes / 1024).toFixed(1)
        } |`
      ).join("\n")
    }
`
    return { markdown, gates }
  } finally {
    server.child.kill("SIGINT")
  }
}

if (isMain(import.meta.filename)) {
  runAlone(ratiosSection)
}
