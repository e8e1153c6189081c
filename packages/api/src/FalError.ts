/**
 * The typed failures of every call to fal, as one tagged union: {@link FalError}. Each member
 * has a plain tag to `Effect.catchTag` on, a `message`, and, where known, the request id, the
 * HTTP status and fal's `error_type`. No member ever holds a credential or a request's headers.
 *
 * @since 0.1.0
 */
import { InvalidRequestOptions } from "@effect-fal/headers/InvalidRequestOptions"
import type * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

export {
  /**
   * Request options that cannot be put on the wire. Nothing was sent.
   *
   * @since 0.1.0
   * @category errors
   */
  InvalidRequestOptions
}

/**
 * Marks every member of {@link FalError} defined here ({@link isFalError} also knows
 * `InvalidRequestOptions`, which `@effect-fal/headers` defines).
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-fal/api/FalError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The decoded response headers, kept as `ResponseMeta.fromHeaders` returned them (not validated
 * again: an error is never lost to an odd header).
 */
const Meta: Schema.Schema<ResponseMeta.ResponseMeta> = Schema.declare(
  (u: unknown): u is ResponseMeta.ResponseMeta => Predicate.isRecord(u),
  { identifier: "ResponseMeta" }
)

/**
 * What fal said about a failed request, where known.
 *
 * @since 0.1.0
 * @category models
 */
const known = {
  /** The operation that failed (`run`, `submit`, `status`, ...), where the error came from an answer. */
  operation: Schema.optional(Schema.String),
  /** The model the call addressed, where known. */
  modelId: Schema.optional(Schema.String),
  /** The request id (`x-fal-request-id`, the queue id, or the body's `request_id`). */
  requestId: Schema.optional(Schema.String),
  /** The HTTP status of the answer. */
  status: Schema.optional(Schema.Number),
  /** fal's `error_type` (`X-Fal-Error-Type` or the body), kept as it came. */
  errorType: Schema.optional(Schema.String),
  /** The error text fal sent (`detail`, `error.message` or `error`), if any, with credentials redacted. */
  detail: Schema.optional(Schema.String),
  /** Everything fal said in the answer's headers: billable units, runner, hints, retryable, needs-retry. */
  meta: Schema.optional(Meta)
}

/** A value quoted in a message, cut to a readable length (the field keeps it whole). */
const quote = (value: string): string =>
  JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value) +
  (value.length > 80 ? ` (${value.length} characters)` : "")

const suffix = (self: {
  readonly operation?: string | undefined
  readonly modelId?: string | undefined
  readonly requestId?: string | undefined
  readonly status?: number | undefined
  readonly errorType?: string | undefined
  readonly detail?: string | undefined
}): string => {
  const parts: Array<string> = []
  if (self.operation !== undefined) {
    parts.push(self.modelId === undefined ? self.operation : `${self.operation} ${quote(self.modelId)}`)
  }
  if (self.status !== undefined) parts.push(`status ${self.status}`)
  if (self.errorType !== undefined) parts.push(`error_type ${self.errorType}`)
  if (self.requestId !== undefined) parts.push(`request ${self.requestId}`)
  const context = parts.length > 0 ? ` (${parts.join(", ")})` : ""
  return self.detail !== undefined && self.detail.length > 0 ? `${context}: ${self.detail}` : context
}

