import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { FalClient, withAdminCredential } from "../FalClient.js"
import * as FalError from "../FalError.js"
import type * as Requests from "../Requests.js"
import * as Retry from "../Retry.js"
import * as Request from "./request.js"

/**
 * One request of the history, decoded from the wire (`request_id`, `endpoint_id`, ...).
 */
export class RequestRecord extends Schema.Class<RequestRecord>("@effect-fal/api/RequestRecord")({
  requestId: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("request_id")),
  endpointId: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("endpoint_id")),
  startedAt: Schema.propertySignature(Schema.OptionFromNullishOr(Schema.DateTimeUtc, null)).pipe(
    Schema.fromKey("started_at")
  ),
  sentAt: Schema.propertySignature(Schema.OptionFromNullishOr(Schema.DateTimeUtc, null)).pipe(
    Schema.fromKey("sent_at")
  ),
  endedAt: Schema.propertySignature(Schema.OptionFromNullishOr(Schema.DateTimeUtc, null)).pipe(
    Schema.fromKey("ended_at")
  ),
  statusCode: Schema.propertySignature(Schema.OptionFromNullishOr(Schema.Number, null)).pipe(
    Schema.fromKey("status_code")
  ),
  /** Seconds. */
  duration: Schema.OptionFromNullishOr(Schema.Number, null),
  /** With `expand: ["payloads"]` only. */
  jsonInput: Schema.optionalWith(Schema.Unknown, { as: "Option" }).pipe(Schema.fromKey("json_input")),
  /** With `expand: ["payloads"]` only. */
  jsonOutput: Schema.optionalWith(Schema.Unknown, { as: "Option" }).pipe(Schema.fromKey("json_output"))
}) {}

/**
 * One page of the history as the platform answered it.
 */
export class Page extends Schema.Class<Page>("@effect-fal/api/RequestsPage")({
  items: Schema.Array(RequestRecord),
  nextCursor: Schema.propertySignature(Schema.NullOr(Schema.String)).pipe(Schema.fromKey("next_cursor")),
  hasMore: Schema.propertySignature(Schema.Boolean).pipe(Schema.fromKey("has_more"))
}) {}

/**
 * Listing options that cannot be sent: nothing was sent.
 */
