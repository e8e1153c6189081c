import * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as FalError from "../FalError.js"
import type { Operation } from "../Retry.js"

/** Codes meaning the connection was never established: the request cannot have reached fal. */
const notSent = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CONNECT"
])

const causeCodes = (cause: unknown): Array<string> => {
  const codes: Array<string> = []
  const seen = new Set<unknown>()
  let current = cause
  while (Predicate.isObject(current) && !seen.has(current)) {
    seen.add(current)
    if (Predicate.hasProperty(current, "code") && typeof current.code === "string") codes.push(current.code)
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  return codes
}

const causeMessage = (cause: unknown): string | undefined =>
  Predicate.hasProperty(cause, "message") && typeof cause.message === "string" ? cause.message : undefined

/** Truncates server text: error values stay small and printable. */
export const clip = (text: string, max = 500): string => (text.length > max ? `${text.slice(0, max)}…` : text)

/** A platform `RequestError` or `ResponseError` without a status as a `TransportError`. */
export const transport = (
  operation: Operation,
  error: HttpClientError.HttpClientError,
  requestId: string | undefined
): FalError.TransportError => {
  const codes = causeCodes(error.cause)
  const mayHaveReached = error._tag === "ResponseError" ||
    (error.reason === "Transport" && !codes.some((code) => notSent.has(code)))
  const what = error.description ?? causeMessage(error.cause) ?? `${error.reason} error`
  const description = codes.length > 0 ? `${error.reason}: ${what} [${codes.join(", ")}]` : `${error.reason}: ${what}`
  return new FalError.TransportError({
    operation,
    mayHaveReached,
    description: clip(description),
    ...(requestId === undefined ? {} : { requestId })
  })
}

interface Body {
  readonly detail?: string
  readonly issues?: ReadonlyArray<FalError.ValidationIssue>
  readonly errorType?: string
  readonly requestId?: string
}

const str = (u: unknown): string | undefined => (typeof u === "string" && u.length > 0 ? u : undefined)

const issue = (u: unknown): FalError.ValidationIssue | undefined => {
  if (!Predicate.isRecord(u)) return undefined
  const loc = Array.isArray(u.loc)
    ? u.loc.filter((part): part is string | number => typeof part === "string" || typeof part === "number")
    : []
  return new FalError.ValidationIssue({ loc, msg: str(u.msg) ?? "invalid", type: str(u.type) ?? "value_error" })
}

/** Reads what it can out of an error body, whatever its shape; never fails. */
export const parseBody = (text: string): Body => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    const trimmed = text.trim()
    return trimmed.length > 0 ? { detail: clip(trimmed) } : {}
  }
  if (!Predicate.isRecord(json)) return {}
  const out: { -readonly [K in keyof Body]: Body[K] } = {}
  const errorType = str(json.error_type)
  if (errorType !== undefined) out.errorType = errorType
  const requestId = str(json.request_id)
  if (requestId !== undefined) out.requestId = requestId
  if (typeof json.detail === "string") {
    out.detail = clip(json.detail)
  } else if (Array.isArray(json.detail)) {
    const issues = json.detail.map(issue).filter(Predicate.isNotUndefined)
    out.issues = issues
    out.detail = clip(issues.map((i) => `${i.loc.join(".")}: ${i.msg}`).join("; "))
  }
  if (Predicate.isRecord(json.error)) {
    // Platform API: {"error": {"type", "message", "request_id"?}}
    const message = str(json.error.message)
    if (message !== undefined && out.detail === undefined) out.detail = clip(message)
    const type = str(json.error.type)
    if (type !== undefined && out.errorType === undefined) out.errorType = type
    const id = str(json.error.request_id)
    if (id !== undefined && out.requestId === undefined) out.requestId = id
  } else if (typeof json.error === "string" && out.detail === undefined) {
    out.detail = clip(json.error)
  }
  return out
}

/**
 * `Retry-After` as seconds or an HTTP date, relative to the Effect clock. A value past a day (a
 * 400-digit number, a date years ahead) is read as a day: finite, and far past
 * `Retry.maxRetryAfter`, so the call is not retried rather than waiting for ever.
 */
