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
}>

const { $is, $match, Delay, MalformedBody, Reset, ResetAfter, Status } = Data.taggedEnum<Fault>()

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
 * @since 0.3.0
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
 * @since 0.3.0
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
 * Where a fault applies. `endpoint: "runner"` targets a model's runs (`modelId` required there).
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly endpoint: "run" | "queue" | "api" | "rest" | "cdn" | "storage" | "upload" | "runner"
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
 * What the gateway fails with when a {@link reset} or {@link resetAfter} fault fires: the transport renders it (the
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
