/**
 * The result window: how long the result endpoint still answers a completed request.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Job } from "./jobs.js"
import { payload } from "./payloads.js"
import { type Env, now } from "./state.js"

const oneHour = 60 * 60 * 1000
const sixMinutes = 6 * 60 * 1000

/**
 * Whether the result endpoint still answers a completed request: 1 hour after completion
 * (6 minutes for a body of 10 KB or more), longer while its payloads are stored.
 */
export const resultAvailable = (env: Env, job: Job): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    if (job.result === undefined || job.completedAt === undefined || job.payloadsDeleted) return false
    const stored = yield* payload(env, job.id)
    if (Option.isSome(stored) && stored.value.output !== undefined) return true
    const window = job.result.body.length >= 10 * 1024 ? sixMinutes : oneHour
    return (yield* now) < job.completedAt + window
  })
