/**
 * The request history of the Platform API (`GET {api}/models/requests/by-endpoint`, SPEC
 * section 10) as the emulator answers it: a pure function over a list of request records, and
 * an `HttpRouter` route reading the records from the {@link RequestHistory} service, so any
 * record of requests (the emulator's jobs, a test's fixture) can be served.
 *
 * @since 0.1.0
 */
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Option from "effect/Option"
import * as internal from "./internal/history.js"

/**
 * One request as the platform keeps it (times in epoch milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export type HistoryRecord = internal.HistoryRecord

/**
 * A parsed query.
 *
 * @since 0.1.0
 * @category models
 */
export type HistoryQuery = internal.HistoryQuery

/**
 * A Platform API error answer: status, `type` and `message`.
 *
 * @since 0.1.0
 * @category models
 */
export type PlatformError = internal.PlatformError

/**
 * The JSON answer: `{"items", "next_cursor", "has_more"}`.
 *
 * @since 0.1.0
 * @category models
 */
export type WirePage = internal.WirePage

/**
 * Where the route reads records, the injected rate limit (`Some(seconds)` answers `429` with
 * `Retry-After`), and the platform's clock.
 *
 * @since 0.1.0
 * @category models
 */
export type Service = internal.RequestHistoryService

/**
 * @since 0.1.0
 * @category tags
 */
export const RequestHistory: typeof internal.RequestHistory = internal.RequestHistory

/**
 * The status class of a status code: `success` (2xx, 3xx), `user_error` (4xx), `error` (the rest).
 *
 * @since 0.1.0
 * @category utils
 */
export const statusClass: (statusCode: number) => "success" | "error" | "user_error" = internal.statusClass

/**
 * Reads the query parameters; a bad one is a Platform API `validation_error` (400).
 *
 * @since 0.1.0
 * @category utils
 */
export const parseQuery: (
  params: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>,
  now: number
) => Either.Either<HistoryQuery, PlatformError> = internal.parseQuery

/**
 * One page of the answer: records of the endpoint that ended in `[start, end)`, of the status
 * class, after the cursor, newest (or longest) first, at most `limit`.
 *
 * @since 0.1.0
 * @category utils
 */
export const answer: (records: Iterable<HistoryRecord>, query: HistoryQuery) => WirePage = internal.answer

/**
 * A Platform API error response (`{"error": {"type", "message"}}`).
 *
 * @since 0.1.0
 * @category utils
 */
export const errorResponse: (
  error: PlatformError,
  headers?: Readonly<Record<string, string>>
) => HttpServerResponse.HttpServerResponse = internal.errorResponse

/**
 * `429` with `Retry-After` when the throttle answers `Some`, else `undefined`.
 *
 * @since 0.1.0
 * @category utils
 */
export const throttled: (
  throttle: Effect.Effect<Option.Option<number>>
) => Effect.Effect<HttpServerResponse.HttpServerResponse | undefined> = internal.throttled

/**
 * The handler of `GET /models/requests/by-endpoint`.
 *
 * @since 0.1.0
 * @category routes
 */
export const handler: Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  internal.RequestHistory | HttpServerRequest.HttpServerRequest
> = internal.handler

/**
 * A router with the history route, to mount under the api base.
 *
 * @since 0.1.0
 * @category routes
 */
export const router: HttpRouter.HttpRouter<never, internal.RequestHistory> = internal.router
