/**
 * Inputs that must fail with a typed error and send nothing, and the time bounds of queue calls.
 */
import { Fal, FalClient, FalError, Queue } from "@effect-fal/api"
import { FalEmulator } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Option, Ref, TestClock } from "effect"
import * as Fake from "./utils/fake.js"

const id = "00000000-0000-4000-8000-0000000000aa"

const deep = (depth: number): unknown => {
  let value: unknown = { leaf: true }
  for (let i = 0; i < depth; i++) value = { next: value }
  return value
}

describe("inputs that cannot be read fail typed, and nothing is sent", () => {
  const cases: ReadonlyArray<readonly [string, () => unknown]> = [
    ["a getter that throws", () => ({
      get prompt(): string {
        throw new Error("boom")
      }
    })],
    ["an input nested 50,000 deep", () => deep(50_000)],
    ["a Proxy whose ownKeys throws", () =>
      new Proxy({}, {
        ownKeys: () => {
          throw new Error("no keys")
        }
      })]
  ]
  for (const [name, input] of cases) {
    it.effect(`${name}: Fal.run and Queue.submit fail with a ValidationError`, () =>
      Effect.gen(function*() {
        const fake = yield* Fake.layer(() => Fake.json(200, {}))
        const run = yield* Fal.run("acme/model", input()).pipe(Effect.flip, Effect.provide(fake.layer))
        const submit = yield* Queue.submit("acme/model", input()).pipe(Effect.flip, Effect.provide(fake.layer))
        assert.strictEqual(run._tag, "ValidationError")
        assert.strictEqual(submit._tag, "ValidationError")
        assert.strictEqual((yield* Ref.get(fake.log)).length, 0)
      }))
  }
})

describe("the size of an input", () => {
  it.effect("an input over FalClient.defaultMaxInputSize is a ValidationError before anything is sent", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(200, {}))
      const big = { prompt: "x".repeat(FalClient.defaultMaxInputSize) }
      const run = yield* Fal.run("acme/model", big).pipe(Effect.flip, Effect.provide(fake.layer))
      const submit = yield* Queue.submit("acme/model", big).pipe(Effect.flip, Effect.provide(fake.layer))
      for (const error of [run, submit]) {
        assert.strictEqual(error._tag, "ValidationError")
        assert.include(error.message, "maxInputSize")
      }
      assert.strictEqual((yield* Ref.get(fake.log)).length, 0)
    }))

  it.effect("the emulator enforces the same limit: a client configured past it gets 413", () =>
    Effect.gen(function*() {
      const error = yield* Fal.run("fal-ai/echo", { prompt: "x".repeat(FalClient.defaultMaxInputSize) }).pipe(
        Effect.flip,
        Effect.provide(
          FalEmulator.layerClient({ transport: "memory", client: { maxInputSize: 2 * FalClient.defaultMaxInputSize } })
        )
      )
      assert.strictEqual(error._tag, "RequestFailed")
      assert.strictEqual(error._tag === "RequestFailed" && error.status, 413)
    }))
})

describe("what a failure prints", () => {
  it.effect("a 401 names the operation, the model, the status and the request id, and points at the caller", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(401, { detail: "Invalid API key" }, { "x-fal-request-id": id }))
      const exit = yield* Fal.run("acme/model", {}).pipe(Effect.provide(fake.layer), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      const printed = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      const first = printed.split("\n")[0]
      assert.include(first, "Unauthorized")
      assert.include(first, "run \"acme/model\"")
      assert.include(first, "status 401")
      assert.include(first, `request ${id}`)
      // no frame of where the library built the error, nor of Effect's runtime; the span names this file
      assert.notInclude(printed, "redact.ts")
      assert.notInclude(printed, "fiberRuntime")
      assert.include(printed, "Reliability.test.ts")
    }))
})

describe("request ids", () => {
  it.effect("a 100,000-character id is refused before sending, with a short message naming the format", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(200, {}))
      const long = "x".repeat(100_000)
      for (
        const call of [
          Effect.asVoid(Queue.status({ modelId: "a/b", requestId: long })),
          Effect.asVoid(Queue.result({ modelId: "a/b", requestId: long })),
          Effect.asVoid(Queue.cancel({ modelId: "a/b", requestId: long }))
        ]
      ) {
        const error = yield* call.pipe(Effect.flip, Effect.provide(fake.layer))
        assert.instanceOf(error, FalError.InvalidRequestId)
        assert.isBelow(error.message.length, 300)
        assert.include(error.message, "UUID")
      }
      assert.strictEqual((yield* Ref.get(fake.log)).length, 0)
    }))
})

describe("deadlines", () => {
  it.effect("Queue.status takes a deadline; DeadlineExceeded carries the request id", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Effect.never)
      const fiber = yield* Queue.status({ modelId: "a/b", requestId: id }, { deadline: "5 seconds" }).pipe(
        Effect.flip,
        Effect.provide(fake.layer),
        Effect.fork
      )
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "DeadlineExceeded")
      assert.strictEqual(error._tag === "DeadlineExceeded" && error.requestId, id)
    }))

  it.effect("Fal.run's DeadlineExceeded carries the request id the headers gave", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() =>
        new Response(new ReadableStream({ start() {} }), { status: 200, headers: { "x-fal-request-id": id } })
      )
      const fiber = yield* Fal.run("acme/model", {}, { deadline: "5 seconds" }).pipe(
        Effect.flip,
        Effect.provide(fake.layer),
        Effect.fork
      )
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "DeadlineExceeded")
      assert.strictEqual(error._tag === "DeadlineExceeded" && error.requestId, id)
    }))
})

describe("Retry-After", () => {
  it.effect("a 400-digit Retry-After is a finite wait past the maximum: not retried", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(429, { detail: "slow down" }, { "retry-after": "9".repeat(400) }))
      const error = yield* Fal.run("acme/model", {}).pipe(Effect.flip, Effect.provide(fake.layer))
      assert.strictEqual(error._tag, "RateLimited")
      assert.isTrue(error._tag === "RateLimited" && Option.exists(error.retryAfter, Duration.isFinite))
      assert.strictEqual((yield* Ref.get(fake.log)).length, 1)
    }))
})
