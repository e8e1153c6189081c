/**
 * The realtime WebSocket, effect-fal (`Realtime.connect`) and `@fal-ai/client`
 * (`fal.realtime.connect`) side by side in one run, against the project's loopback emulator
 * (`fal-ai/echo`, MessagePack frames, no throttle on either client: `throttle: 0`,
 * `throttleInterval: 0`, so every input is sent).
 *
 * `tsx scripts/bench/realtime.ts` prints the markdown section. The emulator runs in a process of
 * its own, started afresh for each client; each client runs in a process of its own
 * (`node --expose-gc`), so their heaps and CPU do not mix. Per client:
 *
 * 1. round trip: after 200 warm-up messages, one message every 10 ms (100 messages/s) for
 *    `BENCH_REALTIME_SECONDS` (default 30) seconds; the time from `send` to the answer carrying the
 *    same `request_id`, as p50 and p99;
 * 2. memory: `BENCH_REALTIME_MESSAGES` (default 60,000, ten minutes at 100 messages/s) messages
 *    one after the other (each sent when the previous one is answered: faster than real time),
 *    the heap after a forced GC read before the first and after every 10,000.
 */
import { FalClient, Realtime, TokenProvider } from "@effect-fal/api"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { createFalClient } from "@fal-ai/client"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { createInterface } from "node:readline"
import WebSocket from "ws"
import { exitWhen, type Gate, gateLine, isMain, printGates, runAlone, stamp } from "./report.js"

const root = path.join(import.meta.dirname, "..", "..")
const self = path.join(root, "scripts/bench/realtime.ts")
const key = FalPlatform.defaultKeys.user
const app = "fal-ai/echo"
const seconds = Number(process.env.BENCH_REALTIME_SECONDS ?? "30")
const total = Number(process.env.BENCH_REALTIME_MESSAGES ?? "60000")
const sampleEvery = 10_000
const warmup = 200
const intervalMs = 10
const kib = (bytes: number) => (bytes / 1024).toFixed(0)

type ClientName = "effect-fal" | "@fal-ai/client"

interface Result {
  readonly client: ClientName
  /** Round trips in milliseconds, in order. */
  readonly rtts: ReadonlyArray<number>
  /** Heap used after a forced GC: before the first message, then after every 10,000. */
  readonly heap: ReadonlyArray<number>
  readonly memorySeconds: number
}

const gc = (): number => {
  globalThis.gc?.()
  globalThis.gc?.()
  return process.memoryUsage().heapUsed
}

const sleepUntil = (at: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, at - performance.now())))

// -----------------------------------------------------------------------------
// the emulator process: prints its base URLs and serves until killed
// -----------------------------------------------------------------------------

const emulator = () =>
  Effect.runPromise(
    Effect.gen(function*() {
      const { urls } = yield* FalEmulator.FalEmulator
      console.log(JSON.stringify(urls))
      return yield* Effect.never
    }).pipe(Effect.provide(FalEmulator.layer()))
  )

// -----------------------------------------------------------------------------
// the clients
// -----------------------------------------------------------------------------

const effectFal = (urls: FalPlatform.Urls): Promise<Result> => {
  const live = Layer.mergeAll(TokenProvider.layerKey({ expiration: "1 hour" }), NodeSocket.layerWebSocketConstructor)
    .pipe(
      Layer.provideMerge(
        FalClient.layer({ key: Redacted.make(key), urls }).pipe(Layer.provide(NodeHttpClient.layerUndici))
      )
    )
  return Effect.gen(function*() {
    const connection = yield* Realtime.connect(app, { throttle: 0 })
    const answers = yield* Queue.unbounded<string | undefined>()
    const sentAt = new Map<string, number>()
    const rtts: Array<number> = []
    let timing = false
    yield* connection.results.pipe(
      Stream.runForEach((answer) => {
        const id = Either.isRight(answer) ? answer.right.requestId : undefined
        if (timing && id !== undefined) {
          const at = sentAt.get(id)
          if (at !== undefined) {
            rtts.push(performance.now() - at)
            sentAt.delete(id)
          }
        }
        return Queue.offer(answers, id)
      }),
      Effect.forkScoped
    )
    const pingPong = (n: number) =>
      Effect.gen(function*() {
        yield* connection.send({ n }, { requestId: String(n) })
        yield* Queue.take(answers)
      })
    for (let i = 0; i < warmup; i++) yield* pingPong(i)
    // round trip at 100 messages/s
    timing = true
    const count = seconds * (1000 / intervalMs)
    const start = performance.now()
    for (let i = 0; i < count; i++) {
      yield* Effect.promise(() => sleepUntil(start + i * intervalMs))
      const id = `t${i}`
      sentAt.set(id, performance.now())
      yield* connection.send({ n: i }, { requestId: id })
    }
    while (rtts.length < count) yield* Queue.take(answers)
    timing = false
    yield* Queue.takeAll(answers)
    // memory over `total` messages
    const heap = [gc()]
    const memoryStart = performance.now()
    for (let i = 1; i <= total; i++) {
      yield* pingPong(i)
      if (i % sampleEvery === 0) heap.push(gc())
    }
    return { client: "effect-fal" as const, rtts, heap, memorySeconds: (performance.now() - memoryStart) / 1000 }
  }).pipe(Effect.scoped, Effect.provide(live), Effect.runPromise)
}

