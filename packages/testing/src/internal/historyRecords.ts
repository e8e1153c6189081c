/**
 * The request history (`RequestHistory`, SPEC section 10) answered from the platform's own job
 * records: every completed job (queued or sync) of the endpoint, as submitted, with its stored
 * payloads unless they were never stored (`X-Fal-Store-IO: 0`), deleted or expired.
 */
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as FalPlatform from "../FalPlatform.js"
import type { HistoryRecord, RequestHistoryService } from "./history.js"
import type { Job } from "./jobs.js"
import { type Env, now } from "./state.js"

/** A stored output is the body's text: JSON when it parses, else the text itself. */
const parsedOutput = (text: string | undefined): unknown => {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const toHistoryRecord = (
  job: Job,
  payload: FalPlatform.StoredPayload | undefined
): HistoryRecord => ({
  requestId: job.id,
  endpointId: job.modelId,
  sentAt: job.submittedAt,
  // a request cancelled (or timed out) while queued never started: it took no time
  startedAt: job.startedAt ?? job.completedAt ?? job.submittedAt,
  endedAt: job.status === "COMPLETED" ? job.completedAt : undefined,
  // the model's final status; a cancelled request ends 499
  statusCode: job.result?.status ?? 500,
  ...(payload === undefined ? {} : { jsonInput: payload.input, jsonOutput: parsedOutput(payload.output) })
})

/**
 * The records of one endpoint, read afresh for each page: a lazy pass over one snapshot of the
 * jobs and the payloads (nothing is copied; only the page is materialised by `answer`).
 */
export const records = (env: Env) => (endpointId: string): Effect.Effect<Iterable<HistoryRecord>> =>
  Effect.gen(function*() {
    const at = yield* now
    const { jobs } = yield* Ref.get(env.queue)
    const payloads = yield* Ref.get(env.payloads)
    return {
      *[Symbol.iterator]() {
        for (const job of HashMap.values(jobs)) {
          if (job.modelId !== endpointId || job.status !== "COMPLETED") continue
          const payload = Option.getOrUndefined(
            Option.filter(HashMap.get(payloads, job.id), (p) => at < p.expiresAt && !job.payloadsDeleted)
          )
          yield toHistoryRecord(job, payload)
        }
      }
    }
  })

/**
 * The history service of a platform. The rate limit is injected with `Fault` (an `api` fault on
 * `pathPrefix: "/models/requests/by-endpoint"`, e.g. `Fault.status(429, undefined, { headers:
 * { "retry-after": "2" } })`), so the route's own throttle never fires.
 */
export const service = (env: Env): RequestHistoryService => ({
  records: records(env),
  throttle: Effect.succeedNone,
  now
})
