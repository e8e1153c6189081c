import { Payloads, Purge } from "@effect-fal/api"
import { NodeFileSystem } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Random, Stream, TestClock } from "effect"
import * as History from "./utils/history.js"

const before = History.base + 30 * 24 * 3_600_000

const run = (harness: History.Harness, options: Partial<Purge.PurgeOptions> = {}) =>
  Payloads.purge({ endpoints: [History.endpoint], before, ...options }).pipe(
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.provide(History.layer(harness))
  )

const summaryOf = (events: ReadonlyArray<Purge.PurgeEvent>): Purge.PurgeSummary => {
  const last = events[events.length - 1]
  if (last?._tag !== "Summary") throw new Error("the last event is not the summary")
  return last.summary
}

/** Runs an effect whose waits are on the TestClock, moving the clock until it is done. */
const withClock = <A, E>(effect: Effect.Effect<A, E>, step: "1 second" | "30 seconds" = "1 second") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    while (fiber.unsafePoll() === null) {
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })

const counts = (log: ReadonlyArray<History.DeleteLogEntry>) => {
  const seen = new Map<string, number>()
  for (const entry of log) seen.set(entry.requestId, (seen.get(entry.requestId) ?? 0) + 1)
  return seen
}

describe("Payloads.purge", () => {
  it.effect(
    "a purge of 1,000 requests deletes every payload and output file, and no input file",
    () =>
      Effect.gen(function*() {
        const records = History.fixture(1000)
        const harness = History.make(records)
        const events = yield* run(harness)
        const summary = summaryOf(events)
        assert.strictEqual(summary.listed, 1000)
        assert.strictEqual(summary.deleted, 1000)
        assert.strictEqual(summary.filesRemoved, 2000)
        assert.strictEqual(summary.failures, 0)
        assert.strictEqual(events.filter((e) => e._tag === "Deleted").length, 1000)
        const seen = counts(harness.deleteLog)
        assert.strictEqual(seen.size, 1000)
        assert.isTrue([...seen.values()].every((n) => n === 1))
        assert.isTrue(records.every((r) => r.outputFiles.every((f) => !harness.files.has(f))))
        assert.isTrue(records.every((r) => r.inputFiles.every((f) => harness.files.has(f))))
        assert.isTrue(harness.deleteLog.every((e) => e.idempotencyKey === Purge.idempotencyKey(e.requestId)))
      }),
    { timeout: 120_000 }
  )

  it.effect("only requests that ended before the cut-off, of the status asked, are purged", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(100))
      const events = yield* run(harness, { before: History.base + 50 * 60_000, status: "error" })
      // requests 9, 19, 29, 39, 49 end with 500 before minute 50
      assert.deepStrictEqual(
        harness.deleteLog.map((e) => e.requestId).sort(),
        [9, 19, 29, 39, 49].map((i) => History.idOf(i))
      )
      assert.strictEqual(summaryOf(events).deleted, 5)
    }))

  it.effect("olderThan is measured on the Effect clock", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(10))
      // now = base + 5 min 30 s; older than 3 minutes: requests 0, 1, 2 (ended by minute 2)
      yield* TestClock.setTime(History.base + 5 * 60_000 + 30_000)
      const events = yield* run(harness, { before: undefined, olderThan: "3 minutes" })
      assert.strictEqual(summaryOf(events).deleted, 3)
    }))

  it.effect(
    "an interrupted purge resumed from its checkpoint deletes each request exactly once",
    () =>
      Effect.gen(function*() {
        // 250 requests: pages of 100, 100 and 50, i.e. 101, 101 and 51 events
        for (let round = 0; round < 2; round++) {
          const harness = History.make(History.fixture(250))
          const checkpoint = yield* Purge.memory
          const stopAt = yield* Random.nextIntBetween(1, 250)
          // the stream is interrupted after `stopAt` events, deletions in flight included
          const first = yield* Payloads.purge({ endpoints: [History.endpoint], before, checkpoint, concurrency: 8 })
            .pipe(
              Stream.take(stopAt),
              Stream.runCollect,
              Effect.map(Chunk.toReadonlyArray),
              Effect.provide(History.layer(harness))
            )
          assert.strictEqual(first.length, stopAt)
          // no half-recorded request: every id the checkpoint holds as done was deleted
          const state = yield* checkpoint.load
          const deleted = new Set(harness.deleteLog.map((e) => e.requestId))
          for (const id of state.endpoints.get(History.endpoint)?.done ?? []) assert.isTrue(deleted.has(id))
          const asked = harness.requests.filter((r) => r.includes("by-endpoint")).length
          yield* run(harness, { checkpoint, concurrency: 8 })
          const seen = counts(harness.deleteLog)
          assert.strictEqual(seen.size, 250)
          assert.isTrue([...seen.values()].every((n) => n === 1), `round ${round}, stopped at ${stopAt}`)
          // resumed where it stopped: a page is recorded once its 101 events were all pulled
          const resumedPages = harness.requests.filter((r) => r.includes("by-endpoint")).length - asked
          assert.strictEqual(resumedPages, 3 - Math.floor((stopAt - 1) / 101), `stopped at ${stopAt}`)
        }
      }),
    { timeout: 120_000 }
  )

  it.effect(
    "a file checkpoint survives the process: a second run resumes from the JSON lines",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped()
        const path = `${dir}/purge.jsonl`
        const harness = History.make(History.fixture(300))
        yield* Effect.scoped(Effect.gen(function*() {
          const checkpoint = yield* Purge.file(path)
          yield* Payloads.purge({ endpoints: [History.endpoint], before, checkpoint }).pipe(
            Stream.take(150),
            Stream.runDrain,
            Effect.provide(History.layer(harness))
          )
        }))
        // a crash mid-append leaves a torn last line: it is ignored
        yield* fs.writeFileString(path, "{\"_tag\":\"Do", { flag: "a" })
        const lines = (yield* fs.readFileString(path)).split("\n")
        assert.include(lines[0], "\"_tag\":\"Started\"")
        const second = yield* Effect.scoped(Effect.gen(function*() {
          const checkpoint = yield* Purge.file(path)
          return yield* run(harness, { checkpoint })
        }))
        assert.isTrue(summaryOf(second).skipped + summaryOf(second).deleted <= 300)
        const seen = counts(harness.deleteLog)
        assert.strictEqual(seen.size, 300)
        assert.isTrue([...seen.values()].every((n) => n === 1))
        // a third run finds every endpoint completed and lists nothing
        const asked = harness.requests.length
        const third = yield* Effect.scoped(
          Effect.flatMap(Purge.file(path), (checkpoint) => run(harness, { checkpoint }))
        )
        assert.strictEqual(summaryOf(third).listed, 0)
        assert.strictEqual(harness.requests.length, asked)
      }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer)),
    { timeout: 60_000 }
  )

  it.effect(
    "429s with Retry-After during a purge are waited out, not counted as failures",
    () =>
      Effect.gen(function*() {
        const harness = History.make(History.fixture(200), { throttle: { every: 5, retryAfter: 1 } })
        const events = yield* withClock(run(harness, { concurrency: 4 }))
        const summary = summaryOf(events)
        assert.strictEqual(summary.failures, 0)
        assert.strictEqual(summary.deleted, 200)
        assert.strictEqual(counts(harness.deleteLog).size, 200)
        // there were rate limits to wait out: more requests than pages plus deletions
        assert.isAbove(harness.requests.length, 2 + 200)
      }),
    { timeout: 60_000 }
  )

  it.effect("a deletion that fails is an outcome with its error, counted, and retried by the next run", () =>
    Effect.gen(function*() {
      const failing = new Set([History.idOf(3)])
      const harness = History.make(History.fixture(20), { failing })
      const checkpoint = yield* Purge.memory
      const first = yield* run(harness, { checkpoint })
      const failed = first.filter((e) => e._tag === "Failed")
      assert.strictEqual(failed.length, 1)
      assert.strictEqual(failed[0]._tag === "Failed" ? failed[0].error._tag : "", "ServerError")
      assert.strictEqual(summaryOf(first).failures, 1)
      failing.clear()
      const second = yield* run(harness, { checkpoint })
      assert.strictEqual(summaryOf(second).deleted, 1)
      assert.strictEqual(summaryOf(second).skipped, 19)
      assert.strictEqual(counts(harness.deleteLog).size, 20)
    }))

  it.effect("already deleted payloads are reported as already gone", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(10), { purged: new Set([History.idOf(2), History.idOf(4)]) })
      const events = yield* run(harness)
      assert.strictEqual(summaryOf(events).alreadyGone, 2)
      assert.strictEqual(summaryOf(events).deleted, 8)
      assert.deepStrictEqual(
        events.filter((e) => e._tag === "AlreadyGone").map((e) => e._tag === "AlreadyGone" ? e.requestId : "").sort(),
        [History.idOf(2), History.idOf(4)]
      )
      // a second run sends the same idempotency keys: the cached answers replay, nothing is deleted twice
      yield* run(harness)
      assert.strictEqual(harness.deleteLog.length, 8)
    }))

  it.effect("--dry-run lists and deletes nothing", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(120))
      const checkpoint = yield* Purge.memory
      const events = yield* run(harness, { dryRun: true, checkpoint })
      assert.strictEqual(summaryOf(events).wouldDelete, 120)
      assert.strictEqual(summaryOf(events).deleted, 0)
      assert.deepStrictEqual(harness.deleteLog, [])
      assert.isFalse(harness.requests.some((r) => r.startsWith("DELETE")))
      assert.strictEqual((yield* checkpoint.load).started, undefined)
    }))

  it.effect("bad options are a clear error before anything is sent", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(5))
      const fail = (options: Partial<Purge.PurgeOptions>) => Effect.flip(run(harness, options))
      const negative = yield* fail({ before: undefined, olderThan: "-7 days" })
      assert.match(negative.message, /olderThan: must be a positive/)
      const both = yield* fail({ olderThan: "7 days" })
      assert.match(both.message, /exactly one of before and olderThan/)
      const neither = yield* fail({ before: undefined })
      assert.match(neither.message, /exactly one of before and olderThan/)
      const concurrency = yield* fail({ concurrency: 0 })
      assert.match(concurrency.message, /concurrency: must be an integer/)
      const status = yield* fail({ status: "nope" as Purge.PurgeOptions["status"] })
      assert.match(status.message, /status: "nope" is not one of/)
      const none = yield* fail({ endpoints: [] })
      assert.match(none.message, /at least one endpoint/)
      const model = yield* fail({ endpoints: ["../etc"] })
      assert.strictEqual(model._tag, "InvalidModelId")
      const date = yield* fail({ before: "someday" })
      assert.match(date.message, /before: not a valid date-time/)
      assert.deepStrictEqual(harness.requests, [])
    }))
})
