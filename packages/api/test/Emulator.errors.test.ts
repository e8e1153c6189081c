/**
 * Every FalError member, produced by the real condition on the in-memory fal platform of
 * @effect-fal/testing, and caught by its tag.
 */
import { Fal, FalError, Payloads, Queue } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import { FalPlatform, Fault } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Redacted, TestClock } from "effect"
import * as Emulator from "./utils/emulator.js"

const { echo, fail, slow, validate } = FalPlatform.demoModelIds

/** Occupies the slow model's only runner; resolves once that request is running. */
const occupy = Effect.gen(function*() {
  const platform = yield* FalPlatform.FalPlatform
  const busy = yield* Queue.submit(slow, { seconds: 1000 })
  yield* platform.awaitStatus(busy.requestId, "IN_PROGRESS")
  return busy
})

describe("FalError members from the emulator's conditions", () => {
  it.effect("Unauthorized: a key the platform does not know", () =>
    Effect.gen(function*() {
      const tag = yield* Fal.run(echo, { a: 1 }).pipe(
        Effect.as("ok"),
        Effect.catchTag("Unauthorized", (e) => Effect.succeed(`${e._tag} ${e.status}`))
      )
      assert.strictEqual(tag, "Unauthorized 401")
    }).pipe(Effect.provide(Emulator.inMemory({ key: Redacted.make("not-a-key") }))))

  it.effect("Forbidden: deleting payloads with a key without ADMIN scope", () =>
    Effect.gen(function*() {
      const done = yield* Queue.subscribe(echo, { a: 1 })
      const error = yield* Payloads.delete(done.requestId).pipe(Effect.flip)
      assert.instanceOf(error, FalError.Forbidden)
      assert.strictEqual(error._tag === "Forbidden" && error.status, 403)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("NotFound: the status of an unknown request, and cancelling it", () =>
    Effect.gen(function*() {
      const ref = { modelId: echo, requestId: "0b6f1cde-0000-4000-8000-000000000000" }
      const status = yield* Queue.status(ref).pipe(Effect.flip)
      const cancel = yield* Queue.cancel(ref).pipe(Effect.flip)
      assert.strictEqual(status._tag, "NotFound")
      assert.strictEqual(cancel._tag, "NotFound")
      assert.deepStrictEqual(FalError.requestId(cancel), Option.some(ref.requestId))
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("ValidationError: 422 with detail[] from the validate model", () =>
    Effect.gen(function*() {
      const error = yield* Fal.run(validate, { prompt: "", steps: 500 }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "ValidationError")
      if (error._tag === "ValidationError") {
        assert.strictEqual(error.status, 422)
        assert.isTrue(error.issues.length >= 2)
        assert.isTrue(error.issues.every((issue) => issue.loc[0] === "body"))
        assert.isDefined(error.requestId)
      }
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("RequestFailed: a model failing with runner_server_error", () =>
    Effect.gen(function*() {
      const error = yield* Fal.run(fail, { error_type: "runner_server_error" }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "RequestFailed")
      assert.strictEqual(error._tag === "RequestFailed" && error.errorType, "runner_server_error")
      assert.strictEqual(error._tag === "RequestFailed" && error.status, 500)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("StartTimeout: the start timeout expires while the only runner is busy", () =>
    Effect.gen(function*() {
      yield* occupy
      const fiber = yield* Fal.run(slow, { seconds: 1 }, { options: RequestOptions.startTimeout("2 seconds") }).pipe(
        Effect.flip,
        Effect.fork
      )
      yield* TestClock.adjust("3 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "StartTimeout")
      assert.strictEqual(error._tag === "StartTimeout" && error.status, 504)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("QueueFull: fal_max_queue_length exceeded", () =>
    Effect.gen(function*() {
      yield* occupy
      yield* Queue.submit(slow, { seconds: 1 })
      const error = yield* Queue.submit(slow, { seconds: 1 }, { options: RequestOptions.maxQueueLength(0) }).pipe(
        Effect.flip
      )
      assert.strictEqual(error._tag, "QueueFull")
      assert.strictEqual(error._tag === "QueueFull" && error.status, 429)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("RateLimited: a 429 with Retry-After", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({
        endpoint: "queue",
        method: "POST",
        fault: Fault.status(429, undefined, { headers: { "retry-after": "7", "x-fal-needs-retry": "1" } })
      })
      const error = yield* Queue.submit(echo, {}, { retry: false }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "RateLimited")
      assert.isTrue(error._tag === "RateLimited" && Option.contains(error.retryAfter, Duration.seconds(7)))
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("ServerError: a 500 without error_type", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "queue", method: "POST", fault: Fault.status(500) })
      const error = yield* Queue.submit(echo, {}).pipe(Effect.flip)
      assert.strictEqual(error._tag, "ServerError")
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("TransportError: a connection reset on submit, flagged as possibly received", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "queue", method: "POST", fault: Fault.reset })
      const error = yield* Queue.submit(echo, {}).pipe(Effect.flip)
      assert.strictEqual(error._tag, "TransportError")
      assert.isTrue(error._tag === "TransportError" && error.mayHaveReached)
      assert.strictEqual((yield* platform.httpLog).length, 1)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("DecodeError: a truncated JSON body", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "run", fault: Fault.malformedBody })
      const error = yield* Fal.run(echo, {}).pipe(Effect.flip)
      assert.strictEqual(error._tag, "DecodeError")
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("Cancelled: the result of a request cancelled while queued", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* occupy
      const queued = yield* Queue.submit(slow, { seconds: 1 })
      const outcome = yield* Queue.cancel(queued)
      assert.strictEqual(outcome._tag, "CancellationRequested")
      yield* platform.awaitStatus(queued.requestId)
      const tag = yield* Queue.result(queued).pipe(
        Effect.as("ok"),
        Effect.catchTag("Cancelled", (e) => Effect.succeed(`${e._tag} ${e.requestId}`))
      )
      assert.strictEqual(tag, `Cancelled ${queued.requestId}`)
      const again = yield* Queue.cancel(queued)
      assert.strictEqual(again._tag, "AlreadyCompleted")
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("InvalidRequestOptions, InvalidModelId, InvalidRequestId: nothing reaches the platform", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const tags = yield* Effect.all([
        Queue.submit(echo, {}, { options: RequestOptions.runnerHint("bad\nhint") }).pipe(Effect.flip),
        Fal.run("no-slash", {}).pipe(Effect.flip),
        Queue.cancel({ modelId: echo, requestId: "x/../y" }).pipe(Effect.flip),
        Payloads.deleteLegacy("123").pipe(Effect.flip)
      ]).pipe(Effect.map((errors) => errors.map((e) => e._tag)))
      assert.deepStrictEqual(tags, ["InvalidRequestOptions", "InvalidModelId", "InvalidRequestId", "InvalidRequestId"])
      assert.strictEqual((yield* platform.httpLog).length, 0)
    }).pipe(Effect.provide(Emulator.inMemory({ adminKey: true }))))
})
