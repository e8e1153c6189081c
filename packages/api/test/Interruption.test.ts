/**
 * 1,000 subscribes interrupted at random points, on the in-memory platform through the real
 * request path: afterwards no job is left queued or running upstream, and no submit or cancel
 * is left open at the platform.
 */
import { Queue } from "@effect-fal/api"
import { FalPlatform } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Random } from "effect"
import * as Emulator from "./utils/emulator.js"

const { echo, slow } = FalPlatform.demoModelIds

describe("interrupting subscribe", () => {
  it.live(
    "1,000 random interruptions leave no job queued or running and no submit or cancel open",
    () =>
      Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const one = (i: number) =>
          Effect.gen(function*() {
            // half the jobs finish at once, half would run for 1,000 s unless cancelled
            const mode = i % 4 < 2 ? "poll" : "stream"
            const job = i % 2 === 0
              ? Queue.subscribe(echo, { i }, { mode, pollInterval: "1 millis" })
              : Queue.subscribe(slow, { seconds: 1000 }, { mode, pollInterval: "1 millis" })
            const fiber = yield* Effect.fork(job)
            // a random point: anywhere from before the submit is sent to well after it answered
            const steps = yield* Random.nextIntBetween(0, 200)
            for (let k = 0; k < steps; k++) yield* Effect.yieldNow()
            yield* Fiber.interrupt(fiber)
          })
        yield* Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), one, { concurrency: 50, discard: true })

        const log = yield* platform.httpLog
        const created = log.filter((entry) => entry.method === "POST" && entry.status === 200)
        assert.isAbove(created.length, 100, "enough interruptions came after fal created the job")
        assert.isBelow(created.length, 1000, "enough interruptions came before the submit answered")
        const left: Array<string> = []
        for (const entry of created) {
          const record = yield* platform.job(entry.id)
          if (Option.isSome(record) && record.value.status !== "COMPLETED" && !record.value.cancelled) {
            left.push(`${entry.id} ${record.value.modelId} ${record.value.status}`)
          }
        }
        assert.deepStrictEqual(left, [], "jobs left queued or running upstream, never cancelled")
        const open = log.filter((entry) => entry.status === "pending" && entry.method !== "GET")
        assert.deepStrictEqual(
          open.map((entry) => `${entry.method} ${entry.path}`),
          [],
          "submits or cancels still open"
        )
      }).pipe(Effect.provide(Emulator.inMemory({ config: { demoRunners: 4 } }))),
    180_000
  )
})
