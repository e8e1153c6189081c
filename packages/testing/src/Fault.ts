/**
 * Fault injection: the next `times` requests matching a target fail in a chosen way.
 *
 * An injection hits the next `times` matching requests, or, with `probability`, each matching
 * request with that probability (drawn from the Effect `Random` of the fiber serving it) until
 * `times` uses are spent (`Infinity`: until cleared). Each request hit records its fault in the
 * HTTP request log (`HttpLogEntry.fault`).
 *
 * Two kinds of target:
 * - an HTTP endpoint (`"run"`, `"queue"`, `"api"`, `"rest"`, `"cdn"`, optionally narrowed by
 *   method and path prefix or model id): the gateway answers with the fault before routing,
 *   except {@link resetAfter}, which lets the request be handled and then drops the connection;
 * - `"runner"`: the next attempts of a model on its runners fail, so the queue's server-side
 *   retries (503/504/connection failures, up to 10 attempts) come into play.
 *
 * A target can be narrowed to one {@link Operation} (`operation: "status"`, `"partPut"`, ...),
 * and {@link target} builds one from the operation alone.
 *
 * Answers lost after the state change (the request was applied, the client cannot know it):
 * - {@link resetAfter}: no answer at all (the socket is destroyed before the status line);
 * - {@link cutShort}: the status line, the headers and part of the body, then the connection is
 *   cut (the client sees a 200 whose body cannot be read);
 * - on reads, a {@link status} `500`/`502`/`504` once, and {@link closeStreamAfter} for a proxy
 *   that closes long-lived status streams.
 *
 * What a repeated request meets after its first answer was lost (the storage routes keep the
 * session of an applied upload, as a real pre-signed URL stays valid until it expires):
 * - a single `PUT` to the same signed URL stores the bytes again and answers `200`;
 * - a part `PUT` stores the part again and answers the same `{"partNumber", "etag"}`;
 * - a `complete` listing the same parts answers `200` with the same `{"file_url"}` (a completion
 *   is not distinguishable from its repetition); listing other parts answers `409`; a part `PUT`
 *   after completion answers `404`;
 * - a second initiate is a new upload with new URLs (the first one is left unused);
 * - a v1 payload deletion applied already answers `200` with the same body when it carries the
 *   same `Idempotency-Key`; without one (and on the legacy route) `200` with each output link's
 *   `exception: "File not found"`.
 *
 * @example
 * ```ts
 * import { FalPlatform, Fault } from "@effect-fal/testing"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const platform = yield* FalPlatform.FalPlatform
 *   // the next 2 submits to fal-ai/echo answer 503 runner_scheduling_failure
 *   yield* platform.injectFault({
 *     endpoint: "queue",
 *     modelId: "fal-ai/echo",
 *     times: 2,
 *     fault: Fault.status(503, "runner_scheduling_failure")
 *   })
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"

/**
 * @since 0.1.0
 * @category models
 */
export type Fault = Data.TaggedEnum<{
  /** Answer with this status, `{"detail", "error_type"}` and `X-Fal-Error-Type`. */
  Status: {
    readonly status: number
    readonly errorType: string | undefined
    readonly detail: string
    readonly headers: Readonly<Record<string, string>>
  }
  /** Destroy the connection without an answer (in memory: a transport `RequestError`). */
  Reset: {}
  /**
   * Handle the request (a job is created, a deletion applied), then destroy the connection
   * without sending the answer (in memory: a transport `RequestError`, as for {@link Reset}).
   */
  ResetAfter: {}
  /** Wait this long (on the platform's Clock), then proceed normally. */
  Delay: { readonly duration: Duration.DurationInput }
  /** Answer `200` with a truncated JSON body. */
  MalformedBody: {}
  /**
   * Handle the request, send the answer's status line, headers and its first `bytes` bytes of
   * body (`undefined`: half of it, at least one byte short), then cut the connection (in memory:
   * the body stream fails, so reading it fails with a `ResponseError`).
   */
  CutShort: { readonly bytes: number | undefined }
  /**
   * Answer normally, but end a streamed body (the SSE status stream) `duration` after it
   * started, on the Clock of the fiber streaming it: cleanly (the stream ends without its last
   * event), or, `abrupt`, by cutting the connection.
   */
  CloseStreamAfter: { readonly duration: Duration.DurationInput; readonly abrupt: boolean }
}>

