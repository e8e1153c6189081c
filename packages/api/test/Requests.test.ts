import { Requests } from "@effect-fal/api"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, DateTime, Effect, Fiber, Option, Stream, TestClock } from "effect"
import * as History from "./utils/history.js"

const all = (harness: History.Harness, options: Omit<Requests.ListOptions, "endpointId"> = {}) =>
  Requests.list({ endpointId: History.endpoint, start: 0, ...options }).pipe(
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.provide(History.layer(harness))
  )

const pagesAsked = (harness: History.Harness) => harness.requests.filter((r) => r.includes("by-endpoint")).length

describe("Requests.list", () => {
  it.effect("decodes every field; expand=payloads adds the JSON input and output", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(3))
      const [plain] = yield* all(harness, { requestId: History.idOf(1) })
      assert.strictEqual(plain.requestId, History.idOf(1))
      assert.strictEqual(plain.endpointId, History.endpoint)
      assert.deepStrictEqual(Option.map(plain.endedAt, DateTime.formatIso), Option.some("2026-11-01T00:01:00.000Z"))
      assert.deepStrictEqual(plain.statusCode, Option.some(200))
      assert.deepStrictEqual(plain.duration, Option.some(5))
      assert.isTrue(Option.isNone(plain.jsonInput))
      const [expanded] = yield* all(harness, { requestId: History.idOf(1), expand: ["payloads"] })
      assert.deepStrictEqual(expanded.jsonInput, Option.some({ prompt: "p1" }))
    }))

  it.effect("the range is [start, end): a request ending exactly at end is left out, one at start kept", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(10))
      // requests end at base + i minutes
      const records = yield* all(harness, { start: History.base + 2 * 60_000, end: History.base + 5 * 60_000 })
      assert.deepStrictEqual(records.map((r) => r.requestId).sort(), [2, 3, 4].map((i) => History.idOf(i)))
    }))

  it.effect("the status filter selects by status class", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(70))
      const errors = yield* all(harness, { status: "error" })
      const userErrors = yield* all(harness, { status: "user_error" })
      const successes = yield* all(harness, { status: "success" })
      assert.strictEqual(errors.length, 7)
      assert.isTrue(errors.every((r) => Option.getOrThrow(r.statusCode) === 500))
      assert.isTrue(userErrors.length > 0 && userErrors.every((r) => Option.getOrThrow(r.statusCode) === 422))
      assert.strictEqual(errors.length + userErrors.length + successes.length, 70)
    }))

  it.effect("pages are fetched lazily: taking 5 records asks for one page", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(500))
      const taken = yield* Requests.list({ endpointId: History.endpoint, start: 0, pageSize: 50 }).pipe(
        Stream.take(5),
        Stream.runCollect,
        Effect.provide(History.layer(harness))
      )
      assert.strictEqual(Chunk.size(taken), 5)
      assert.strictEqual(pagesAsked(harness), 1)
    }))

  it.effect("a 429 with Retry-After is waited out on the clock, then listing goes on", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(250), { throttle: { every: 2, retryAfter: 30 } })
      const fiber = yield* Effect.fork(all(harness, { pageSize: 100 }))
      // let the first two answers arrive (real async in-process I/O, no clock involved)
      for (let i = 0; i < 10_000 && pagesAsked(harness) < 2; i++) {
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      }
      for (let i = 0; i < 20; i++) yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      // the second page was answered 429: nothing moves until the clock passes its Retry-After
      assert.isNull(fiber.unsafePoll())
      assert.strictEqual(pagesAsked(harness), 2)
      for (let i = 0; i < 20 && fiber.unsafePoll() === null; i++) {
        yield* TestClock.adjust("30 seconds")
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      }
      const records = yield* Fiber.join(fiber)
      assert.strictEqual(records.length, 250)
      assert.strictEqual(pagesAsked(harness), 5) // 3 pages; the 2nd and 4th answers were 429s
    }))

  it.effect("bad input is a typed error and nothing is sent", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(3))
      const fail = (options: Omit<Requests.ListOptions, "endpointId">, endpointId = History.endpoint) =>
        Requests.list({ endpointId, ...options }).pipe(
          Stream.runDrain,
          Effect.flip,
          Effect.provide(History.layer(harness))
        )
      const endFirst = yield* fail({ start: "2026-11-02T00:00:00Z", end: "2026-11-01T00:00:00Z" })
      assert.strictEqual(endFirst._tag, "InvalidListOptions")
      assert.match(endFirst.message, /end: is before start/)
      const status = yield* fail({ status: "broken" as Requests.Status })
      assert.match(status.message, /status: "broken" is not one of/)
      const id = yield* fail({ requestId: "not-a-uuid" })
      assert.strictEqual(id._tag, "InvalidRequestId")
      for (const pageSize of [0, 101, 1.5]) {
        const size = yield* fail({ pageSize })
        assert.match(size.message, /pageSize: must be an integer in 1\.\.100/)
      }
      const date = yield* fail({ start: "yesterday-ish" })
      assert.match(date.message, /start: not a valid date-time/)
      const model = yield* fail({}, "no-slash")
      assert.strictEqual(model._tag, "InvalidModelId")
      assert.deepStrictEqual(harness.requests, [])
    }))

  it.effect("a Platform API error from the history is a typed FalError", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(3))
      const error = yield* Requests.list({ endpointId: History.endpoint, cursor: "not-a-cursor" }).pipe(
        Stream.runDrain,
        Effect.flip,
        Effect.provide(History.layer(harness))
      )
      assert.strictEqual(error._tag, "ValidationError")
      assert.match(error.message, /cursor/)
    }))
})
