/**
 * The category fal gives a failed request, in the `X-Fal-Error-Type` response header and the
 * `error_type` field of error bodies. The thirteen documented types are known; any other
 * string still decodes and is kept as it came.
 *
 * @since 0.1.0
 */
import * as Record from "effect/Record"
import * as Schema from "effect/Schema"

/**
 * The documented request error types, with their usual HTTP status and whether retrying the
 * same request may succeed.
 *
 * @since 0.1.0
 * @category constants
 */
export const known = {
  request_timeout: { status: 504, transient: true },
  startup_timeout: { status: 504, transient: true },
  runner_scheduling_failure: { status: 503, transient: true },
  runner_connection_timeout: { status: 503, transient: true },
  runner_disconnected: { status: 503, transient: true },
  runner_connection_refused: { status: 503, transient: true },
  runner_connection_error: { status: 503, transient: true },
  runner_incomplete_response: { status: 502, transient: true },
  runner_server_error: { status: 500, transient: false },
  client_disconnected: { status: 499, transient: false },
  client_cancelled: { status: 499, transient: false },
  bad_request: { status: 400, transient: false },
  internal_error: { status: 500, transient: false }
} as const satisfies Record<string, { readonly status: number; readonly transient: boolean }>

/**
 * One of the documented error types.
 *
 * @since 0.1.0
 * @category models
 */
export type Known = keyof typeof known

/**
 * A documented error type, or any other string fal sends (kept as it came).
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorType = Known | (string & {})

/**
 * Every documented error type, in the order of fal's reference.
 *
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<Known> = Record.keys(known)

/**
 * @since 0.1.0
 * @category wire
 */
export const name = "X-Fal-Error-Type"

/**
 * @since 0.1.0
 * @category guards
 */
export const isKnown = (errorType: string): errorType is Known => Object.hasOwn(known, errorType)

/**
 * Whether a failure of this type may succeed on a retry of the same request: timeouts and
 * runner connection failures are transient; server errors, client cancellations and bad
 * requests are not. Unknown types are not transient.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransient = (errorType: ErrorType): boolean => isKnown(errorType) && known[errorType].transient

/**
 * The HTTP status fal usually answers with for this type, if the type is documented.
 *
 * @since 0.1.0
 * @category getters
 */
export const usualStatus = (errorType: ErrorType): number | undefined =>
  isKnown(errorType) ? known[errorType].status : undefined

/**
 * Any non-empty string; documented types are generated more often by the arbitrary.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Schema<ErrorType> = Schema.String.pipe(
  Schema.pattern(/^[\x21-\x7e]+$/),
  Schema.annotations({
    identifier: "ErrorType",
    arbitrary: () => (fc) => fc.oneof(fc.constantFrom(...all), fc.stringMatching(/^[a-z][a-z_]{0,24}$/))
  })
)