const { $is, $match, CloseStreamAfter, CutShort, Delay, MalformedBody, Reset, ResetAfter, Status } = Data
  .taggedEnum<Fault>()

export {
  /**
   * @since 0.1.0
   * @category guards
   */
  $is as is,
  /**
   * @since 0.1.0
   * @category pattern matching
   */
  $match as match
}

/**
 * An answer with `status` and, when given, `error_type`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const status = (
  status: number,
  errorType?: string,
  options?: { readonly detail?: string; readonly headers?: Readonly<Record<string, string>> }
): Fault =>
  Status({
    status,
    errorType,
    detail: options?.detail ?? (errorType === undefined ? `Injected failure ${status}` : `Injected ${errorType}`),
    headers: options?.headers ?? {}
  })

/**
 * A `429` with `Retry-After` (whole seconds, rounded up) and `X-Fal-Needs-Retry: 1`, as fal
 * answers a concurrency limit; on the Platform API, its `rate_limited` envelope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const rateLimited = (retryAfter: Duration.DurationInput): Fault =>
  status(429, undefined, {
    detail: "Injected rate limit",
    headers: {
      "retry-after": String(Math.ceil(Duration.toMillis(Duration.decode(retryAfter)) / 1000)),
      "x-fal-needs-retry": "1"
    }
  })

/**
 * A connection reset before the request is read: the socket is destroyed, nothing is handled.
 *
 * @since 0.1.0
 * @category constructors
 */
export const reset: Fault = Reset()

/**
 * A connection reset after the request was handled: the route runs (a submit creates its job, a
 * deletion is applied, a sync run completes), then the socket is destroyed without an answer.
 * The caller cannot tell it from {@link reset}; the platform's state can.
 *
 * @since 0.2.0
 * @category constructors
 */
export const resetAfter: Fault = ResetAfter()

/**
 * A delay before the request is handled.
 *
 * @since 0.1.0
 * @category constructors
 */
export const delay = (duration: Duration.DurationInput): Fault => Delay({ duration })

/**
 * A `200` whose JSON body is cut short.
 *
 * @since 0.1.0
 * @category constructors
 */
export const malformedBody: Fault = MalformedBody()

/**
 * A request handled, its status line, headers and part of its body sent, then the connection
 * cut: the state changed (an upload stored, a deletion applied), the client received a `200`
 * whose body it cannot read. `bytes`: how much of the body is sent (default: half of it, at least
 * one byte short of the whole).
 *
 * @since 0.2.0
 * @category constructors
 */
export const cutShort = (options?: { readonly bytes?: number | undefined }): Fault =>
  CutShort({ bytes: options?.bytes })

/**
 * A proxy closing long-lived connections: a streamed answer (the SSE status stream) ends
 * `duration` after it began, on the Clock of the fiber streaming it (the caller's `TestClock` in
 * memory), before its last event. `abrupt: true` cuts the connection instead of ending the
 * stream cleanly. With `times: Infinity`, every status stream is closed so.
 *
 * @since 0.2.0
 * @category constructors
 */
export const closeStreamAfter = (
  duration: Duration.DurationInput,
  options?: { readonly abrupt?: boolean | undefined }
): Fault => CloseStreamAfter({ duration, abrupt: options?.abrupt ?? false })

