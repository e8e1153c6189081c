/**
 * Streaming endpoints: `Fal.stream` against `@fal-ai/client`'s `fal.stream`, side by side.
 *
 * `tsx scripts/bench/stream.ts` prints the markdown section. The loopback emulator runs in a child
 * process (`stream.ts server`, its demo model `fal-ai/counter`); each client runs in a child process
 * of its own (`stream.ts client <variant> <urls>`) and prints one JSON line per call. Two
 * measurements per call pair:
 * - time to first output: a stream of 3 partial outputs, no delay; the wall time from the call to
 *   the first partial output in the caller's hands (`BENCH_STREAM_FIRST`, default 20 calls);
 * - cost per event: a stream of `BENCH_STREAM_EVENTS` (default 10,000) partial outputs with no
 *   delay, read to its end (`BENCH_STREAM_LONG`, default 3 calls); wall time and the client
 *   process's CPU time (`process.cpuUsage`, user + system), each divided by the number of events.
 * Rounds are interleaved (`BENCH_STREAM_ROUNDS`, default 3: each variant once per round, in turn,
 * each client process first making `BENCH_STREAM_WARMUP` (default 20) calls of each kind unmeasured,
 * so that every client is measured with its code compiled, not interpreted); figures are medians
 * over all calls of a variant.
 *
 * A third variant is the fair baseline for the Effect side: the same POST with `@effect/platform`'s
 * `HttpClient` (same undici transport), its body read through `@effect/experimental`'s `Sse` channel
 * with the same idle limit (`Stream.timeoutFail`, 15 s), each event's data parsed as JSON: what an
 * Effect program pays for a bounded event stream before any effect-fal code runs.
 *
 * Both clients read every event: effect-fal with `Stream.runForEach` over `events` (JSON-decoded,
 * no schema), `@fal-ai/client` with its `data` listener and `done()` (its async iterator waits
 * 16 ms between polls of its buffer, which would measure that timer rather than the client).
 */
import { Fal, FalClient } from "@effect-fal/api"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import * as Sse from "@effect/experimental/Sse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { createFalClient } from "@fal-ai/client"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
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
const self = path.join(root, "scripts/bench/stream.ts")
const firstCalls = Number(process.env.BENCH_STREAM_FIRST ?? "20")
const longCalls = Number(process.env.BENCH_STREAM_LONG ?? "3")
const events = Number(process.env.BENCH_STREAM_EVENTS ?? "10000")
const rounds = Number(process.env.BENCH_STREAM_ROUNDS ?? "3")
const warmup = Number(process.env.BENCH_STREAM_WARMUP ?? "20")
const key = FalPlatform.defaultKeys.user
const model = "fal-ai/counter"

type Variant =
  | "effect-fal Fal.stream"
  | "@fal-ai/client fal.stream"
  | "bare HttpClient + Sse + Stream.timeoutFail"
const variants: ReadonlyArray<Variant> = [
  "effect-fal Fal.stream",
  "@fal-ai/client fal.stream",
  "bare HttpClient + Sse + Stream.timeoutFail"
]

interface Sample {
  readonly kind: "first" | "long"
  /** ms to the first output ("first"), or ms for the whole stream ("long"). */
  readonly wall: number
  /** µs of the client process's CPU for the whole stream ("long"). */
  readonly cpu: number
  readonly events: number
}

const server = () =>
  NodeRuntime.runMain(
    Effect.gen(function*() {
      const { urls } = yield* FalEmulator.FalEmulator
      yield* Console.log(JSON.stringify(urls))
      return yield* Effect.never
    }).pipe(Effect.provide(FalEmulator.layer()))
  )

const cpuNow = () => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

