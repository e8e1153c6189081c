/**
 * Purge benchmark: `Payloads.purge` of 10,000 requests over loopback HTTP (undici) against the
 * history-and-delete harness of the api tests, at concurrency 4 and 16. Reports requests per
 * second and memory: the heap is sampled at every page listed, so a heap that grows with the
 * history would show as a rising first-to-last difference (listing is a lazy stream; the
 * checkpoint keeps only the current page's done ids).
 *
 * Run: `node --expose-gc --import tsx scripts/bench/purge.ts` (`BENCH_PURGE_REQUESTS`, default
 * 10000; without `--expose-gc` the heap samples include uncollected garbage). The harness
 * serves from the same process, so its records (about 10,000 small objects) are in the heap
 * throughout; the comparison between the first and the last page is what matters.
 */
import { Payloads, Purge } from "@effect-fal/api"
import { Effect, Layer, Stream } from "effect"
import * as History from "../../packages/api/test/utils/history.js"

const requests = Number(process.env.BENCH_PURGE_REQUESTS ?? "10000")
const mib = (bytes: number) => bytes / 1024 / 1024

interface Figures {
  readonly concurrency: number
  readonly seconds: number
  readonly perSecond: number
  readonly heapFirstMiB: number
  readonly heapLastMiB: number
  readonly heapMaxMiB: number
  readonly rssMaxMiB: number
  readonly deleted: number
}

const measure = (concurrency: number) =>
  Effect.gen(function*() {
    // records spread over 7 days, all before the cut-off
    const harness = History.make(History.fixture(requests, { salt: concurrency }))
    const heaps: Array<number> = []
    let rssMax = 0
    const checkpoint = yield* Purge.memory
    const started = performance.now()
    const summary = yield* Payloads.purge({
      endpoints: [History.endpoint],
      before: History.base + 30 * 24 * 3_600_000,
      after: History.base - 1,
      concurrency,
      checkpoint
    }).pipe(
      Stream.tap((event) =>
        Effect.sync(() => {
          if (event._tag !== "Listed") return
          // with --expose-gc the sample is live memory, not garbage awaiting collection
          const gc: unknown = Reflect.get(globalThis, "gc")
          if (typeof gc === "function") gc()
          const usage = process.memoryUsage()
          heaps.push(usage.heapUsed)
          rssMax = Math.max(rssMax, usage.rss)
        })
      ),
      Stream.runLast,
      Effect.provide(Layer.orDie(History.layerLoopback(harness)))
    )
    const seconds = (performance.now() - started) / 1000
    const deleted = summary._tag === "Some" && summary.value._tag === "Summary" ? summary.value.summary.deleted : 0
    const figures: Figures = {
      concurrency,
      seconds,
      perSecond: deleted / seconds,
      heapFirstMiB: mib(heaps[0] ?? 0),
      heapLastMiB: mib(heaps[heaps.length - 1] ?? 0),
      heapMaxMiB: mib(Math.max(...heaps)),
      rssMaxMiB: mib(rssMax),
      deleted
    }
    return figures
  }).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  const rows: Array<Figures> = []
  for (const concurrency of [4, 16]) rows.push(yield* measure(concurrency))
  const gc = typeof Reflect.get(globalThis, "gc") === "function" ? ", heap sampled after a full GC" : ""
  console.log(`purge of ${requests} requests over loopback HTTP (undici), node ${process.version}${gc}`)
  console.log(
    "| concurrency | deleted | seconds | requests/s | heap at 1st page (MiB) | heap at last page | heap max | rss max |"
  )
  console.log("|---|---|---|---|---|---|---|---|")
  for (const r of rows) {
    console.log(
      `| ${r.concurrency} | ${r.deleted} | ${r.seconds.toFixed(1)} | ${r.perSecond.toFixed(0)} | ${
        r.heapFirstMiB.toFixed(1)
      } | ${r.heapLastMiB.toFixed(1)} | ${r.heapMaxMiB.toFixed(1)} | ${r.rssMaxMiB.toFixed(1)} |`
    )
  }
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
