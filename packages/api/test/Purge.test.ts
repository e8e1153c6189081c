import { Payloads, Purge } from "@effect-fal/api"
import { NodeFileSystem } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream, TestClock } from "effect"
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

const counts = (log: ReadonlyArray<History.DeleteLogEntry>) => {
  const seen = new Map<string, number>()
  for (const entry of log) seen.set(entry.requestId, (seen.get(entry.requestId) ?? 0) + 1)
  return seen
}

// The 1,000-request purge, the interrupted-and-resumed purge and the 429s during a purge run on
// the emulator (History.emulator.test.ts); this harness covers what it can fake more cheaply:
// a deletion answering 500, payloads already gone, a file checkpoint across processes.
describe("Payloads.purge", () => {
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
    "a file checkpoint survives the process: a second run resumes from the JSON lines",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped()
        const path = `${dir}/purge.jsonl`
        const harness = History.make(History.fixture(150))
        yield* Effect.scoped(Effect.gen(function*() {
          const checkpoint = yield* Purge.file(path)
          yield* Payloads.purge({ endpoints: [History.endpoint], before, checkpoint }).pipe(
            Stream.take(75),
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
        assert.isTrue(summaryOf(second).skipped + summaryOf(second).deleted <= 150)
        const seen = counts(harness.deleteLog)
        assert.strictEqual(seen.size, 150)
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
      assert.match(negative.message, /olderThan: must be a non-negative/)
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
