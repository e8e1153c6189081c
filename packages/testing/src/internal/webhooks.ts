/**
 * Webhooks: when a queued request with `fal_webhook` completes, the platform POSTs
 * `{"request_id", "gateway_request_id", "status": "OK" | "ERROR", "payload", "error"?, "payload_error"?}`
 * to the URL, up to 10 tries over 2 hours (on the Clock), until the receiver answers 2xx.
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as FalPlatform from "../FalPlatform.js"
import type { Job } from "./jobs.js"
import { type Env, now } from "./state.js"

/** Pauses between tries: 9 gaps adding up to 2 hours. */
export const delays: ReadonlyArray<Duration.Duration> = [
  "15 seconds",
  "30 seconds",
  "1 minute",
  "2 minutes",
  "4 minutes",
  "8 minutes",
  "16 minutes",
  "32 minutes",
  "3375 seconds"
].map((d) => Duration.decode(d as Duration.DurationInput))

export const body = (job: Job): Record<string, unknown> => {
  const result = job.result
  const base = { request_id: job.id, gateway_request_id: job.id }
  if (result === undefined) return { ...base, status: "ERROR", payload: null, error: "Request did not complete" }
  let payload: unknown = null
  let payloadError: string | undefined
  try {
    payload = JSON.parse(result.body)
  } catch {
    payloadError = "Response payload is not valid JSON"
  }
  const ok = result.status >= 200 && result.status < 300
  return {
    ...base,
    status: ok ? "OK" : "ERROR",
    payload,
    ...(ok ? {} : { error: `Invalid status code: ${result.status}` }),
    ...(payloadError !== undefined ? { payload_error: payloadError } : {})
  }
}

const record = (env: Env, delivery: FalPlatform.WebhookDelivery) =>
  Ref.update(env.webhooks, (list) => [...list, delivery])

/** The redelivery schedule: a try, then one more after each of {@link delays}. */
export const schedule = Schedule.fromDelays(delays[0], ...delays.slice(1))

/**
 * POSTs the webhook body; redelivers on a non-2xx answer or a transport failure, as
 * `Effect.retry` with {@link schedule}. Every try is recorded in `webhooks`. The request is
 * built by {@link request}: the place where a signature (headers over the exact body bytes)
 * is added.
 */
export const deliver = (env: Env, job: Job, url: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const payload = body(job)
    if (Option.isNone(env.webhookClient)) {
      return yield* record(env, {
        requestId: job.id,
        url,
        body: payload,
        attempt: 1,
        at: yield* now,
        outcome: "recorded"
      })
    }
    const client = env.webhookClient.value
    const attempts = yield* Ref.make(0)
    const attempt = Effect.gen(function*() {
      const n = yield* Ref.updateAndGet(attempts, (k) => k + 1)
      const outcome = yield* client.execute(request(url, payload)).pipe(
        Effect.map((response) => response.status),
        Effect.scoped,
        Effect.orElseSucceed((): "error" => "error")
      )
      yield* record(env, { requestId: job.id, url, body: payload, attempt: n, at: yield* now, outcome })
      if (typeof outcome !== "number" || outcome < 200 || outcome >= 300) yield* Effect.fail(outcome)
    })
    yield* attempt.pipe(Effect.retry(schedule), Effect.ignore)
  })

/** The POST of one try. */
export const request = (url: string, payload: unknown): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.post(url).pipe(HttpClientRequest.setBody(HttpBody.unsafeJson(payload)))
