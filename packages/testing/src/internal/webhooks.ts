/**
 * Webhooks: when a queued request with `fal_webhook` completes, the platform POSTs
 * `{"request_id", "gateway_request_id", "status": "OK" | "ERROR", "payload", "error"?, "payload_error"?}`
 * to the URL, up to 10 tries over 2 hours (on the Clock), until the receiver answers 2xx.
 *
 * Every try is signed as SPEC section 9 says (the platform's `WebhookSigner`, a fresh timestamp
 * per try) over the exact bytes POSTed: the body is serialized once per delivery. The POST carries
 * the four `X-Fal-Webhook-*` headers and `content-type`, and no trace context of the client that
 * submitted the job (fal's deliveries carry none).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as FalPlatform from "../FalPlatform.js"
import * as WebhookSigner from "../WebhookSigner.js"
import * as Auth from "./auth.js"
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

/** What a platform signs deliveries with: one signer, and one stable user id per API key. */
export interface Signing {
  readonly signer: WebhookSigner.Service
  /** API key -> the user id sent in `X-Fal-Webhook-User-Id`. */
  readonly userIds: ReadonlyMap<string, string>
}

export const makeSigning = (
  keys: ReadonlyArray<FalPlatform.ApiKey>,
  key: WebhookSigner.PrivateJwk | undefined
): Effect.Effect<Signing> =>
  Effect.map(WebhookSigner.make({ key }), (signer) => ({
    signer,
    userIds: new Map(keys.map(({ key }) => [key, globalThis.crypto.randomUUID()]))
  }))

/** The user id of the key in an `Authorization` header (`""` for a key the platform does not know). */
export const userIdOf = (signing: Signing, authorization: string | undefined): string => {
  const key = Auth.keyOf(authorization)
  return key === undefined ? "" : signing.userIds.get(key) ?? ""
}

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

const encoder = new TextEncoder()

/**
 * POSTs the webhook body; redelivers on a non-2xx answer or a transport failure, as
 * `Effect.retry` with {@link schedule}. Every try is signed afresh and recorded in `webhooks`.
 */
export const deliver = (env: Env, job: Job, url: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const payload = body(job)
    const bytes = encoder.encode(JSON.stringify(payload))
    const sign = env.webhookSigning.signer.sign({ requestId: job.id, userId: job.userId, body: bytes })
    if (Option.isNone(env.webhookClient)) {
      return yield* record(env, {
        requestId: job.id,
        url,
        body: payload,
        headers: yield* sign,
        attempt: 1,
        at: yield* now,
        outcome: "recorded"
      })
    }
    // fal's deliveries carry no trace context: the platform's client must not add its own.
    const client = HttpClient.withTracerPropagation(env.webhookClient.value, false)
    const attempts = yield* Ref.make(0)
    const attempt = Effect.gen(function*() {
      const n = yield* Ref.updateAndGet(attempts, (k) => k + 1)
      const headers = yield* sign
      const outcome = yield* client.execute(request(url, bytes, headers)).pipe(
        Effect.map((response) => response.status),
        Effect.scoped,
        Effect.orElseSucceed((): "error" => "error")
      )
      yield* record(env, { requestId: job.id, url, body: payload, headers, attempt: n, at: yield* now, outcome })
      if (typeof outcome !== "number" || outcome < 200 || outcome >= 300) yield* Effect.fail(outcome)
    })
    yield* attempt.pipe(Effect.retry(schedule), Effect.ignore)
  })

/** The POST of one try: exactly `body`, with the signed headers. */
export const request = (
  url: string,
  body: Uint8Array,
  headers: WebhookSigner.SignedHeaders
): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.post(url).pipe(
    HttpClientRequest.setHeaders(headers),
    HttpClientRequest.bodyUint8Array(body, "application/json")
  )
