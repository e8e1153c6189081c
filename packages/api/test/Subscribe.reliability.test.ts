/**
 * A subscribe whose job completed returns its result despite one fault on a status or result
 * read (the reads are idempotent); when it does fail after its submit, the error names the job.
 * The in-memory platform of @effect-fal/testing, its fault injection, the real request path.
 */
import { FalError, Queue } from "@effect-fal/api"
import { FalPlatform, Fault } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, TestClock } from "effect"
import * as Emulator from "./utils/emulator.js"

const { echo, fail, slow } = FalPlatform.demoModelIds

/** Runs `effect` in a fiber, advancing the test clock until it ends (retries back off on the clock). */
const settle = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 600; i++) {
      if (Option.isSome(yield* Fiber.poll(fiber))) break
      yield* TestClock.adjust("1 second")
    }
    return yield* Fiber.await(fiber)
  })

const faults: ReadonlyArray<readonly [string, Fault.Fault]> = [
  ["500", Fault.status(500)],
  ["503", Fault.status(503)],
  ["502 with an unknown error_type", Fault.status(502, "brand_new_gateway_fault")],
  ["503 runner_scheduling_failure", Fault.status(503, "runner_scheduling_failure")],
  ["504 request_timeout", Fault.status(504, "request_timeout")],
  ["a connection reset", Fault.reset],
  ["a truncated body", Fault.malformedBody]
]

/** The GETs of one request at the platform: its status reads and its result reads. */
const reads = (requestId: string) =>
  Effect.map(FalPlatform.FalPlatform, (platform) => platform.httpLog).pipe(
    Effect.flatten,
    Effect.map((log) => log.filter((entry) => entry.method === "GET" && entry.path.includes(requestId)))
  )

describe("subscribe never loses a completed job's result", () => {
  for (const mode of ["stream", "poll"] as const) {
    for (const [name, fault] of faults) {
      it.effect(`${mode}: ${name} on the result read is retried`, () =>
        Effect.gen(function*() {
          const platform = yield* FalPlatform.FalPlatform
          const input = { n: 1, mode, name }
          let injected = false
          const exit = yield* settle(Queue.subscribe(echo, input, {
            mode,
            pollInterval: "100 millis",
            onStatus: (status) =>
              status.status === "COMPLETED" && !injected
                ? Effect.zipRight(
                  Effect.sync(() => {
                    injected = true
                  }),
                  platform.injectFault({ endpoint: "queue", method: "GET", modelId: echo, fault })
                )
                : Effect.void
          }))
          assert.isTrue(injected)
          assert.isTrue(Exit.isSuccess(exit), `subscribe failed: ${String(exit)}`)
          if (Exit.isSuccess(exit)) {
            assert.deepStrictEqual(exit.value.data, input)
            const log = yield* reads(exit.value.requestId)
            const results = log.filter((entry) => !entry.path.includes("/status"))
            assert.strictEqual(results.length, 2, "one faulted result read, then one that succeeded")
          }
        }).pipe(Effect.provide(Emulator.inMemory())))
    }
  }

  for (const [name, fault] of faults) {
    it.effect(`poll: ${name} on a status read is retried`, () =>
      Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const exit = yield* settle(Queue.subscribe(echo, { name }, {
          mode: "poll",
          onEnqueue: () => platform.injectFault({ endpoint: "queue", method: "GET", modelId: echo, fault })
        }))
        assert.isTrue(Exit.isSuccess(exit), `subscribe failed: ${String(exit)}`)
        if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value.data, { name })
      }).pipe(Effect.provide(Emulator.inMemory())))
  }

  it.effect("a failing result read that never recovers ends in a typed error carrying the request id", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      let requestId = ""
      const exit = yield* settle(Queue.subscribe(echo, { a: 1 }, {
        onEnqueue: (submitted) =>
          Effect.sync(() => {
            requestId = submitted.requestId
          }),
        onStatus: (status) =>
          status.status === "COMPLETED"
            ? platform.injectFault({
              endpoint: "queue",
              method: "GET",
              modelId: echo,
              times: 100,
              fault: Fault.status(500)
            })
            : Effect.void
      }))
      const failure = yield* Effect.flip(Effect.suspend(() => exit))
      assert.instanceOf(failure, FalError.ServerError)
      assert.deepStrictEqual(FalError.requestId(failure), Option.some(requestId))
      // bounded: the result default policy (5 retries) and no more
      const results = (yield* reads(requestId)).filter((entry) => !entry.path.includes("/status"))
      assert.strictEqual(results.length, 6)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("the stored outcome of a failed job is read once, not retried", () =>
    Effect.gen(function*() {
      const exit = yield* settle(Queue.subscribe(fail, { error_type: "runner_scheduling_failure", retryable: false }))
      const failure = yield* Effect.flip(Effect.suspend(() => exit))
      assert.strictEqual(failure._tag, "RequestFailed")
      const id = Option.getOrThrow(FalError.requestId(failure))
      const results = (yield* reads(id)).filter((entry) => !entry.path.includes("/status"))
      assert.strictEqual(results.length, 1)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("stream mode: a 500 on the first status stream answer is retried, and the result comes", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ ...Fault.target("statusStream"), fault: Fault.status(500), times: 1 })
      const exit = yield* settle(Queue.subscribe(echo, { prompt: "once" }))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("a proxy closes every status stream after 3 s; a job of 40 s completes in stream mode", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({
        ...Fault.target("statusStream"),
        fault: Fault.closeStreamAfter("3 seconds"),
        times: Infinity
      })
      const exit = yield* settle(Queue.subscribe(slow, { seconds: 40 }))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      const streams = (yield* platform.httpLog).filter((entry) => entry.path.endsWith("/status/stream"))
      // a connection every 3 s or so for 40 s: far more than the 5 reconnects allowed without progress
      assert.isAbove(streams.length, 6)
    }).pipe(Effect.provide(Emulator.inMemory())))
})