const client = async (variant: Variant, urls: FalPlatform.Urls) => {
  let first: () => Promise<number>
  let long: (count: number) => Promise<number>
  let dispose = async () => {}
  if (variant === "@fal-ai/client fal.stream") {
    const fal = createFalClient({
      credentials: key,
      requestMiddleware: async (request) => ({ ...request, url: request.url.replace("https://fal.run", urls.run) })
    })
    first = async () => {
      const start = performance.now()
      const stream = await fal.stream(model, { input: { count: 3, delay_ms: 0 } })
      const at = await new Promise<number>((resolve) => stream.on("data", () => resolve(performance.now())))
      await stream.done()
      return at - start
    }
    long = async (count) => {
      let seen = 0
      const stream = await fal.stream(model, { input: { count, delay_ms: 0 } })
      stream.on("data", () => void seen++)
      await stream.done()
      return seen
    }
  } else if (variant === "bare HttpClient + Sse + Stream.timeoutFail") {
    const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
    dispose = () => runtime.dispose()
    const partials = (count: number): Stream.Stream<unknown, unknown, HttpClient.HttpClient> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const http = yield* HttpClient.HttpClient
        const response = yield* HttpClientRequest.post(`${urls.run}/${model}/stream`).pipe(
          HttpClientRequest.setHeaders({ authorization: `Key ${key}`, accept: "text/event-stream" }),
          HttpClientRequest.bodyUnsafeJson({ count, delay_ms: 0 }),
          http.execute
        )
        return response.stream.pipe(
          Stream.timeoutFail(() => new Error("idle"), "15 seconds"),
          Stream.decodeText(),
          Stream.pipeThroughChannel(Sse.makeChannel<Error, unknown>()),
          Stream.map((event): unknown => JSON.parse(event.data))
        )
      }))
    first = () =>
      runtime.runPromise(Effect.gen(function*() {
        const start = performance.now()
        let at = 0
        yield* Stream.runForEach(partials(3), () => Effect.sync(() => at === 0 ? (at = performance.now()) : at))
        return at - start
      }))
    long = (count) => {
      let seen = 0
      return runtime.runPromise(
        Stream.runForEach(partials(count), () => Effect.sync(() => void seen++)).pipe(Effect.map(() => seen))
      )
    }
  } else {
    const runtime = ManagedRuntime.make(
      FalClient.layer({ key: Redacted.make(key), urls: { run: urls.run } }).pipe(
        Layer.orDie,
        Layer.provide(NodeHttpClient.layerUndici)
      )
    )
    dispose = () => runtime.dispose()
    first = () =>
      runtime.runPromise(Effect.scoped(Effect.gen(function*() {
        const start = performance.now()
        const call = yield* Fal.stream(model, { count: 3, delay_ms: 0 })
        let at = 0
        yield* Stream.runForEach(call.events, () => Effect.sync(() => at === 0 ? (at = performance.now()) : at))
        return at - start
      })))
    long = (count) => {
      let seen = 0
      return runtime.runPromise(
        Stream.runForEach(Fal.streamEvents(model, { count, delay_ms: 0 }), () => Effect.sync(() => void seen++)).pipe(
          Effect.as(0),
          Effect.map(() => seen)
        )
      )
    }
  }
  // warm-up: the connection pool, and the code compiled rather than interpreted
  for (let i = 0; i < warmup; i++) await first()
  await long(events)
  for (let i = 0; i < firstCalls; i++) {
    console.log(JSON.stringify({ kind: "first", wall: await first(), cpu: 0, events: 1 } satisfies Sample))
  }
  for (let i = 0; i < longCalls; i++) {
    const cpu0 = cpuNow()
    const start = performance.now()
    const seen = await long(events)
    const wall = performance.now() - start
    const cpu = cpuNow() - cpu0
    if (seen !== events) throw new Error(`${variant}: ${seen} events of ${events}`)
    console.log(JSON.stringify({ kind: "long", wall, cpu, events: seen } satisfies Sample))
  }
  await dispose()
}

const startServer = () => startChild(self, ["server"]).then(({ child, line }) => ({ child, urls: line }))

const runClient = (variant: Variant, urls: string): ReadonlyArray<Sample> =>
  jsonLines<Sample>(self, ["client", variant, urls])

