/**
 * Cancel and dispatch are one atomic step. The invariant: a cancel answered
 * `CANCELLATION_REQUESTED` always ends the request as the 499 cancellation (its model either
 * never starts, or is interrupted, or its output is discarded), and `ALREADY_COMPLETED` is
 * answered only for a request that completed with its model's answer. Cancels land at every
 * phase: waiting, between dispatch and the start of the attempt, during it, after it.
 */
import { FalPlatform, Model } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import { send, submit } from "./utils/memory.js"

const rounds = 10
const perRound = 12

describe("cancel racing dispatch", () => {
  it.effect(
    "CANCELLATION_REQUESTED always ends as the 499 cancellation, ALREADY_COMPLETED only after a real answer",
    () =>
      Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const finished = yield* Ref.make(0)
        yield* platform.register(Model.make({
          id: "acme/quick",
          input: Schema.Struct({ spin: Schema.Number }),
          runners: 3,
          // Yields (20 per unit of spin): an attempt spans many scheduler turns, so cancels land inside it
          // as well as before it (waiting for one of the 3 runners) and after it.
          handler: ({ spin }) =>
            Effect.zipRight(
              Effect.forEach(Array.from({ length: spin * 20 }), () => Effect.yieldNow(), { discard: true }),
              Effect.as(Ref.update(finished, (n) => n + 1), { ok: true })
            )
        }))
        const outcomes = { requested: 0, completed: 0, startedThenCancelled: 0 }
        for (let round = 0; round < rounds; round++) {
          const answers = yield* Effect.forEach(
            Array.from({ length: perRound }, (_, i) => i),
            (i) =>
              Effect.gen(function*() {
                const job = yield* submit("acme/quick", { spin: i % 4 })
                // Cancel after a varying number of scheduler turns: before, during and after dispatch.
                yield* Effect.forEach(Array.from({ length: (i * 7 + round) % 9 }), () => Effect.yieldNow(), {
                  discard: true
                })
                const answer = yield* send("PUT", job.cancel_url)
                return { id: job.request_id, answer }
              }),
            { concurrency: "unbounded" }
          )
          for (const { answer, id } of answers) {
            const record = yield* platform.awaitStatus(id, "COMPLETED")
            const status = (answer.json as { status: string }).status
            if (answer.status === 202) {
              assert.strictEqual(status, "CANCELLATION_REQUESTED")
              assert.strictEqual(record.result?.status, 499, `${id} was answered CANCELLATION_REQUESTED`)
              assert.strictEqual(record.result?.errorType, "client_cancelled")
              assert.isTrue(record.cancelled)
              outcomes.requested++
              if (record.startedAt !== undefined) outcomes.startedThenCancelled++
            } else {
              assert.strictEqual(answer.status, 400, JSON.stringify(answer.json))
              assert.strictEqual(status, "ALREADY_COMPLETED")
              assert.strictEqual(record.result?.status, 200, `${id} was answered ALREADY_COMPLETED`)
              outcomes.completed++
            }
          }
        }
        // The race was exercised: cancels landed while waiting or running and after completion.
        assert.isAbove(outcomes.requested, 0)
        assert.isAbove(outcomes.completed, 0)
        assert.isAbove(outcomes.startedThenCancelled, 0)
        // Only requests answered ALREADY_COMPLETED may have had their model's answer.
        assert.isAtLeast(yield* Ref.get(finished), outcomes.completed)
      }).pipe(Effect.provide(FalPlatform.layerClient())),
    60_000
  )
})
