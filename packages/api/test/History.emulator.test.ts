/**
 * The request history and the purge against the real emulator (in memory, `TestClock`): the
 * records are the platform's own jobs, the deletions its own, the delete log its HTTP log.
 */
import { Payloads, Purge, Requests } from "@effect-fal/api"
import { FalPlatform, Fault } from "@effect-fal/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, DateTime, Effect, Fiber, Layer, Option, Random, Stream, TestClock } from "effect"
import * as Emulator from "./utils/emulator.js"
import * as Seed from "./utils/seed.js"

const platformLayer = (config: FalPlatform.Config = {}) =>
  Emulator.inMemory({ adminKey: true, config: { demoRunners: 16, ...config } })

const listAll = (options: Omit<Requests.ListOptions, "endpointId"> & { readonly endpointId?: string } = {}) =>
  Requests.list({ endpointId: "fal-ai/echo", start: 0, ...options }).pipe(
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray)
  )

const historyCalls = Effect.map(
  Effect.flatMap(FalPlatform.FalPlatform, (platform) => platform.httpLog),
  (log) => log.filter((entry) => entry.path === "/models/requests/by-endpoint")
)

/** The platform's delete log: every `DELETE .../payloads` it received, by request id. */
const deleteLog = Effect.map(
  Effect.flatMap(FalPlatform.FalPlatform, (platform) => platform.httpLog),
  (log) =>
    log.filter((entry) => entry.method === "DELETE" && entry.path.endsWith("/payloads")).map((entry) => ({
      requestId: entry.path.split("/")[3],
      idempotencyKey: entry.headers["idempotency-key"],
      status: entry.status,
      /** The x-fal-request-id answered: the call that performed the deletion (a replay names the first). */
      answeredBy: entry.id
    }))
)

const perId = (entries: ReadonlyArray<{ readonly requestId: string }>) => {
  const seen = new Map<string, number>()
  for (const entry of entries) seen.set(entry.requestId, (seen.get(entry.requestId) ?? 0) + 1)
  return seen
}

const summaryOf = (events: ReadonlyArray<Purge.PurgeEvent>): Purge.PurgeSummary => {
  const last = events[events.length - 1]
  if (last?._tag !== "Summary") throw new Error("the last event is not the summary")
  return last.summary
}

/** Moves the TestClock until the fiber is done (its waits are on the clock). */
const withClock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    while (fiber.unsafePoll() === null) {
      yield* Effect.yieldNow()
      yield* TestClock.adjust("1 second")
    }
    return yield* Fiber.join(fiber)
  })

