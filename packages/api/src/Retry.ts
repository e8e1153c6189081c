/**
 * When a failed call to fal is tried again, and how soon. One fal-specific predicate
 * ({@link isRetryable}) and one default schedule per operation ({@link defaults}); every call
 * accepts `retry: Schedule | false` to replace the schedule (the predicate always applies).
 *
 * Retried by default: transport failures before the request was sent (and, for operations
 * that are safe to repeat, any transport failure, including a timeout or an incomplete body on
 * a status or result read), `429` rate limits and `503`s (never sooner than `Retry-After`),
 * `502`/`503`/`504` gateway errors (also with an `error_type` this version does not know),
 * transient `error_type`s, and any answer fal marks `X-Fal-Needs-Retry: 1` or
 * `X-Fal-Retryable: true`. Never: an answer marked `X-Fal-Retryable: false`, a user
 * start-timeout `504`, a queue-full `429`, any other 4xx, an undecodable answer, and an
 * ambiguous transport failure of a submit or a run (a second one could create and bill a
 * second job). Every `FalClient` also has a retry budget shared by its calls
 * (`FalClient.RetryBudget`).
 *
 * @since 0.1.0
 */
import * as ErrorType from "@effect-fal/headers/ErrorType"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { FalError } from "./FalError.js"

/**
 * The operations of the api, each with its own default policy.
 *
 * @since 0.1.0
 * @category models
 */
export type Operation =
  | "run"
  | "submit"
  | "status"
  | "statusStream"
  | "result"
  | "cancel"
  | "delete"
  | "deleteLegacy"
  | "list"
  | "upload.initiate"
  | "upload.put"
  | "upload.part"
  | "upload.complete"
  | "jwks"
  | "tokens.create"
  | "stream"

/**
 * A retry schedule for fal calls: it sees each failure as input.
 *
 * @since 0.1.0
 * @category models
 */
export type Policy = Schedule.Schedule<unknown, FalError>

/**
 * The per-call override: a schedule (the fal predicate still decides what is retried), or
 * `false` for a single attempt.
 *
 * @since 0.1.0
 * @category models
 */
export type Override = Policy | false

/**
 * Operations that can be repeated without creating anything new: reads, cancellation, v1
 * payload deletion (which always carries one `Idempotency-Key` for all its attempts), the
 * upload steps (a repeated initiate opens an unused session; a part or a file PUT to a signed URL
 * stores the same bytes again; a complete names the same parts), and `tokens.create` (a second
 * token for the same app is only an unused short-lived credential: nothing runs, nothing is
 * billed, and it expires by itself). Not a run, a submit, a streaming call or a legacy deletion.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isIdempotent = (operation: Operation): boolean =>
  operation !== "run" && operation !== "submit" && operation !== "deleteLegacy" && operation !== "stream"

/**
 * A `Retry-After` longer than this is not waited for: the call fails with `RateLimited`.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxRetryAfter: Duration.Duration = Duration.minutes(2)

const gateway = (status: number | undefined) => status === 502 || status === 503 || status === 504

const withinMax = (after: Duration.Duration | undefined) =>
  after === undefined || Duration.lessThanOrEqualTo(after, maxRetryAfter)

/**
 * fal's own hint on an HTTP answer (SPEC sections 5 and 6): `X-Fal-Retryable: false` says the
 * same request will fail again; `X-Fal-Needs-Retry: 1` or `X-Fal-Retryable: true` says it may
 * succeed if sent again. `undefined` when fal gave no hint.
 *
 * @since 0.2.0
 * @category predicates
 */
export const hint = (error: FalError): boolean | undefined => {
  const meta = "meta" in error ? error.meta : undefined
  if (meta === undefined) return undefined
  if (meta.retryable === false) return false
  if (meta.needsRetry === true || meta.retryable === true) return true
  return undefined
}

