/**
 * The request history of an endpoint (Platform API, `GET {api}/models/requests/by-endpoint`):
 * a lazy `Stream` of typed records, page by page along `next_cursor`, with `429` rate limits
 * waited out on the Effect clock. Reads with the admin key when one is configured (like payload
 * deletion, which it is usually paired with), else the key.
 *
 * @example
 * ```ts
 * import { Requests } from "@effect-fal/api"
 * import { Effect, Stream } from "effect"
 *
 * const failures = Requests.list({ endpointId: "fal-ai/flux/dev", status: "error" }).pipe(
 *   Stream.runForEach((record) => Effect.log(`${record.requestId} ended ${record.statusCode}`))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { FalClient } from "./FalClient.js"
import type { FalError } from "./FalError.js"
import type { InvalidListOptions, Page, RequestRecord } from "./internal/requests.js"
import * as internal from "./internal/requests.js"

/**
 * A status class of the history: `success` (2xx), `user_error` (4xx), `error` (5xx).
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "success" | "error" | "user_error"

/**
 * @since 0.1.0
 * @category models
 */
export const Status: Schema.Literal<["success", "error", "user_error"]> = Schema.Literal(
  "success",
  "error",
  "user_error"
)

/**
 * The sort order: by end time (default) or by duration, largest first.
 *
 * @since 0.1.0
 * @category models
 */
export type SortBy = "ended_at" | "duration"

export {
  /**
   * One page of the history as the platform answered it.
   *
   * @since 0.1.0
   * @category models
   */
  Page,
  /**
   * One request of the history, decoded from the wire (`request_id`, `endpoint_id`, ...).
   *
   * @since 0.1.0
   * @category models
   */
  RequestRecord
} from "./internal/requests.js"

/**
 * A page and the cursor that fetched it (`null` for the first page): resuming from `cursor`
 * lists this page again, from `page.nextCursor` the next one.
 *
 * @since 0.1.0
 * @category models
 */
export interface CursoredPage {
  readonly cursor: string | null
  readonly page: Page
}

/**
 * @since 0.1.0
 * @category options
 */
export interface ListOptions {
  /** The endpoint, e.g. `fal-ai/flux/dev`. */
  readonly endpointId: string
  /** Requests that ended at or after this instant (fal's default: 24 hours before `end`). */
  readonly start?: DateTime.DateTime.Input | undefined
  /** Requests that ended before this instant, exclusive (fal's default: now). */
  readonly end?: DateTime.DateTime.Input | undefined
  readonly status?: Status | undefined
  /** Only this request (a UUID). */
  readonly requestId?: string | undefined
  /** `["payloads"]` adds each request's JSON input and output. */
  readonly expand?: ReadonlyArray<"payloads"> | undefined
  readonly sortBy?: SortBy | undefined
  /** Items per page, 1..100 (fal's default 50). */
  readonly pageSize?: number | undefined
  /** Start from this cursor (a `nextCursor` of an earlier page) rather than the first page. */
  readonly cursor?: string | undefined
}

export {
  /**
   * Listing options that cannot be sent: nothing was sent.
   *
   * @since 0.1.0
   * @category errors
   */
  InvalidListOptions
} from "./internal/requests.js"

/**
 * The requests of an endpoint, one page fetched at a time as the stream is pulled. A `429` is
 * waited out (at least its `Retry-After`) rather than failing the stream.
 *
 * @since 0.1.0
 * @category listing
 */
export const list: (
  options: ListOptions
) => Stream.Stream<RequestRecord, FalError | InvalidListOptions, FalClient> = (options) => internal.list(options)

/**
 * The same, page by page, each with the cursor that fetched it (for checkpointing).
 *
 * @since 0.1.0
 * @category listing
 */
export const pages: (
  options: ListOptions
) => Stream.Stream<CursoredPage, FalError | InvalidListOptions, FalClient> = (options) => internal.pages(options)

/**
 * Checks listing options without sending anything.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (options: ListOptions): Effect.Effect<void, FalError | InvalidListOptions> =>
  Effect.asVoid(internal.validate(options))
