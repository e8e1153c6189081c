/**
 * The emulator's own benchmark, in its own process: `tsx scripts/bench/emulator-streams.ts`.
 * Prints the markdown of the "Emulator" section of docs/benchmarks.md.
 *
 * 1. Throughput over history: the loopback emulator (scripts/bench/emulator.ts, 64 runners per
 *    demo model) in a child process; this process sends `BATCHES` consecutive batches of
 *    `BATCH` synchronous `fal-ai/echo` runs with 64 in flight, over one keep-alive pool. Each
 *    batch finds the previous ones in the request log and job records, so a slowdown with
 *    history shows as falling figures from batch to batch. The emulator's own CPU time per
 *    request (user + system, asked of the child before and after each batch) is printed too:
 *    requests/s also depend on the client's share of the cores.
 * 2. Held-open streams: an emulator in this process with a model whose 1,000 runners each hold
 *    their request until a gate opens. 1,000 jobs are submitted, then 1,000 status streams
 *    (SSE) opened, one per job; every stream is open once its first event arrived. Then the gate
 *    opens and every stream must end with its COMPLETED event.
 */
import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { stamp } from "./report.js"

const root = path.join(import.meta.dirname, "..", "..")
const tsx = path.join(root, "node_modules", ".bin", "tsx")
const key = FalPlatform.defaultKeys.user
const batches = Number(process.env.BENCH_EMULATOR_BATCHES ?? "5")
const batch = Number(process.env.BENCH_EMULATOR_BATCH ?? "2000")
const held = Number(process.env.BENCH_EMULATOR_STREAMS ?? "1000")
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

interface Batch {
  readonly perSecond: number
  /** The emulator's CPU time (user + system) per request, µs. */
  readonly cpuPerRequest: number
}

const throughput = async (): Promise<ReadonlyArray<Batch>> => {
  const child = spawn(tsx, [path.join(root, "scripts/bench/emulator.ts")], { stdio: ["pipe", "pipe", "inherit"] })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const nextLine = async () => {
    const line = await lines.next()
    if (line.done === true) throw new Error("the emulator closed its output")
    return line.value
  }
  const urls = await new Promise<FalPlatform.Urls>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the emulator exited with ${code}`)))
    nextLine().then((line) => resolve(JSON.parse(line)), reject)
  })
  const cpu = async () => {
    child.stdin!.write("cpu\n")
    const usage = JSON.parse(await nextLine()) as NodeJS.CpuUsage
    return usage.user + usage.system
  }
  const call = async () => {
    const response = await fetch(`${urls.run}/fal-ai/echo`, {
      method: "POST",
      headers: { authorization: `Key ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "a lighthouse at dusk", seed: 42 })
    })
    if (response.status !== 200) throw new Error(`status ${response.status}`)
    await response.arrayBuffer()
  }
  const runBatch = async (count: number): Promise<Batch> => {
    let next = 0
    const cpuBefore = await cpu()
    const started = performance.now()
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next++ < count) await call()
    }))
    const perSecond = count / ((performance.now() - started) / 1000)
    return { perSecond, cpuPerRequest: ((await cpu()) - cpuBefore) / count }
  }
  try {
    await runBatch(500) // warm-up
    const figures: Array<Batch> = []
    for (let i = 0; i < batches; i++) figures.push(await runBatch(batch))
    return figures
  } finally {
    child.removeAllListeners("exit")
    child.kill("SIGINT")
  }
}

interface Held {
  readonly submitMs: number
  readonly openMs: number
  readonly releaseMs: number
  readonly heapBefore: number
  readonly heapOpen: number
  readonly rssOpen: number
  readonly heapAfter: number
}

/** Runs `task` for every index, at most `limit` at a time (a socket backlog is finite). */
const pool = async <A>(count: number, limit: number, task: (i: number) => Promise<A>): Promise<Array<A>> => {
  const out: Array<A> = new Array(count)
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < count) {
      const i = next++
      out[i] = await task(i)
    }
  }))
  return out
}

