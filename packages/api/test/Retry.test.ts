import type { FalClient } from "@effect-fal/api"
import { Fal, FalError, Queue, Retry } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Option, Ref, Schedule, TestClock } from "effect"
import * as Fake from "./utils/fake.js"

/** Forks `effect`, moves the clock by `advance`, and returns its exit and the number of attempts. */
const attempts = <A>(
  handler: Fake.Handler,
  effect: Effect.Effect<A, FalError.FalError, FalClient.FalClient>,
  advance: Duration.DurationInput = "10 minutes"
) =>
  Effect.gen(function*() {
    const fake = yield* Fake.layer(handler)
    const fiber = yield* Effect.fork(Effect.provide(effect, fake.layer))
    yield* TestClock.adjust(advance)
    const exit = yield* Fiber.await(fiber)
    return { exit, count: (yield* Ref.get(fake.log)).length, log: yield* Ref.get(fake.log) }
  })

const failsThenOk = (failures: number, failure: () => Response | "reset" | "refused") => (_: unknown, i: number) =>
  i < failures ? failure() : Fake.json(200, { request_id: "ok", status: "COMPLETED" })

const failure = <A>(exit: Exit.Exit<A, FalError.FalError>): Option.Option<FalError.FalError> =>
  Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

const errorTag = <A>(exit: Exit.Exit<A, FalError.FalError>) =>
  Exit.isSuccess(exit) ? "success" : Option.match(failure(exit), { onNone: () => "defect", onSome: (e) => e._tag })