export const retryAfter = (value: string | undefined): Effect.Effect<Option.Option<Duration.Duration>> => {
  if (value === undefined) return Effect.succeed(Option.none())
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Effect.succeed(Option.some(capped(Number(trimmed) * 1000)))
  const date = Date.parse(trimmed)
  if (Number.isNaN(date)) return Effect.succeed(Option.none())
  return Effect.map(Clock.currentTimeMillis, (now) => Option.some(capped(date - now)))
}

const longestRetryAfter = 24 * 60 * 60 * 1000

const capped = (millis: number): Duration.Duration =>
  Duration.millis(Number.isFinite(millis) ? Math.min(Math.max(0, millis), longestRetryAfter) : longestRetryAfter)

/** Platform API error types that are not request error types (SPEC section 3). */
const platformTypes = new Set([
  "authorization_error",
  "validation_error",
  "not_found",
  "rate_limited",
  "server_error",
  "not_implemented"
])

export interface Context {
  readonly operation: Operation
  readonly modelId?: string | undefined
  readonly requestId?: string | undefined
  /** The call set `fal_max_queue_length`: a 429 without `X-Fal-Needs-Retry: 1` means queue full. */
  readonly maxQueueLength?: boolean | undefined
}

/**
 * The `FalError` for a non-success answer (SPEC sections 3, 5 and 6), carrying the decoded
 * response headers as `meta`. The body is parsed as it came: credentials are redacted from the
 * finished error by the call (`Redact.error`), never from the text before parsing.
 */
export const fromStatus = (
  context: Context,
  status: number,
  headers: HttpClientResponse.HttpClientResponse["headers"],
  text: string
): Effect.Effect<never, FalError.FalError> => {
  const meta = ResponseMeta.fromHeaders(headers)
  const body = parseBody(text)
  const requestId = context.requestId ?? meta.requestId ?? body.requestId
  const errorType = meta.errorType ?? body.errorType
  const fields = {
    operation: context.operation,
    ...(context.modelId === undefined ? {} : { modelId: context.modelId }),
    status,
    ...(requestId === undefined ? {} : { requestId }),
    ...(errorType === undefined ? {} : { errorType }),
    ...(body.detail === undefined ? {} : { detail: body.detail }),
    meta
  }
  if (status === 504 && meta.timeoutType === "user") return Effect.fail(new FalError.StartTimeout(fields))
  if (status === 401) return Effect.fail(new FalError.Unauthorized(fields))
  if (status === 403) return Effect.fail(new FalError.Forbidden(fields))
  if (status === 404) return Effect.fail(new FalError.NotFound(fields))
  if (status === 429) {
    if (
      (context.operation === "submit" || context.operation === "run") && context.maxQueueLength === true &&
      meta.needsRetry !== true
    ) {
      return Effect.fail(new FalError.QueueFull(fields))
    }
    return Effect.flatMap(
      retryAfter(headers["retry-after"]),
      (after) => Effect.fail(new FalError.RateLimited({ ...fields, retryAfter: after }))
    )
  }
  if (status === 422 || (status === 400 && errorType === "validation_error")) {
    const issues = body.issues ??
      [new FalError.ValidationIssue({ loc: [], msg: body.detail ?? "invalid input", type: "value_error" })]
    return Effect.fail(new FalError.ValidationError({ ...fields, issues }))
  }
  if (errorType === "client_cancelled") return Effect.fail(new FalError.Cancelled(fields))
  // `Retry-After` is honoured on a 503 as on a 429
  const after = status === 503 ? retryAfter(headers["retry-after"]) : Effect.succeed(Option.none())
  return Effect.flatMap(after, (delay): Effect.Effect<never, FalError.FalError> => {
    const withDelay = Option.isSome(delay) ? { ...fields, retryAfter: delay.value } : fields
    if (errorType !== undefined && !platformTypes.has(errorType)) {
      return Effect.fail(new FalError.RequestFailed(withDelay))
    }
    if (status >= 500 || errorType === "not_implemented") return Effect.fail(new FalError.ServerError(withDelay))
    return Effect.fail(new FalError.RequestFailed(withDelay))
  })
}
