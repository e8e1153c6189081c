/**
 * The faults the soak relies on: a reset after the request was handled (both transports), a
 * 429 with Retry-After (fal's and the Platform API's style), faults drawn with a probability,
 * and the fault recorded in the HTTP request log.
 */
import { FalPlatform, Fault } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import { call, uuidPattern, withEmulator } from "./utils/fetch.js"
import { send } from "./utils/memory.js"

const admin = FalPlatform.defaultKeys.admin

describe("Fault.resetAfter", () => {
  it.live("loopback: the submit creates its job, then the socket is destroyed without an answer", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        yield* platform.injectFault({ endpoint: "queue", method: "POST", fault: Fault.resetAfter })
        const answer = yield* Effect.either(
          Effect.tryPromise(() =>
            fetch(`${urls.queue}/fal-ai/echo`, {
              method: "POST",
              headers: {
                authorization: `Key ${FalPlatform.defaultKeys.user}`,
                "content-type": "application/json"
              },
              body: JSON.stringify({ token: "after-1" })
            })
          )
        )
        assert.isTrue(Either.isLeft(answer), "no answer reached the client")
        const [entry] = yield* platform.httpLog
        assert.strictEqual(entry.status, "reset")
        assert.isTrue(entry.fault !== undefined && Fault.is("ResetAfter")(entry.fault))
        // the log carries the job's id: the job exists and completes with its input
        assert.match(entry.id, uuidPattern)
        const job = yield* platform.awaitStatus(entry.id)
        assert.deepStrictEqual(job.input, { token: "after-1" })
        assert.strictEqual(job.mode, "queue")
      })
    ))

  it.live("loopback: a legacy deletion is applied although its answer is lost", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const submitted = yield* call("POST", `${urls.queue}/fal-ai/echo`, { body: { token: "d" } })
        const id = (submitted.json as { request_id: string }).request_id
        yield* platform.awaitStatus(id)
        assert.strictEqual((yield* call("GET", `${urls.queue}/fal-ai/echo/requests/${id}`)).status, 200)
        yield* platform.injectFault({ endpoint: "rest", fault: Fault.resetAfter })
        const lost = yield* Effect.either(
          Effect.tryPromise(() =>
            fetch(`${urls.rest}/requests/delete_io/${id}`, {
              method: "PUT",
              headers: { authorization: `Key ${admin}` }
            })
          )
        )
        assert.isTrue(Either.isLeft(lost))
        const result = yield* call("GET", `${urls.queue}/fal-ai/echo/requests/${id}`)
        assert.strictEqual(result.status, 404, "the deletion was applied")
      })
    ))

  it.live("loopback: a reset before the request is read handles nothing", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        yield* platform.injectFault({ endpoint: "queue", method: "POST", fault: Fault.reset })
        const answer = yield* Effect.either(
          Effect.tryPromise(() =>
            fetch(`${urls.queue}/fal-ai/echo`, {
              method: "POST",
              headers: { authorization: `Key ${FalPlatform.defaultKeys.user}` },
              body: "{}"
            })
          )
        )
        assert.isTrue(Either.isLeft(answer))
        const [entry] = yield* platform.httpLog
        assert.strictEqual(entry.status, "reset")
        assert.isTrue(entry.fault !== undefined && Fault.is("Reset")(entry.fault))
        assert.isTrue(Option.isNone(yield* platform.job(entry.id)), "no job was created")
      })
    ))

  it.effect("in memory: the sync run completes, the client sees a transport RequestError", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "run", fault: Fault.resetAfter })
      const failed = yield* Effect.flip(send("POST", "https://fal.run/fal-ai/echo", { body: { token: "m" } }))
      assert.strictEqual(failed._tag, "RequestError")
      assert.strictEqual(failed._tag === "RequestError" ? failed.reason : "", "Transport")
      const [entry] = yield* platform.httpLog
      assert.strictEqual(entry.status, "reset")
      const job = yield* platform.job(entry.id)
      assert.isTrue(Option.isSome(job))
      assert.strictEqual(Option.getOrThrow(job).status, "COMPLETED")
      assert.deepStrictEqual(Option.getOrThrow(job).input, { token: "m" })
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})

describe("Fault.rateLimited", () => {
  it.effect("a 429 with Retry-After in seconds and X-Fal-Needs-Retry on the queue", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "queue", fault: Fault.rateLimited("1500 millis") })
      const answer = yield* send("POST", "https://queue.fal.run/fal-ai/echo", { body: {} })
      assert.strictEqual(answer.status, 429)
      assert.strictEqual(answer.headers["retry-after"], "2")
      assert.strictEqual(answer.headers["x-fal-needs-retry"], "1")
      const [entry] = yield* platform.httpLog
      assert.isTrue(entry.fault !== undefined && Fault.is("Status")(entry.fault))
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("on the Platform API: the rate_limited envelope, with Retry-After", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "api", fault: Fault.rateLimited("3 seconds") })
      const answer = yield* send(
        "DELETE",
        "https://api.fal.ai/v1/models/requests/a1b2c3d4-e5f6-7890-abcd-ef1234567890/payloads",
        { key: admin }
      )
      assert.strictEqual(answer.status, 429)
      assert.strictEqual(answer.headers["retry-after"], "3")
      assert.strictEqual((answer.json as { error: { type: string } }).error.type, "rate_limited")
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})

describe("Injection.probability", () => {
  it.effect("hits a matching request when the draw is under the probability; a miss spends no use", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "run", fault: Fault.status(503), probability: 0.5, times: 2 })
      const statuses: Array<number> = []
      for (let i = 0; i < 5; i++) {
        statuses.push((yield* send("POST", "https://fal.run/fal-ai/echo", { body: { i } })).status)
      }
      // draws 0.9, 0.1, 0.7, 0.3, 0.2: the 2nd and 4th hit, then the fault's two uses are spent
      assert.deepStrictEqual(statuses, [200, 503, 200, 503, 200])
      const log = yield* platform.httpLog
      assert.deepStrictEqual(log.map((entry) => entry.fault !== undefined), [false, true, false, true, false])
    }).pipe(
      Effect.withRandom(Random.fixed([0.9, 0.1, 0.7, 0.3, 0.2])),
      Effect.provide(FalPlatform.layerClient())
    ))

  it.effect("times: Infinity keeps hitting until the faults are cleared", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "run", fault: Fault.status(503), times: Infinity })
      for (let i = 0; i < 3; i++) {
        assert.strictEqual((yield* send("POST", "https://fal.run/fal-ai/echo", { body: {} })).status, 503)
      }
      yield* platform.clearFaults
      assert.strictEqual((yield* send("POST", "https://fal.run/fal-ai/echo", { body: {} })).status, 200)
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})