describe("retry table", () => {
  const cases: ReadonlyArray<{
    readonly name: string
    readonly failure: () => Response | "reset" | "refused"
    readonly op: "run" | "submit" | "status"
    readonly retried: boolean
    readonly tag?: string
  }> = [
    {
      name: "503 runner_scheduling_failure",
      failure: () => Fake.json(503, { error_type: "runner_scheduling_failure" }),
      op: "run",
      retried: true
    },
    { name: "502 bare gateway error", failure: () => Fake.json(502, {}), op: "submit", retried: true },
    {
      name: "504 request_timeout",
      failure: () => Fake.json(504, { error_type: "request_timeout" }),
      op: "run",
      retried: true
    },
    {
      name: "429 concurrency",
      failure: () => Fake.json(429, {}, { "x-fal-needs-retry": "1" }),
      op: "submit",
      retried: true
    },
    { name: "connection refused on submit", failure: () => "refused", op: "submit", retried: true },
    { name: "connection reset on status", failure: () => "reset", op: "status", retried: true },
    {
      name: "504 user start timeout",
      failure: () => Fake.json(504, {}, { "x-fal-request-timeout-type": "user" }),
      op: "run",
      retried: false,
      tag: "StartTimeout"
    },
    {
      name: "500 runner_server_error",
      failure: () => Fake.json(500, { error_type: "runner_server_error" }),
      op: "run",
      retried: false,
      tag: "RequestFailed"
    },
    {
      name: "500 without error_type",
      failure: () => Fake.json(500, {}),
      op: "submit",
      retried: false,
      tag: "ServerError"
    },
    {
      name: "400",
      failure: () => Fake.json(400, { detail: "bad" }),
      op: "submit",
      retried: false,
      tag: "RequestFailed"
    },
    { name: "401", failure: () => Fake.json(401, {}), op: "run", retried: false, tag: "Unauthorized" },
    { name: "403", failure: () => Fake.json(403, {}), op: "status", retried: false, tag: "Forbidden" },
    { name: "404", failure: () => Fake.json(404, {}), op: "status", retried: false, tag: "NotFound" },
    {
      name: "422",
      failure: () => Fake.json(422, { detail: [{ loc: ["body", "prompt"], msg: "required", type: "missing" }] }),
      op: "run",
      retried: false,
      tag: "ValidationError"
    },
    {
      name: "connection reset on submit (ambiguous)",
      failure: () => "reset",
      op: "submit",
      retried: false,
      tag: "TransportError"
    },
    {
      name: "connection reset on run (ambiguous)",
      failure: () => "reset",
      op: "run",
      retried: false,
      tag: "TransportError"
    },
    {
      name: "malformed body",
      failure: () => new Response("<html>", { status: 200 }),
      op: "run",
      retried: false,
      tag: "DecodeError"
    }
  ]
  for (const c of cases) {
    it.effect(`${c.name}: ${c.retried ? "retried" : `not retried (${c.tag})`}`, () =>
      Effect.gen(function*() {
        const call: Effect.Effect<unknown, FalError.FalError, FalClient.FalClient> = c.op === "run"
          ? Fal.run("a/b", {})
          : c.op === "submit"
          ? Queue.submit("a/b", {})
          : Queue.status({ modelId: "a/b", requestId: "00000000-0000-4000-8000-00000000000a" })
        const { count, exit } = yield* attempts(failsThenOk(2, c.failure), call)
        if (c.retried) {
          assert.strictEqual(errorTag(exit), "success")
          assert.strictEqual(count, 3)
        } else {
          assert.strictEqual(errorTag(exit), c.tag)
          assert.strictEqual(count, 1)
        }
      }))
  }

  it.effect("an ambiguous submit failure says the request may have reached fal", () =>
    Effect.gen(function*() {
      const { exit } = yield* attempts(() => "reset", Queue.submit("a/b", {}))
      const error = Option.getOrThrow(failure(exit))
      assert.strictEqual(error._tag, "TransportError")
      assert.isTrue(error._tag === "TransportError" && error.mayHaveReached)
      assert.include(error.message, "may have reached fal")
    }))

  it.effect("queue full (429 with fal_max_queue_length) is not retried", () =>
    Effect.gen(function*() {
      const { count, exit } = yield* attempts(
        () => Fake.json(429, { detail: "Queue is full" }),
        Queue.submit("a/b", {}, { options: RequestOptions.maxQueueLength(0) })
      )
      assert.strictEqual(errorTag(exit), "QueueFull")
      assert.strictEqual(count, 1)
    }))

  it.effect("default run policy: 3 retries with exponential backoff from 500 ms", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(503, {}))
      const fiber = yield* Effect.fork(Effect.provide(Fal.run("a/b", {}), fake.layer))
      const count = Effect.map(Ref.get(fake.log), (log) => log.length)
      yield* TestClock.adjust("399 millis") // the first delay is 500 ms ±20 %
      assert.strictEqual(yield* count, 1)
      yield* TestClock.adjust("201 millis")
      assert.strictEqual(yield* count, 2)
      yield* TestClock.adjust("10 minutes")
      const exit = yield* Fiber.await(fiber)
      assert.strictEqual(errorTag(exit), "ServerError")
      assert.strictEqual(yield* count, 4)
    }))

  it.effect("Retry-After is honoured: no retry before it, one after", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((_, i) =>
        i === 0 ? Fake.json(429, {}, { "retry-after": "20" }) : Fake.json(200, { request_id: "r" })
      )
      const fiber = yield* Effect.fork(Effect.provide(Queue.submit("a/b", {}), fake.layer))
      yield* TestClock.adjust("19 seconds")
      assert.strictEqual((yield* Ref.get(fake.log)).length, 1)
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.requestId, "r")
      assert.strictEqual((yield* Ref.get(fake.log)).length, 2)
    }))

  it.effect("a RateLimited error carries retryAfter; one longer than maxRetryAfter is not waited for", () =>
    Effect.gen(function*() {
      const { count, exit } = yield* attempts(() => Fake.json(429, {}, { "retry-after": "3600" }), Fal.run("a/b", {}))
      const error = Option.getOrThrow(failure(exit))
      assert.strictEqual(count, 1)
      assert.isTrue(
        error._tag === "RateLimited" && Option.contains(error.retryAfter, Duration.hours(1))
      )
    }))

  it.effect("retry: false makes one attempt; a custom schedule replaces the default", () =>
    Effect.gen(function*() {
      const none = yield* attempts(() => Fake.json(503, {}), Fal.run("a/b", {}, { retry: false }))
      assert.strictEqual(none.count, 1)
      const custom = yield* attempts(
        () => Fake.json(503, {}),
        Fal.run("a/b", {}, { retry: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(6))) }),
        "10 seconds"
      )
      assert.strictEqual(custom.count, 7)
      // the fal predicate still applies to a custom schedule: a user timeout is never retried
      const user = yield* attempts(
        () => Fake.json(504, {}, { "x-fal-request-timeout-type": "user" }),
        Fal.run("a/b", {}, { retry: Schedule.forever })
      )
      assert.strictEqual(user.count, 1)
    }))

  it("isRetryable: the predicate per operation", () => {
    const reset = new FalError.TransportError({ operation: "x", mayHaveReached: true, description: "reset" })
    assert.isFalse(Retry.isRetryable("submit")(reset))
    assert.isFalse(Retry.isRetryable("run")(reset))
    assert.isTrue(Retry.isRetryable("status")(reset))
    assert.isTrue(Retry.isRetryable("delete")(reset))
    const failed = new FalError.RequestFailed({ status: 503, errorType: "runner_disconnected" })
    assert.isTrue(Retry.isRetryable("run")(failed))
    assert.isFalse(Retry.isRetryable("result")(failed))
  })
})