describe("the request history on the emulator", () => {
  it.effect(
    "lists 0, 1, 100, 101 and 1,050 requests across pages of 100, each once, newest first",
    () =>
      Effect.gen(function*() {
        // 1 request ends at t = 1 s, 100 at t = 2 s, 949 at t = 3 s: each window holds one count
        const seeded: Array<Seed.Seeded> = []
        for (const batch of [1, 100, 949]) {
          yield* TestClock.adjust("1 second")
          seeded.push(...(yield* Seed.echo(batch, 64)))
        }
        yield* TestClock.adjust("1 second")
        const windows = [
          { start: 0, end: 1_000, count: 0 },
          { start: 1_000, end: 2_000, count: 1 },
          { start: 2_000, end: 3_000, count: 100 },
          { start: 1_000, end: 3_000, count: 101 },
          { start: 0, end: 4_000, count: 1050 }
        ]
        for (const window of windows) {
          const asked = (yield* historyCalls).length
          const records = yield* listAll({ start: window.start, end: window.end, pageSize: 100 })
          assert.strictEqual(records.length, window.count)
          assert.strictEqual(new Set(records.map((r) => r.requestId)).size, window.count)
          assert.strictEqual((yield* historyCalls).length - asked, Math.max(1, Math.ceil(window.count / 100)))
          const ends = records.map((r) => Option.getOrThrow(r.endedAt).epochMillis)
          assert.deepStrictEqual(ends, [...ends].sort((a, b) => b - a))
          assert.isTrue(records.every((r) => r.endpointId === "fal-ai/echo" && Option.contains(r.statusCode, 200)))
        }
        const all = yield* listAll({ pageSize: 100 })
        assert.deepStrictEqual(new Set(all.map((r) => r.requestId)), new Set(seeded.map((s) => s.requestId)))
      }).pipe(Effect.provide(platformLayer())),
    { timeout: 60_000 }
  )

  it.effect("the range is [start, end): a request ending exactly at end is left out, one ending at start kept", () =>
    Effect.gen(function*() {
      // one request ends at each of t = 1 s, 2 s, 3 s, 4 s
      const ids: Array<string> = []
      for (let i = 0; i < 4; i++) {
        yield* TestClock.adjust("1 second")
        ids.push((yield* Seed.echo(1))[0].requestId)
      }
      yield* TestClock.adjust("1 second")
      const range = yield* listAll({ start: 2_000, end: 4_000 })
      assert.deepStrictEqual(range.map((r) => r.requestId), [ids[2], ids[1]])
      const upToEnd = yield* listAll({ end: 1_000 })
      assert.deepStrictEqual(upToEnd, [])
      // the default range ends now: every request, the last one ended 1 s ago
      assert.strictEqual((yield* listAll({ start: undefined })).length, 4)
    }).pipe(Effect.provide(platformLayer())))

  it.effect("the full endpoint id, times, status classes, a cancelled request (499) and payloads", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 minute")
      const [ok] = yield* Seed.echo(1)
      const failed = yield* Seed.userError
      assert.strictEqual(failed._tag, "ValidationError")
      const [unstored] = yield* Seed.echo(1, 1, { storeIO: false })
      yield* TestClock.adjust("1 second")
      const records = yield* listAll({ expand: ["payloads"] })
      const byId = new Map(records.map((r) => [r.requestId, r]))
      const found = byId.get(ok.requestId)!
      assert.deepStrictEqual(found.jsonInput, Option.some({ i: 0 }))
      assert.deepStrictEqual(found.jsonOutput, Option.some({ i: 0 }))
      assert.deepStrictEqual(Option.map(found.sentAt, DateTime.formatIso), Option.some("1970-01-01T00:01:00.000Z"))
      assert.deepStrictEqual(byId.get(unstored.requestId)!.jsonInput, Option.some(null))
      const userErrors = yield* listAll({ endpointId: "fal-ai/validate", status: "user_error" })
      assert.strictEqual(userErrors.length, 1)
      assert.deepStrictEqual(userErrors[0].statusCode, Option.some(422))
      assert.strictEqual((yield* listAll({ endpointId: "fal-ai/validate", status: "success" })).length, 0)
      assert.strictEqual((yield* listAll({ status: "success" })).length, 2)
      assert.strictEqual((yield* listAll({ requestId: ok.requestId })).length, 1)
      // a cancelled request ends 499 (a 4xx: a `user_error`)
      const slow = yield* withClock(Seed.cancelled)
      yield* TestClock.adjust("1 second")
      const errors = yield* listAll({ endpointId: "fal-ai/slow", status: "user_error" })
      assert.deepStrictEqual(errors.map((r) => [r.requestId, Option.getOrThrow(r.statusCode)]), [[slow, 499]])
    }).pipe(Effect.provide(platformLayer())))

  it.effect("bad parameters are Platform API validation errors; a call without a key is refused", () =>
    Effect.gen(function*() {
      const error = yield* Requests.list({ endpointId: "fal-ai/echo", cursor: "not-a-cursor" }).pipe(
        Stream.runDrain,
        Effect.flip
      )
      assert.strictEqual(error._tag, "ValidationError")
      assert.match(error.message, /cursor/)
      // a listing that cannot reach the platform says so
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "api", pathPrefix: "/models/requests", times: 10, fault: Fault.reset })
      const reset = yield* withClock(Effect.flip(Stream.runDrain(Requests.list({ endpointId: "fal-ai/echo" }))))
      assert.strictEqual(reset._tag, "TransportError")
      assert.match(reset.message, /during list/)
      yield* platform.clearFaults
      const client = yield* HttpClient.HttpClient
      const anonymous = yield* client.get("https://api.fal.ai/v1/models/requests/by-endpoint?endpoint_id=fal-ai/echo")
      assert.strictEqual(anonymous.status, 401)
      assert.strictEqual(
        ((yield* anonymous.json) as { readonly error: { readonly type: string } }).error.type,
        "authorization_error"
      )
      const limit = yield* client.get(
        "https://api.fal.ai/v1/models/requests/by-endpoint?endpoint_id=fal-ai/echo&limit=101",
        {
          headers: { authorization: `Key ${FalPlatform.defaultKeys.user}` }
        }
      )
      assert.strictEqual(limit.status, 400)
      const body = (yield* limit.json) as { readonly error: { readonly type: string; readonly message: string } }
      assert.strictEqual(body.error.type, "validation_error")
      assert.match(body.error.message, /limit/)
    }).pipe(Effect.provide(Layer.provideMerge(FalPlatform.layerHttpClient, platformLayer()))))

  it.effect("a 429 with Retry-After on the history is waited out on the clock", () =>
    Effect.gen(function*() {
      yield* Seed.echo(150)
      yield* TestClock.adjust("1 second")
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({
        endpoint: "api",
        pathPrefix: "/models/requests/by-endpoint",
        times: 2,
        fault: Fault.status(429, undefined, { headers: { "retry-after": "30" } })
      })
      const records = yield* withClock(listAll({ pageSize: 100 }))
      assert.strictEqual(records.length, 150)
      const calls = yield* historyCalls
      assert.deepStrictEqual(calls.map((c) => c.status), [429, 429, 200, 200])
    }).pipe(Effect.provide(platformLayer())))
})