/**
 * A model id that fails validation (SPEC section 2). Nothing was sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidModelId extends Schema.TaggedError<InvalidModelId>("@effect-fal/api/InvalidModelId")(
  "InvalidModelId",
  { modelId: Schema.String, reason: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Invalid model id ${quote(this.modelId)}: ${this.reason}`
  }
}

/**
 * A request id that cannot be addressed (empty, with `/`, `?`, `#` or whitespace; for payload
 * deletion: not a UUID). Nothing was sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequestId extends Schema.TaggedError<InvalidRequestId>("@effect-fal/api/InvalidRequestId")(
  "InvalidRequestId",
  { requestId: Schema.String, reason: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Invalid request id ${quote(this.requestId)}: ${this.reason}`
  }
}

/**
 * No HTTP answer: the connection failed, was reset, timed out, or a stream went silent.
 * `mayHaveReached` says whether fal may have received the request: when `true` for a submit or
 * a run, the job may exist (and be billed) although no id came back, so it was not retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>("@effect-fal/api/TransportError")(
  "TransportError",
  {
    /** The operation that failed: `run`, `submit`, `status`, ... */
    operation: Schema.String,
    mayHaveReached: Schema.Boolean,
    description: Schema.String,
    requestId: Schema.optional(Schema.String),
    /**
     * Set when the attempt ran out of time: `"headers"` (no answer in time, including the
     * connection), `"body"` (the answer's body did not arrive in time).
     */
    timeout: Schema.optional(Schema.Literal("headers", "body"))
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const reached = this.mayHaveReached
      ? this.operation === "submit" || this.operation === "run"
        ? "; the request may have reached fal and created a job, so it was not sent again"
        : "; the request may have reached fal"
      : "; the request did not reach fal"
    const id = this.requestId === undefined ? "" : ` (request ${this.requestId})`
    return `Transport failure during ${this.operation}${id}: ${this.description}${reached}`
  }
}

/**
 * The caller's start timeout (`X-Fal-Request-Timeout`) expired before a runner started the
 * request: `504` with `X-Fal-Request-Timeout-Type: user`. Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class StartTimeout extends Schema.TaggedError<StartTimeout>("@effect-fal/api/StartTimeout")(
  "StartTimeout",
  known
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The request did not start before its start timeout${suffix(this)}`
  }
}

/**
 * The endpoint's queue held more requests than `fal_max_queue_length` allowed: `429`. The
 * caller asked to fail fast, so it is never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class QueueFull extends Schema.TaggedError<QueueFull>("@effect-fal/api/QueueFull")("QueueFull", known) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The queue is longer than the maximum queue length${suffix(this)}`
  }
}

/**
 * Too many requests (`429`, e.g. the concurrency limit), with the delay fal asked for in
 * `Retry-After` when it sent one. Retried by default, never sooner than `retryAfter`.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimited extends Schema.TaggedError<RateLimited>("@effect-fal/api/RateLimited")("RateLimited", {
  ...known,
  retryAfter: Schema.OptionFromSelf(Schema.DurationFromSelf)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const after = Option.match(this.retryAfter, {
      onNone: () => "",
      onSome: (d) => `, retry after ${Duration.format(d)}`
    })
    return `Rate limited${after}${suffix(this)}`
  }
}

/**
 * The key was missing or not accepted: `401`.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>("@effect-fal/api/Unauthorized")(
  "Unauthorized",
  known
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The fal key was not accepted${suffix(this)}`
  }
}

/**
 * The key lacks the scope the call needs (e.g. a non-ADMIN key deleting payloads): `403`.
 *
 * @since 0.1.0
 * @category errors
 */
export class Forbidden extends Schema.TaggedError<Forbidden>("@effect-fal/api/Forbidden")("Forbidden", known) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The fal key is not allowed to do this${suffix(this)}`
  }
}

/**
 * No such model, request or result (`404`, e.g. an expired result, or cancelling an unknown
 * request).
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>("@effect-fal/api/NotFound")("NotFound", known) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Not found${suffix(this)}`
  }
}

/**
 * One field the model rejected.
 *
 * @since 0.1.0
 * @category models
 */
export class ValidationIssue extends Schema.Class<ValidationIssue>("@effect-fal/api/ValidationIssue")({
  /** Where: e.g. `["body", "prompt"]`. */
  loc: Schema.Array(Schema.Union(Schema.String, Schema.Number)),
  msg: Schema.String,
  type: Schema.String
}) {}

