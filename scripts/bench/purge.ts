/**
 * Purge benchmark: `Payloads.purge` of 10,000 requests on the loopback emulator, at concurrency
 * 4 and 16. The emulator runs in a child process (`scripts/bench/emulator.ts`, a fresh one per
 * concurrency), so this process holds only the purging client: its heap, sampled after a full GC
 * at every page listed (100 requests), must stay flat as the purge walks the history (listing is
 * a lazy stream; the checkpoint keeps only the current page's done ids). The requests are real
 * runs of `fal-ai/echo`, made before the clock starts.
 *
 * Run: `node --expose-gc --import tsx scripts/bench/purge.ts` (`BENCH_PURGE_REQUESTS`, default
 * 10000). Prints a markdown section on stdout (`pnpm bench` includes it in docs/benchmarks.md).
 */
import { Fal, FalClient, Payloads, Purge } from "@effect-fal/api"
import { FalPlatform } from "@effect-fal/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted, Stream } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { stamp } from "./report.js"

const requests = Number(process.env.BENCH_PURGE_REQUESTS ?? "10000")
const root = path.join(import.meta.dirname, "..", "..")
const tsx = path.join(root, "node_modules", ".bin", "tsx")
const mib = (bytes: number) => bytes / 1024 / 1024

interface Figures {
  readonly concurrency: number
  readonly seconds: number
  readonly perSecond: number
  readonly heaps: ReadonlyArray<number>
  readonly rssMaxMiB: number
  readonly deleted: number
}

const startEmulator = Effect.acquireRelease(
  Effect.async<{ readonly child: ChildProcess; readonly urls: FalPlatform.Urls }, Error>((resume) => {
    const child = spawn(tsx, [path.join(root, "scripts/bench/emulator.ts")], { stdio: ["ignore", "pipe", "inherit"] })
    child.once("error", (error) => resume(Effect.fail(error)))
    createInterface({ input: child.stdout! }).once(
      "line",
      (line) => resume(Effect.succeed({ child, urls: JSON.parse(line) as FalPlatform.Urls }))
    )
  }),
  ({ child }) => Effect.sync(() => child.kill("SIGINT"))
)

const gcNow = () => {
  const gc: unknown = Reflect.get(globalThis, "gc")
  if (typeof gc === "function") gc()
}

const measure = (concurrency: number) =>
  Effect.gen(function*() {
    const { urls } = yield* startEmulator
    const client = FalClient.layer({
      key: Redacted.make(FalPlatform.defaultKeys.user),
      adminKey: Redacted.make(FalPlatform.defaultKeys.admin),
      urls: { run: urls.run, queue: urls.queue, api: urls.api, rest: urls.rest }
    }).pipe(Layer.orDie, Layer.provide(NodeHttpClient.layerUndici))
    return yield* Effect.gen(function*() {
      // the history: real requests, made before the measurement
      // (a run reset under heavy load is skipped: the purge deletes what the history holds)
      yield* Effect.forEach(
        Array.from({ length: requests }, (_, i) => i),
        (i) => Effect.either(Fal.run("fal-ai/echo", { i })),
        { concurrency: 16, discard: true }
      )
      gcNow()
      const heaps: Array<number> = []
      let rssMax = 0
      const checkpoint = yield* Purge.memory
      const started = performance.now()
      const summary = yield* Payloads.purge({
        endpoints: ["fal-ai/echo"],
        before: Date.now() + 60_000,
        concurrency,
        checkpoint
      }).pipe(
        Stream.tap((event) =>
          Effect.sync(() => {
            if (event._tag !== "Listed") return
            gcNow()
            const usage = process.memoryUsage()
            heaps.push(usage.heapUsed)
            rssMax = Math.max(rssMax, usage.rss)
          })
        ),
        Stream.runLast
      )
      const seconds = (performance.now() - started) / 1000
      const deleted = summary._tag === "Some" && summary.value._tag === "Summary" ? summary.value.summary.deleted : 0
      return {
        concurrency,
        seconds,
        perSecond: deleted / seconds,
        heaps,
        rssMaxMiB: mib(rssMax),
        deleted
      } satisfies Figures
    }).pipe(Effect.provide(client))
  }).pipe(Effect.scoped)

const at = (heaps: ReadonlyArray<number>, fraction: number) =>
  mib(heaps[Math.min(heaps.length - 1, Math.floor((heaps.length - 1) * fraction))] ?? 0)

export const purgeSection = Effect.gen(function*() {
  const started = stamp(
    "node --expose-gc --import tsx --import ./scripts/bench/built-register.mjs scripts/bench/purge.ts"
  )
  const rows: Array<Figures> = []
  for (const concurrency of [4, 16]) rows.push(yield* measure(concurrency))
  const gc = typeof Reflect.get(globalThis, "gc") === "function"
    ? "heap sampled after a full GC"
    : "heap sampled WITHOUT --expose-gc (includes garbage)"
  return [
    "## Purge (Payloads.purge on the loopback emulator)",
    "",
    started,
    "",
    `Method: ${requests.toLocaleString("en-US")} real`,
    "`fal-ai/echo` runs on the emulator (its own process), then one purge of all of them (pages of 100,",
    `a memory checkpoint), ${gc} at every page listed, in the purging process only. The heap at`,
    "the first, middle and last page shows whether memory grows with the history: it must not.",
    "",
    "| concurrency | deleted | seconds | requests/s | heap at 1st page (MiB) | at middle | at last page | heap max | rss max |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.concurrency} | ${r.deleted} | ${r.seconds.toFixed(1)} | ${r.perSecond.toFixed(0)} | ${
        at(r.heaps, 0).toFixed(1)
      } | ${at(r.heaps, 0.5).toFixed(1)} | ${at(r.heaps, 1).toFixed(1)} | ${mib(Math.max(...r.heaps)).toFixed(1)} | ${
        r.rssMaxMiB.toFixed(0)
      } |`
    ),
    ""
  ].join("\n")
})

if (process.argv[1] === import.meta.filename) {
  Effect.runPromise(purgeSection).then(
    (markdown) => console.log(markdown),
    (error) => {
      console.error(error)
      process.exitCode = 1
    }
  )
}