/**
 * One kind of request on the platform, for narrowing a {@link Target}:
 * - `run`: `POST {run}/{model}`;
 * - queue: `submit` (`POST {queue}/{model}`), `status` (`GET .../requests/{id}/status`),
 *   `statusStream` (`GET .../status/stream`), `result` (`GET .../requests/{id}` or `/response`),
 *   `cancel` (`PUT .../cancel`);
 * - storage (SPEC section 8): `uploadInitiate`, `multipartInitiate`, `uploadPut` (the single
 *   `PUT` to the signed URL), `partPut`, `multipartComplete`, and `cdnGet`;
 * - `payloadsDelete` (`DELETE {api}/models/requests/{id}/payloads`), `payloadsDeleteLegacy`
 *   (`PUT {rest}/requests/delete_io/{id}`), `history` (`GET {api}/models/requests/by-endpoint`).
 *
 * @since 0.2.0
 * @category models
 */
export type Operation =
  | "run"
  | "submit"
  | "status"
  | "statusStream"
  | "result"
  | "cancel"
  | "uploadInitiate"
  | "multipartInitiate"
  | "uploadPut"
  | "partPut"
  | "multipartComplete"
  | "cdnGet"
  | "payloadsDelete"
  | "payloadsDeleteLegacy"
  | "history"

/**
 * The base each {@link Operation} is served on.
 *
 * @since 0.2.0
 * @category models
 */
export const operationEndpoint: { readonly [O in Operation]: Target["endpoint"] } = {
  run: "run",
  submit: "queue",
  status: "queue",
  statusStream: "queue",
  result: "queue",
  cancel: "queue",
  uploadInitiate: "storage",
  multipartInitiate: "storage",
  uploadPut: "upload",
  partPut: "upload",
  multipartComplete: "upload",
  cdnGet: "cdn",
  payloadsDelete: "api",
  payloadsDeleteLegacy: "rest",
  history: "api"
}

/**
 * The target of one operation (optionally of one model), its endpoint filled in.
 *
 * @example
 * ```ts
 * import { Fault } from "@effect-fal/testing"
 *
 * // the next complete of a multipart upload is applied, then its answer is lost
 * const injection: Fault.Injection = { ...Fault.target("multipartComplete"), fault: Fault.resetAfter }
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const target = (
  operation: Operation,
  options?: { readonly modelId?: string | undefined }
): Target => ({
  endpoint: operationEndpoint[operation],
  operation,
  ...(options?.modelId === undefined ? {} : { modelId: options.modelId })
})

/**
 * Where a fault applies. `endpoint: "runner"` targets a model's runs (`modelId` required there).
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly endpoint: "run" | "queue" | "api" | "rest" | "cdn" | "storage" | "upload" | "runner"
  /** Only this kind of request (see {@link Operation}); it must be served on `endpoint`. */
  readonly operation?: Operation | undefined
  /** Only requests for this model id (its `owner/app` for status/result/cancel). */
  readonly modelId?: string | undefined
  /** Only this HTTP method. */
  readonly method?: string | undefined
  /** Only paths (relative to the base) starting with this. */
  readonly pathPrefix?: string | undefined
}

/**
 * A fault and where and how often it applies.
 *
 * @since 0.1.0
 * @category models
 */
export interface Injection extends Target {
  readonly fault: Fault
  /** How many matching requests fail. Default 1; `Infinity` until the faults are cleared. */
  readonly times?: number | undefined
  /**
   * The chance (0 to 1) that a matching request is hit; a request not hit spends no use.
   * Drawn from the Effect `Random` of the fiber serving the request. Default 1.
   */
  readonly probability?: number | undefined
}

/**
 * What the gateway fails with when a {@link reset} or {@link resetAfter} fault fires (and what
 * the body of a {@link cutShort} answer fails with): the transport renders it (the
 * loopback server destroys the socket; the in-memory client fails with a transport
 * `RequestError`). An `HttpServer` of your own that mounts the gateway renders it as a 500
 * unless it handles this tag.
 *
 * @since 0.2.0
 * @category errors
 */
export class ConnectionReset extends Data.TaggedError("ConnectionReset")<{}> {
  override get message(): string {
    return "connection reset by the fal platform emulator (injected fault)"
  }
}