/**
 * The input was rejected: `422` with `detail` (a list of field issues, or a plain string
 * turned into one issue), or a Platform API `validation_error`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ValidationError extends Schema.TaggedError<ValidationError>("@effect-fal/api/ValidationError")(
  "ValidationError",
  { ...known, issues: Schema.Array(ValidationIssue) }
) {
  /**
   * @since 0.2.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const issues = this.issues.map((issue) => `${issue.loc.join(".")}: ${issue.msg}`).join("; ")
    return `Invalid input${suffix({ ...this, detail: issues })}`
  }
}

/**
 * The request failed with an `error_type` other than a cancellation (SPEC section 6), or with
 * a 4xx that no other member names. `ErrorType.isTransient(errorType)` says whether the same
 * request may succeed on a retry.
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestFailed extends Schema.TaggedError<RequestFailed>("@effect-fal/api/RequestFailed")(
  "RequestFailed",
  {
    ...known,
    /** The delay fal asked for in `Retry-After` on a `503`; retries wait at least this long. */
    retryAfter: Schema.optional(Schema.DurationFromSelf)
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The request failed${suffix(this)}`
  }
}

/**
 * A 5xx answer without a request `error_type` (gateway or platform failure), or a Platform API
 * `not_implemented`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerError extends Schema.TaggedError<ServerError>("@effect-fal/api/ServerError")(
  "ServerError",
  {
    ...known,
    /** The delay fal asked for in `Retry-After` on a `503`; retries wait at least this long. */
    retryAfter: Schema.optional(Schema.DurationFromSelf)
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `fal answered with a server error${suffix(this)}`
  }
}

/**
 * An answer that could not be read: not JSON, or not the expected shape (including an output
 * `Schema` the model's JSON does not satisfy).
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Schema.TaggedError<DecodeError>("@effect-fal/api/DecodeError")("DecodeError", {
  ...known,
  operation: Schema.String,
  description: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Could not decode the answer to ${this.operation}${suffix(this)}: ${this.description}`
  }
}

/**
 * The request was cancelled (`error_type` `client_cancelled`), e.g. its result was asked for
 * after a cancellation.
 *
 * @since 0.1.0
 * @category errors
 */
export class Cancelled extends Schema.TaggedError<Cancelled>("@effect-fal/api/Cancelled")("Cancelled", known) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The request was cancelled${suffix(this)}`
  }
}

/**
 * The call's `deadline` (the whole call, retries and their delays included) passed before it
 * ended. Carries the request id when one was known, so a queued job can be resumed or cancelled.
 *
 * @since 0.2.0
 * @category errors
 */
export class DeadlineExceeded extends Schema.TaggedError<DeadlineExceeded>("@effect-fal/api/DeadlineExceeded")(
  "DeadlineExceeded",
  {
    operation: Schema.String,
    deadline: Schema.DurationFromSelf,
    requestId: Schema.optional(Schema.String),
    /** Whether a request of this call may have reached fal (for a run or a submit: a job may exist). */
    mayHaveReached: Schema.Boolean
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.2.0
   */
  override get message(): string {
    const id = this.requestId === undefined ? "" : ` (request ${this.requestId})`
    const reached = this.mayHaveReached ? "; a request may have reached fal" : "; nothing reached fal"
    return `${this.operation} did not end within its deadline of ${Duration.format(this.deadline)}${id}${reached}`
  }
}

/**
 * `FalClient` options that cannot work: a key with a control character (it could never be sent
 * as a header), or a base URL that is not an absolute http(s) URL. Raised when the client is
 * built, before any call.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidConfiguration extends Schema.TaggedError<InvalidConfiguration>(
  "@effect-fal/api/InvalidConfiguration"
)("InvalidConfiguration", { option: Schema.String, reason: Schema.String }) {
  /**
   * @since 0.2.0
   */
  override get message(): string {
    return `Invalid FalClient option ${this.option}: ${this.reason}`
  }
}

/**
 * Every failure of the api, to `catchTag` on.
 *
 * @since 0.1.0
 * @category errors
 */
export type FalError =
  | InvalidRequestOptions
  | InvalidModelId
  | InvalidRequestId
  | TransportError
  | StartTimeout
  | QueueFull
  | RateLimited
  | Unauthorized
  | Forbidden
  | NotFound
  | ValidationError
  | RequestFailed
  | ServerError
  | DecodeError
  | Cancelled
  | DeadlineExceeded

/**
 * @since 0.1.0
 * @category guards
 */
export const isFalError = (u: unknown): u is FalError =>
  Predicate.hasProperty(u, TypeId) || u instanceof InvalidRequestOptions

/**
 * The request id an error carries, if any.
 *
 * @since 0.1.0
 * @category getters
 */
export const requestId = (error: FalError): Option.Option<string> =>
  "requestId" in error && error._tag !== "InvalidRequestId" ? Option.fromNullable(error.requestId) : Option.none()
