/**
 * Admission is one atomic step: concurrent submits with `fal_max_queue_length` never let the
 * model's queue exceed the limit. `REPEAT=99 npx vitest run packages/testing/test/concurrency.test.ts`
 * runs each case 100 times in a row.
 */
import { FalPlatform } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { call, withEmulator } from "./utils/fetch.js"
import { send } from "./utils/memory.js"

const repeat = Number(process.env.REPEAT ?? "0")
/** Room for the repeated runs; one run takes about a second. */
const timeout = 30_000 + repeat * 5_000
const submits = 40
const limit = 3

/** Fires `submits` concurrent submits to fal-ai/slow (one runner) and checks the queue. */
const fire = <R>(
  post: (url: string) => Effect.Effect<{ readonly status: number; readonly json: unknown }, never, R>,
  queueBase: string,
  platform: FalPlatform.Service
) =>
  Effect.gen(function*() {
    const answers = yield* Effect.forEach(
      Array.from({ length: submits }),
      () => post(`${queueBase}/fal-ai/slow?fal_max_queue_length=${limit}`),
      { concurrency: "unbounded" }
    )
    const accepted = answers.filter((a) => a.status === 200)
    assert.strictEqual(accepted.length + answers.filter((a) => a.status === 429).length, submits)
    const jobs = yield* Effect.forEach(accepted, (a) => platform.job((a.json as { request_id: string }).request_id))
    const waiting = jobs.filter((j) => Option.isSome(j) && j.value.status === "IN_QUEUE").length
    // 429 once the queue holds more than `limit` waiting: at most limit + 1 wait, one runs
    assert.strictEqual(waiting, limit + 1)
    assert.strictEqual(accepted.length, limit + 2)
  })

describe("fal_max_queue_length under concurrent submits", () => {
  it.effect("in memory: the queue never exceeds the limit", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* fire(
        (url) => Effect.orDie(send("POST", url, { body: { seconds: 1000 } })),
        FalPlatform.defaultUrls.queue,
        platform
      )
    }).pipe(
      Effect.provide(FalPlatform.layerClient()),
      Effect.repeatN(repeat)
    ), timeout)

  it.live(
    "over loopback HTTP: the queue never exceeds the limit",
    () =>
      withEmulator((urls, platform) =>
        fire((url) => call("POST", url, { body: { seconds: 1000 } }), urls.queue, platform)
      ).pipe(Effect.repeatN(repeat)),
    timeout
  )
})