const official = async (urls: FalPlatform.Urls): Promise<Result> => {
  // fal's client opens `wss://fal.run/...` with the global WebSocket (Node 20 has none)
  const run = urls.run.replace(/^http/, "ws")
  globalThis.WebSocket = class extends WebSocket {
    constructor(url: string | URL, protocols?: string | Array<string>) {
      super(String(url).replace(/^wss:\/\/fal\.run/, run), protocols)
    }
  } as unknown as typeof globalThis.WebSocket
  const fal = createFalClient({ credentials: key })
  let onAnswer: (id: string | undefined) => void = () => {}
  const connection = fal.realtime.connect(app, {
    throttleInterval: 0,
    tokenExpirationSeconds: 3600,
    tokenProvider: async (tokenApp) => {
      const response = await fetch(`${urls.rest}/tokens/`, {
        method: "POST",
        headers: { authorization: `Key ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ allowed_apps: [tokenApp.split("/").slice(0, 2).join("/")], token_expiration: 3600 })
      })
      return (await response.json()) as string
    },
    onResult: (result: { readonly request_id?: string }) => onAnswer(result.request_id),
    onError: (error) => console.error(`@fal-ai/client: ${error.message}`)
  })
  const pingPong = (n: number) =>
    new Promise<void>((resolve) => {
      onAnswer = () => resolve()
      connection.send({ n, request_id: String(n) })
    })
  for (let i = 0; i < warmup; i++) await pingPong(i)
  const sentAt = new Map<string, number>()
  const rtts: Array<number> = []
  const count = seconds * (1000 / intervalMs)
  let allIn: () => void = () => {}
  const done = new Promise<void>((resolve) => (allIn = resolve))
  onAnswer = (id) => {
    const at = id === undefined ? undefined : sentAt.get(id)
    if (at !== undefined) {
      rtts.push(performance.now() - at)
      sentAt.delete(id!)
      if (rtts.length === count) allIn()
    }
  }
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    await sleepUntil(start + i * intervalMs)
    const id = `t${i}`
    sentAt.set(id, performance.now())
    connection.send({ n: i, request_id: id })
  }
  await done
  const heap = [gc()]
  const memoryStart = performance.now()
  for (let i = 1; i <= total; i++) {
    await pingPong(i)
    if (i % sampleEvery === 0) heap.push(gc())
  }
  connection.close()
  return { client: "@fal-ai/client", rtts, heap, memorySeconds: (performance.now() - memoryStart) / 1000 }
}

// -----------------------------------------------------------------------------
// the driver
// -----------------------------------------------------------------------------

const firstLine = (stream: NodeJS.ReadableStream) =>
  new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: stream })
    lines.once("line", (line) => {
      resolve(line)
      lines.close()
    })
    lines.once("close", () => reject(new Error("the process ended without an answer")))
  })

const start = (args: ReadonlyArray<string>, expose: boolean) =>
  spawn(process.execPath, [...(expose ? ["--expose-gc"] : []), "--import", "tsx", self, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    cwd: root
  })

const measure = async (client: ClientName): Promise<Result> => {
  const server = start(["emulator"], false)
  try {
    const urls = await firstLine(server.stdout!)
    const child = start(["client", client, urls], true)
    try {
      return JSON.parse(await firstLine(child.stdout!)) as Result
    } finally {
      child.kill("SIGINT")
    }
  } finally {
    server.kill("SIGINT")
  }
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

const mean = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0) / values.length

/**
 * Round trip percentiles, and the heap's growth against its noise. The first sample (before the
 * first message) is warm-up; of the rest, noise is the spread (max - min) of the first half and
 * growth is the mean of the second half minus the mean of the first half.
 */
const summary = (result: Result) => {
  const sorted = [...result.rtts].sort((a, b) => a - b)
  const samples = result.heap.slice(1)
  const half = Math.floor(samples.length / 2)
  const early = samples.slice(0, Math.max(1, half))
  const late = samples.slice(samples.length - Math.max(1, half))
  const noise = Math.max(...early) - Math.min(...early)
  const growth = mean(late) - mean(early)
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), noise, growth }
}

export const realtimeSection = async (): Promise<
  { readonly markdown: string; readonly gates: ReadonlyArray<Gate> }
> => {
  const started = stamp("npx tsx --import ./scripts/bench/built-register.mjs scripts/bench/realtime.ts")
  const ours = await measure("effect-fal")
  const theirs = await measure("@fal-ai/client")
  const a = summary(ours)
  const b = summary(theirs)
  const ms = (n: number) => n.toFixed(2)
  const gates = printGates([
    {
      name: "Realtime round trip p50 at 100 messages/s, effect-fal vs @fal-ai/client",
      measured: `${ms(a.p50)} ms vs ${ms(b.p50)} ms`,
      bound: "effect-fal <= @fal-ai/client",
      pass: a.p50 <= b.p50
    },
    {
      name: "Realtime round trip p99 at 100 messages/s, effect-fal vs @fal-ai/client",
      measured: `${ms(a.p99)} ms vs ${ms(b.p99)} ms`,
      bound: "effect-fal <= @fal-ai/client",
      pass: a.p99 <= b.p99
    },
    {
      name: `Realtime heap growth over ${total.toLocaleString("en-US")} messages, effect-fal`,
      measured: `${kib(a.growth)} KiB (noise ${kib(a.noise)} KiB)`,
      bound: "growth <= noise (spread of the first half of the samples)",
      pass: a.growth <= a.noise
    }
  ])
  const row = (result: Result, s: ReturnType<typeof summary>) =>
    `| ${result.client} | ${result.rtts.length} | ${ms(s.p50)} | ${ms(s.p99)} | ${
      result.heap.map((h) => kib(h)).join(" / ")
    } | ${kib(s.growth)} | ${kib(s.noise)} | ${result.memorySeconds.toFixed(1)} |`
  const markdown = `## Realtime WebSocket

${started}

Method: the loopback emulator (\`fal-ai/echo\`, MessagePack) in a process of its own, started afresh
for each client; each client in a process of its own (\`node --expose-gc\`). effect-fal:
\`Realtime.connect\` with \`throttle: 0\` (tokens from \`TokenProvider.layerKey\`, the socket from
\`NodeSocket.layerWebSocketConstructor\`, i.e. the \`ws\` package on Node 20); \`@fal-ai/client\`:
\`fal.realtime.connect\` with \`throttleInterval: 0\` and a \`tokenProvider\`, on the \`ws\` package as the
global \`WebSocket\`. Round trip: after ${warmup} warm-up messages, one message every ${intervalMs} ms (100
messages/s) for ${seconds} s, from \`send\` to the answer with the same \`request_id\`. Memory:
${total.toLocaleString("en-US")} messages one after the other (each sent when the previous one is answered,
so faster than real time: ten minutes' worth at 100 messages/s), the heap after a forced GC before
the first message and after every ${sampleEvery.toLocaleString("en-US")}. The sample before the first message is
warm-up; of the others, noise is the spread (max − min) of the first half, growth the mean of the
second half minus the mean of the first half.

| client | messages timed | p50 (ms) | p99 (ms) | heap after GC every ${
    sampleEvery.toLocaleString("en-US")
  } (KiB) | growth (KiB) | noise (KiB) | memory run (s) |
|---|---:|---:|---:|---|---:|---:|---:|
${row(ours, a)}
${row(theirs, b)}

Gates: ${gates.map(gateLine).join("; ")}.
`
  return { markdown, gates }
}

const [role, name, urlsJson] = process.argv.slice(2)
if (role === "emulator") {
  emulator()
} else if (role === "client") {
  const urls = JSON.parse(urlsJson!) as FalPlatform.Urls
  exitWhen((name === "effect-fal" ? effectFal(urls) : official(urls)).then((result) => {
    console.log(JSON.stringify(result))
  }))
} else if (isMain(self)) {
  runAlone(realtimeSection)
}