describe("Payloads.purge on the emulator", () => {
  it.effect("purging the same requests again reports them already gone, not deleted", () =>
    Effect.gen(function*() {
      yield* Seed.images(5, 64)
      yield* TestClock.adjust("1 second")
      const purge = Payloads.purge({ endpoints: ["fal-ai/image"], before: 1_000 }).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray)
      )
      const first = summaryOf(yield* purge)
      const second = summaryOf(yield* purge)
      assert.deepStrictEqual([first.deleted, first.alreadyGone], [5, 0])
      assert.deepStrictEqual([second.deleted, second.alreadyGone, second.filesRemoved], [0, 5, 0])
    }).pipe(Effect.provide(platformLayer())))

  it.effect(
    "a purge of 1,000 requests deletes every payload and output file, and no input file",
    () =>
      Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const seeded = yield* Seed.images(1000, 64)
        yield* TestClock.adjust("1 second")
        const filesBefore = yield* platform.files
        assert.strictEqual(filesBefore.filter((f) => f.kind === "output").length, 2000)
        const events = yield* Payloads.purge({ endpoints: ["fal-ai/image"], before: 1_000 }).pipe(
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray)
        )
        const summary = summaryOf(events)
        assert.strictEqual(summary.listed, 1000)
        assert.strictEqual(summary.deleted, 1000)
        assert.strictEqual(summary.filesRemoved, 2000)
        assert.strictEqual(summary.failures, 0)
        const files = yield* platform.files
        assert.deepStrictEqual(files.filter((f) => f.kind === "output"), [])
        const left = new Set(files.map((f) => f.url))
        assert.isTrue(seeded.every((s) => s.inputFiles.every((url) => left.has(url))))
        assert.strictEqual(files.length, 1000)
        const ids = new Set(seeded.map((s) => s.requestId))
        assert.isFalse((yield* platform.payloads).some((p) => ids.has(p.requestId)))
        const log = yield* deleteLog
        assert.strictEqual(log.length, 1000)
        assert.isTrue([...perId(log).values()].every((n) => n === 1))
        assert.isTrue(log.every((e) => e.idempotencyKey === Purge.idempotencyKey(e.requestId) && e.status === 200))
      }).pipe(Effect.provide(platformLayer())),
    { timeout: 60_000 }
  )

  it.effect(
    "a purge interrupted at a random point, resumed from its checkpoint, deletes each request once",
    () =>
      Effect.gen(function*() {
        const seeded = yield* Seed.echo(250, 64)
        yield* TestClock.adjust("1 second")
        const checkpoint = yield* Purge.memory
        const stopAt = yield* Random.nextIntBetween(1, 250)
        const purge = Payloads.purge({ endpoints: ["fal-ai/echo"], before: 1_000, checkpoint, concurrency: 8 })
        const first = yield* purge.pipe(Stream.take(stopAt), Stream.runCollect)
        assert.strictEqual(Chunk.size(first), stopAt)
        // no half-recorded request: every id the checkpoint holds as done was deleted by the platform
        const deletedFirst = new Set((yield* deleteLog).filter((e) => e.status === 200).map((e) => e.requestId))
        for (const id of (yield* checkpoint.load).endpoints.get("fal-ai/echo")?.done ?? []) {
          assert.isTrue(deletedFirst.has(id))
        }
        const asked = (yield* historyCalls).length
        const second = yield* Payloads.purge({ endpoints: ["fal-ai/echo"], before: 1_000, checkpoint, concurrency: 8 })
          .pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))
        assert.strictEqual(summaryOf(second).failures, 0)
        // resumed where it stopped: pages of 100 are 101 events each, and a page is recorded once
        // all its events were pulled
        assert.strictEqual(
          (yield* historyCalls).length - asked,
          3 - Math.floor((stopAt - 1) / 101),
          `stopped at ${stopAt}`
        )
        // the platform's log names, in each answer's x-fal-request-id, the call that did the work:
        // a deletion re-sent after the interruption (it was in flight) is replayed from the
        // Idempotency-Key cache under the first call's id, so one id per request = one deletion
        const log = yield* deleteLog
        const performed = new Map<string, Set<string>>()
        for (const entry of log.filter((e) => e.status === 200)) {
          performed.set(entry.requestId, (performed.get(entry.requestId) ?? new Set()).add(entry.answeredBy))
        }
        // only deletions in flight at the interruption were sent twice
        assert.isAtMost([...perId(log.filter((e) => e.status === 200)).values()].filter((n) => n > 1).length, 8)
        const seen = new Map([...performed].map(([id, calls]) => [id, calls.size]))
        assert.deepStrictEqual(new Set(seen.keys()), new Set(seeded.map((s) => s.requestId)))
        assert.isTrue([...seen.values()].every((n) => n === 1), `stopped at ${stopAt}`)
        assert.strictEqual((yield* FalPlatform.FalPlatform.pipe(Effect.flatMap((p) => p.payloads))).length, 0)
      }).pipe(Effect.provide(platformLayer())),
    { timeout: 30_000 }
  )

  it.effect("429s with Retry-After during a purge are waited out, not counted as failures", () =>
    Effect.gen(function*() {
      const seeded = yield* Seed.echo(200, 64)
      yield* TestClock.adjust("1 second")
      const platform = yield* FalPlatform.FalPlatform
      const limited = Fault.status(429, undefined, { headers: { "retry-after": "2" } })
      yield* platform.injectFault({ endpoint: "api", method: "DELETE", times: 20, fault: limited })
      yield* platform.injectFault({ endpoint: "api", pathPrefix: "/models/requests/by-endpoint", fault: limited })
      const events = yield* withClock(
        Payloads.purge({ endpoints: ["fal-ai/echo"], before: 1_000, concurrency: 4 }).pipe(
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray)
        )
      )
      const summary = summaryOf(events)
      assert.strictEqual(summary.failures, 0)
      assert.strictEqual(summary.deleted, 200)
      const log = yield* deleteLog
      assert.strictEqual(log.filter((e) => e.status === 429).length, 20)
      assert.deepStrictEqual(
        new Set(log.filter((e) => e.status === 200).map((e) => e.requestId)),
        new Set(seeded.map((s) => s.requestId))
      )
      assert.strictEqual((yield* historyCalls).filter((c) => c.status === 429).length, 1)
    }).pipe(Effect.provide(platformLayer())))

  it.effect("--dry-run deletes nothing on the emulator", () =>
    Effect.gen(function*() {
      yield* Seed.echo(30)
      yield* TestClock.adjust("1 second")
      const events = yield* Payloads.purge({ endpoints: ["fal-ai/echo"], before: 1_000, dryRun: true }).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray)
      )
      assert.strictEqual(summaryOf(events).wouldDelete, 30)
      assert.deepStrictEqual(yield* deleteLog, [])
      assert.strictEqual((yield* FalPlatform.FalPlatform.pipe(Effect.flatMap((p) => p.payloads))).length, 30)
    }).pipe(Effect.provide(platformLayer())))
})