export const streamSection = async (): Promise<{ readonly markdown: string; readonly gates: ReadonlyArray<Gate> }> => {
  const started = stamp("npx tsx --import ./scripts/bench/built-register.mjs scripts/bench/stream.ts")
  const { child, urls } = await startServer()
  try {
    const samples = new Map<Variant, Array<Sample>>(variants.map((v) => [v, []]))
    for (let round = 0; round < rounds; round++) {
      for (const variant of variants) samples.get(variant)!.push(...runClient(variant, urls))
      console.error(`stream round ${round + 1}/${rounds}`)
    }
    const figures = new Map(
      [...samples].map(([variant, list]) => {
        const longs = list.filter((s) => s.kind === "long")
        return [variant, {
          first: median(list.filter((s) => s.kind === "first").map((s) => s.wall)),
          wallPerEvent: median(longs.map((s) => (s.wall * 1000) / s.events)),
          cpuPerEvent: median(longs.map((s) => s.cpu / s.events)),
          firstCount: list.filter((s) => s.kind === "first").length,
          longCount: longs.length
        }] as const
      })
    )
    const ours = figures.get("effect-fal Fal.stream")!
    const theirs = figures.get("@fal-ai/client fal.stream")!
    const bare = figures.get("bare HttpClient + Sse + Stream.timeoutFail")!
    const gates = printGates([
      {
        name: "Fal.stream time to first output / @fal-ai/client fal.stream",
        measured: `${times(ours.first / theirs.first)} (${ours.first.toFixed(2)} ms vs ${theirs.first.toFixed(2)} ms)`,
        bound: "<= 1.00x",
        pass: ours.first <= theirs.first
      },
      {
        name: "Fal.stream cost per event (CPU) / @fal-ai/client fal.stream",
        measured: `${times(ours.cpuPerEvent / theirs.cpuPerEvent)} (${ours.cpuPerEvent.toFixed(2)} µs vs ${
          theirs.cpuPerEvent.toFixed(2)
        } µs)`,
        bound: "<= 1.00x",
        pass: ours.cpuPerEvent <= theirs.cpuPerEvent
      }
    ])
    const markdown = `## Streaming endpoints (Fal.stream and @fal-ai/client fal.stream)

${started}

Method: the loopback emulator in its own process streaming its demo model \`${model}\` (Server-Sent
Events, no delay between events); each client in a process of its own (effect-fal on undici,
\`@fal-ai/client\` with its default fetch), ${rounds} interleaved rounds; each client process first
makes ${warmup} calls of each kind unmeasured, so that every client is measured compiled, not
interpreted. "bare HttpClient + Sse + Stream.timeoutFail" is the baseline of the Effect side: the
same POST with \`@effect/platform\`'s \`HttpClient\` on undici, the body read through
\`@effect/experimental\`'s \`Sse\` channel under the same 15 s idle limit, each event's data parsed as
JSON, and no effect-fal code. Time to first output: a stream of 3 events, from the call to the first partial
output in the caller's hands (${ours.firstCount} calls per variant). Cost per event: a stream of
${events} events read to its end (${ours.longCount} calls per variant): wall time and the client
process's CPU time (user + system) divided by the events. Both clients read every event (effect-fal:
\`Stream.runForEach\` over \`events\`; \`@fal-ai/client\`: its \`data\` listener and \`done()\`).
Figures are medians.

| variant | time to first output (ms) | wall per event (µs) | CPU per event (µs) |
|---|---:|---:|---:|
${
      [...figures].map(([name, f]) =>
        `| ${name} | ${f.first.toFixed(2)} | ${f.wallPerEvent.toFixed(2)} | ${f.cpuPerEvent.toFixed(2)} |`
      ).join("\n")
    }

Gates: ${gates.map(gateLine).join("; ")}. Informative: Fal.stream / the bare Effect baseline, time
to first output ${times(ours.first / bare.first)}, CPU per event ${times(ours.cpuPerEvent / bare.cpuPerEvent)};
the bare Effect baseline / @fal-ai/client, time to first output ${times(bare.first / theirs.first)}.
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
  runAlone(streamSection)
}