/**
 * The fal-specific transient predicate for an operation. fal's hints ({@link hint}) come first,
 * except on a user start-timeout `504` and a queue-full `429`, which are the caller's own limits.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (operation: Operation) => (error: FalError): boolean => {
  // a streaming call runs the model as soon as fal reads it, and there is no resume: it is sent
  // again only when it cannot have been read (no connection) or fal refused it unread (429)
  if (operation === "stream") return isStreamRetryable(error)
  if (error._tag !== "StartTimeout" && error._tag !== "QueueFull") {
    const hinted = hint(error)
    if (hinted !== undefined) return hinted
  }
  switch (error._tag) {
    case "TransportError":
      return !error.mayHaveReached || isIdempotent(operation)
    case "RateLimited":
      return Option.match(error.retryAfter, {
        onNone: () => true,
        onSome: (after) => Duration.lessThanOrEqualTo(after, maxRetryAfter)
      })
    case "ServerError":
      return gateway(error.status) && withinMax(error.retryAfter)
    case "RequestFailed":
      // a gateway status with an error type this version does not know is retried like any
      // gateway error, so a new transient type from fal does not silently stop being retried
      if (gateway(error.status) && error.errorType !== undefined && !ErrorType.isKnown(error.errorType)) {
        return withinMax(error.retryAfter)
      }
      // the result endpoint replays the model's stored outcome: asking again returns the same
      return operation !== "result" && error.errorType !== undefined && ErrorType.isTransient(error.errorType) &&
        withinMax(error.retryAfter)
    default:
      return false
  }
}

/**
 * What a streaming call (`Fal.stream`) retries: a transport failure before the request was sent
 * (`mayHaveReached: false`: a refused connection) and a rate limit (`429`, fal answered before
 * reading the input), within `Retry-After`. Nothing else, whatever fal's hints say: once the
 * request may have been read, the model may be running, and sending it again would run it twice.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isStreamRetryable = (error: FalError): boolean => {
  switch (error._tag) {
    case "TransportError":
      return !error.mayHaveReached
    case "RateLimited":
      return Option.match(error.retryAfter, {
        onNone: () => true,
        onSome: (after) => Duration.lessThanOrEqualTo(after, maxRetryAfter)
      })
    default:
      return false
  }
}

/**
 * The delay fal asked for with `Retry-After` (on a `429` or a `503`), else zero.
 *
 * @since 0.1.0
 * @category getters
 */
export const retryAfter = (error: FalError): Duration.Duration => {
  switch (error._tag) {
    case "RateLimited":
      return Option.getOrElse(error.retryAfter, () => Duration.zero)
    case "ServerError":
    case "RequestFailed":
      return error.retryAfter ?? Duration.zero
    default:
      return Duration.zero
  }
}

/**
 * Exponential backoff from `base` (factor 2, each delay jittered by ±20 %, at most `cap`),
 * for at most `retries` retries.
 *
 * @since 0.1.0
 * @category constructors
 */
export const backoff = (options: {
  readonly base: Duration.DurationInput
  readonly retries: number
  readonly cap?: Duration.DurationInput | undefined
}): Schedule.Schedule<unknown> => {
  const cap = Duration.decode(options.cap ?? "30 seconds")
  return Schedule.exponential(options.base, 2).pipe(
    Schedule.jittered,
    Schedule.modifyDelay((_, delay) => Duration.min(delay, cap)),
    Schedule.intersect(Schedule.recurs(options.retries)),
    Schedule.asVoid
  )
}

/**
 * The default schedule of each operation.
 *
 * | operation | base | retries |
 * |---|---|---|
 * | run, submit | 500 ms | 3 |
 * | status, result, cancel | 250 ms | 5 |
 * | statusStream (reconnects) | 500 ms | 5 |
 * | delete, deleteLegacy | 500 ms | 3 |
 * | list (request history pages) | 250 ms | 5 |
 * | upload.initiate, upload.put, upload.part, upload.complete | 100 ms | 3 |
 * | jwks (the webhook keys: `WebhookKeys` fetches again after its refresh interval) | - | 0 |
 * | tokens.create | 250 ms | 3 |
 * | stream (only before the request was sent, or on a 429: {@link isStreamRetryable}) | 500 ms | 3 |
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaults: { readonly [K in Operation]: Schedule.Schedule<unknown> } = {
  run: backoff({ base: "500 millis", retries: 3 }),
  submit: backoff({ base: "500 millis", retries: 3 }),
  status: backoff({ base: "250 millis", retries: 5 }),
  statusStream: backoff({ base: "500 millis", retries: 5 }),
  result: backoff({ base: "250 millis", retries: 5 }),
  cancel: backoff({ base: "250 millis", retries: 5 }),
  delete: backoff({ base: "500 millis", retries: 3 }),
  deleteLegacy: backoff({ base: "500 millis", retries: 3 }),
  list: backoff({ base: "250 millis", retries: 5 }),
  "upload.initiate": backoff({ base: "100 millis", retries: 3 }),
  "upload.put": backoff({ base: "100 millis", retries: 3 }),
  "upload.part": backoff({ base: "100 millis", retries: 3 }),
  "upload.complete": backoff({ base: "100 millis", retries: 3 }),
  jwks: backoff({ base: "250 millis", retries: 0 }),
  "tokens.create": backoff({ base: "250 millis", retries: 3 }),
  stream: backoff({ base: "500 millis", retries: 3 })
}

/**
 * The effective policy of a call: the schedule (the operation's default when `undefined`),
 * continuing only while {@link isRetryable} (or `also`, a rule added for a call such as an
 * idempotent read), each delay at least the error's `Retry-After`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const policy = (
  operation: Operation,
  schedule?: Policy | undefined,
  also?: ((error: FalError) => boolean) | undefined
): Policy => {
  const retryable = isRetryable(operation)
  return (schedule ?? defaults[operation]).pipe(
    Schedule.intersect(Schedule.addDelay(Schedule.identity<FalError>(), retryAfter)),
    Schedule.whileInput(also === undefined ? retryable : (error: FalError) => retryable(error) || also(error))
  )
}