const streams = Effect.gen(function*() {
  const gate = yield* Deferred.make<void>()
  const platform = yield* FalPlatform.FalPlatform
  yield* platform.register(Model.make({
    id: "bench/hold",
    input: Schema.Struct({}),
    runners: held,
    handler: () => Effect.as(Deferred.await(gate), { released: true })
  }))
  const { urls } = yield* FalEmulator.FalEmulator
  const heapBefore = process.memoryUsage().heapUsed
  const t0 = performance.now()
  const ids = yield* Effect.promise(() =>
    pool(held, 64, async () => {
      const response = await fetch(`${urls.queue}/bench/hold`, {
        method: "POST",
        headers: { authorization: `Key ${key}`, "content-type": "application/json" },
        body: "{}"
      })
      return ((await response.json()) as { request_id: string }).request_id
    })
  )
  const t1 = performance.now()
  // each stream: resolves `opened` at its first event, `finished` when it ends after COMPLETED
  const opened: Array<Promise<void>> = []
  const finished: Array<Promise<void>> = []
  const openStream = (id: string): Promise<void> => {
    let open!: () => void
    opened.push(new Promise<void>((resolve) => (open = resolve)))
    const done = (async () => {
      const response = await fetch(`${urls.queue}/bench/hold/requests/${id}/status/stream`, {
        headers: { authorization: `Key ${key}` }
      })
      const decoder = new TextDecoder()
      let text = ""
      const reader = response.body!.getReader()
      while (true) {
        const { done, value } = await reader.read()
        if (done) break
        text += decoder.decode(value, { stream: true })
        if (text.includes("data: ")) open()
      }
      if (!text.includes("\"COMPLETED\"")) throw new Error(`stream of ${id} ended without COMPLETED`)
    })()
    finished.push(done)
    return opened[opened.length - 1]
  }
  // opened 64 at a time; every stream stays open until the release
  yield* Effect.promise(() => pool(held, 64, (i) => openStream(ids[i])))
  const t2 = performance.now()
  const open = process.memoryUsage()
  yield* Deferred.succeed(gate, undefined)
  yield* Effect.promise(() => Promise.all(finished))
  const t3 = performance.now()
  return {
    submitMs: t1 - t0,
    openMs: t2 - t1,
    releaseMs: t3 - t2,
    heapBefore,
    heapOpen: open.heapUsed,
    rssOpen: open.rss,
    heapAfter: process.memoryUsage().heapUsed
  } satisfies Held
}).pipe(Effect.provide(FalEmulator.layer()))

const main = async () => {
  const started = stamp("npx tsx --import ./scripts/bench/built-register.mjs scripts/bench/emulator-streams.ts")
  const figures = await throughput()
  const h = await Effect.runPromise(streams)
  console.log(`## Emulator (@effect-fal/testing)

${started}

### Throughput over history

Method: the loopback emulator in its own process (64 runners per demo model); ${batches} consecutive batches
of ${batch.toLocaleString("en-US")} synchronous \`fal-ai/echo\` runs over plain \`fetch\`, 64 in flight,
after 500 warm-up runs. Each batch runs with every earlier request in the request log and the job
records, so falling figures would show a cost growing with history. The CPU row is the emulator
process's own CPU time (user + system) per request, without the client's, which shares the
cores.

| batch | ${figures.map((_, i) => i + 1).join(" | ")} |
|---|${figures.map(() => "---:").join("|")}|
| requests/s | ${figures.map((f) => f.perSecond.toFixed(0)).join(" | ")} |
| emulator CPU per request (µs) | ${figures.map((f) => f.cpuPerRequest.toFixed(0)).join(" | ")} |

### ${held.toLocaleString("en-US")} status streams and ${held.toLocaleString("en-US")} jobs held open

Method: one process holds both the emulator and the clients (\`fetch\`). A model with ${held} runners holds
each request until a gate opens; ${held} jobs are submitted, then one SSE status stream per job is
opened, 64 connections being set up at a time (open = its first event received; all stay open). Then the gate opens and every stream must end with its
COMPLETED event. A stream wakes only for its own job, so the release costs one event per stream.

| step | time |
|---|---:|
| submit ${held} jobs | ${h.submitMs.toFixed(0)} ms |
| open ${held} status streams | ${h.openMs.toFixed(0)} ms |
| release: all ${held} jobs complete, all streams end | ${h.releaseMs.toFixed(0)} ms |

Memory of the process: heap ${mib(h.heapBefore)} MiB before, ${mib(h.heapOpen)} MiB with everything open
(RSS ${mib(h.rssOpen)} MiB), ${mib(h.heapAfter)} MiB after the release (before any forced GC).
`)
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