export class InvalidListOptions extends Schema.TaggedError<InvalidListOptions>("@effect-fal/api/InvalidListOptions")(
  "InvalidListOptions",
  { option: Schema.String, reason: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Invalid option ${this.option}: ${this.reason}`
  }
}

/** The operation name of the history's pages: errors say "during list". */
const operation = "list" satisfies Retry.Operation

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** How many `429`s in a row are waited out (each for its `Retry-After`) before giving up. */
export const maxRateLimitWaits = 1000

/** The wait when a `429` has no `Retry-After`. */
const defaultRateLimitWait = Duration.seconds(1)

/**
 * Retries an effect while it fails with a `RateLimited` whose `Retry-After` fal's policy
 * accepts, waiting at least that long each time on the Effect clock. Used around calls whose
 * own policy already retried a few times: a bulk job is paced by fal's limits, not failed by them.
 */
export const waitOutRateLimits = <A, R>(
  effect: Effect.Effect<A, FalError.FalError, R>
): Effect.Effect<A, FalError.FalError, R> =>
  Effect.retry(
    effect,
    Schedule.identity<FalError.FalError>().pipe(
      Schedule.whileInput((error) => error._tag === "RateLimited" && Retry.isRetryable(operation)(error)),
      Schedule.addDelay((error) =>
        error._tag === "RateLimited" ? Option.getOrElse(error.retryAfter, () => defaultRateLimitWait) : Duration.zero
      ),
      Schedule.intersect(Schedule.recurs(maxRateLimitWaits))
    )
  )

const instant = (option: string, input: DateTime.DateTime.Input | undefined) =>
  input === undefined
    ? Effect.succeed(undefined)
    : Option.match(DateTime.make(input), {
      onNone: () => Effect.fail(new InvalidListOptions({ option, reason: "not a valid date-time" })),
      onSome: (date) => Effect.succeed(date)
    })

/** The query string of the options, or the reason they cannot be sent. */
export const validate = (
  options: Requests.ListOptions
): Effect.Effect<Record<string, string>, FalError.FalError | InvalidListOptions> =>
  Effect.gen(function*() {
    const endpoint = yield* Request.modelId(options.endpointId)
    const query: Record<string, string> = { endpoint_id: endpoint.id }
    const start = yield* instant("start", options.start)
    const end = yield* instant("end", options.end)
    if (start !== undefined && end !== undefined && DateTime.lessThan(end, start)) {
      return yield* new InvalidListOptions({ option: "end", reason: "is before start" })
    }
    if (start !== undefined) query.start = DateTime.formatIso(start)
    if (end !== undefined) query.end = DateTime.formatIso(end)
    if (options.status !== undefined) {
      if (options.status !== "success" && options.status !== "error" && options.status !== "user_error") {
        return yield* new InvalidListOptions({
          option: "status",
          reason: `${JSON.stringify(options.status)} is not one of success, error, user_error`
        })
      }
      query.status = options.status
    }
    if (options.requestId !== undefined) {
      if (!uuid.test(options.requestId)) {
        return yield* new FalError.InvalidRequestId({ requestId: options.requestId, reason: "must be a UUID" })
      }
      query.request_id = options.requestId
    }
    if (options.expand !== undefined && options.expand.length > 0) {
      if (options.expand.some((what) => what !== "payloads")) {
        return yield* new InvalidListOptions({ option: "expand", reason: "only \"payloads\" can be expanded" })
      }
      query.expand = "payloads"
    }
    if (options.sortBy !== undefined) {
      if (options.sortBy !== "ended_at" && options.sortBy !== "duration") {
        return yield* new InvalidListOptions({ option: "sortBy", reason: "must be ended_at or duration" })
      }
      query.sort_by = options.sortBy
    }
    if (options.pageSize !== undefined) {
      if (!Number.isInteger(options.pageSize) || options.pageSize < 1 || options.pageSize > 100) {
        return yield* new InvalidListOptions({ option: "pageSize", reason: "must be an integer in 1..100" })
      }
      query.limit = String(options.pageSize)
    }
    return query
  })

/** One page: `GET {api}/models/requests/by-endpoint?...&cursor=...`, 429s waited out. */
const fetchPage = (
  query: Record<string, string>,
  cursor: string | null
): Effect.Effect<Page, FalError.FalError, FalClient> =>
  Effect.flatMap(FalClient, (service) => {
    const request = HttpClientRequest.get(`${service.urls.api}/models/requests/by-endpoint`).pipe(
      HttpClientRequest.setUrlParams(cursor === null ? query : { ...query, cursor }),
      HttpClientRequest.acceptJson
    )
    return waitOutRateLimits(withAdminCredential(Request.executeWithClient({
      operation,
      request,
      onResponse: (response) =>
        Request.json(operation, response, undefined).pipe(
          Effect.flatMap((json) => Request.decode(operation, Page, json, { status: response.status }))
        )
    })))
  }).pipe(
    Effect.withSpan("fal.requests.page", { kind: "client", attributes: { "fal.endpoint_id": query.endpoint_id } })
  )

export const pages = (
  options: Requests.ListOptions
): Stream.Stream<Requests.CursoredPage, FalError.FalError | InvalidListOptions, FalClient> =>
  Stream.unwrap(Effect.map(validate(options), (query) =>
    // `paginateEffect` pulls the next page only when the consumer asks for more
    Stream.paginateEffect(options.cursor ?? null, (cursor: string | null) =>
      Effect.map(fetchPage(query, cursor), (page) =>
        [
          { cursor, page },
          page.hasMore && page.nextCursor !== null ? Option.some(page.nextCursor) : Option.none()
        ] as const))))

export const list = (
  options: Requests.ListOptions
): Stream.Stream<Requests.RequestRecord, FalError.FalError | InvalidListOptions, FalClient> =>
  Stream.flatMap(pages(options), ({ page }) => Stream.fromIterable(page.items))
