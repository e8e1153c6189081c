/**
 * The request history of the Platform API (SPEC section 10), self-contained: a pure answer to
 * `GET {api}/models/requests/by-endpoint` over a list of request records, and an `HttpRouter`
 * route that asks a small service for the records of one endpoint.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

/** One request as the platform keeps it; times are epoch milliseconds. */
export interface HistoryRecord {
  readonly requestId: string
  readonly endpointId: string
  readonly startedAt: number
  readonly sentAt: number
  /** `undefined` while the request runs: such a request is not listed (it has not ended). */
  readonly endedAt: number | undefined
  readonly statusCode: number
  readonly jsonInput?: unknown
  readonly jsonOutput?: unknown
}

export type StatusClass = "success" | "error" | "user_error"
export type SortBy = "ended_at" | "duration"

export interface HistoryQuery {
  readonly endpointId: string
  readonly start: number
  readonly end: number
  readonly status: StatusClass | undefined
  readonly requestId: string | undefined
  readonly expandPayloads: boolean
  readonly sortBy: SortBy
  readonly limit: number
  readonly cursor: Cursor | undefined
}

/** The position after the last item of a page: its sort value and request id (keyset paging). */
interface Cursor {
  readonly value: number
  readonly requestId: string
}

/** A Platform API error (`{"error": {"type", "message"}}`). */
export interface PlatformError {
  readonly status: number
  readonly type: "validation_error" | "rate_limited" | "not_found"
  readonly message: string
}

export interface WireItem {
  readonly request_id: string
  readonly endpoint_id: string
  readonly started_at: string
  readonly sent_at: string
  readonly ended_at: string
  readonly status_code: number
  readonly duration: number
  readonly json_input?: unknown
  readonly json_output?: unknown
}

export interface WirePage {
  readonly items: ReadonlyArray<WireItem>
  readonly next_cursor: string | null
  readonly has_more: boolean
}

const day = 24 * 60 * 60 * 1000
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const isStatusClass = (u: string): u is StatusClass => u === "success" || u === "error" || u === "user_error"
const isSortBy = (u: string): u is SortBy => u === "ended_at" || u === "duration"

const invalid = (message: string): PlatformError => ({ status: 400, type: "validation_error", message })

/** The status class of a status code: 2xx/3xx success, 4xx user_error, 5xx (and others) error. */
export const statusClass = (statusCode: number): StatusClass =>
  statusCode >= 200 && statusCode < 400 ? "success" : statusCode >= 400 && statusCode < 500 ? "user_error" : "error"

const encodeCursor = (cursor: Cursor): string =>
  Buffer.from(JSON.stringify([cursor.value, cursor.requestId])).toString("base64url")

const decodeCursor = (text: string): Either.Either<Cursor, PlatformError> => {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
    if (
      Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === "number" && typeof parsed[1] === "string"
    ) {
      return Either.right({ value: parsed[0], requestId: parsed[1] })
    }
  } catch {
    // falls through to the error below
  }
  return Either.left(invalid("cursor: not a cursor returned by this endpoint"))
}

const time = (name: string, value: string): Either.Either<number, PlatformError> => {
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? Either.left(invalid(`${name}: not an ISO 8601 date-time`)) : Either.right(ms)
}

/**
 * Reads the query string. `start` defaults to 24 hours before `now`, `end` to `now`; `limit`
 * to 50 (1..100); `sort_by` to `ended_at`.
 */
export const parseQuery = (
  params: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>,
  now: number
): Either.Either<HistoryQuery, PlatformError> =>
  Either.gen(function*() {
    const one = (name: string): string | undefined => {
      const value = params[name]
      return typeof value === "string" ? value : value?.[0]
    }
    const endpointId = one("endpoint_id")
    if (endpointId === undefined || endpointId.length === 0) return yield* Either.left(invalid("endpoint_id: required"))
    const endText = one("end")
    const end = yield* (endText === undefined ? Either.right(now) : time("end", endText))
    const startText = one("start")
    const start = yield* (startText === undefined ? Either.right(end - day) : time("start", startText))
    if (end < start) return yield* Either.left(invalid("end: before start"))
    const status = one("status")
    if (status !== undefined && !isStatusClass(status)) {
      return yield* Either.left(invalid("status: must be one of success, error, user_error"))
    }
    const requestId = one("request_id")
    if (requestId !== undefined && !uuid.test(requestId)) return yield* Either.left(invalid("request_id: not a UUID"))
    const expand = one("expand")
    if (expand !== undefined && expand !== "payloads") return yield* Either.left(invalid("expand: must be payloads"))
    const sortBy = one("sort_by") ?? "ended_at"
    if (!isSortBy(sortBy)) return yield* Either.left(invalid("sort_by: must be ended_at or duration"))
    const limitText = one("limit") ?? "50"
    const limit = /^\d+$/.test(limitText) ? Number(limitText) : Number.NaN
    if (!(limit >= 1 && limit <= 100)) return yield* Either.left(invalid("limit: must be an integer in 1..100"))
    const cursorText = one("cursor")
    const cursor = cursorText === undefined || cursorText.length === 0 ? undefined : yield* decodeCursor(cursorText)
    return {
      endpointId,
      start,
      end,
      status,
      requestId,
      expandPayloads: expand === "payloads",
      sortBy,
      limit,
      cursor
    }
  })

const sortValue = (record: HistoryRecord & { readonly endedAt: number }, sortBy: SortBy): number =>
  sortBy === "duration" ? record.endedAt - record.startedAt : record.endedAt

/** Newest (or longest) first; ties by request id, so the order is total and a cursor exact. */
const before = (a: Cursor, b: Cursor): boolean => a.value !== b.value ? a.value > b.value : a.requestId > b.requestId

const iso = (ms: number) => new Date(ms).toISOString()

/**
 * One page of the answer: the records of the endpoint that ended in `[start, end)` (a request
 * ending exactly at `end` is left out), of the status class, after the cursor, in order.
 * The work is linear in the number of records, and only one page is ever materialised.
 */
export const answer = (records: Iterable<HistoryRecord>, query: HistoryQuery): WirePage => {
  const page: Array<{ readonly key: Cursor; readonly record: HistoryRecord & { readonly endedAt: number } }> = []
  let more = false
  for (const record of records) {
    const endedAt = record.endedAt
    if (endedAt === undefined || record.endpointId !== query.endpointId) continue
    if (endedAt < query.start || endedAt >= query.end) continue
    if (query.status !== undefined && statusClass(record.statusCode) !== query.status) continue
    if (query.requestId !== undefined && record.requestId.toLowerCase() !== query.requestId.toLowerCase()) continue
    const ended = { ...record, endedAt }
    const key: Cursor = { value: sortValue(ended, query.sortBy), requestId: record.requestId }
    if (query.cursor !== undefined && !before(query.cursor, key)) continue
    // keep the `limit + 1` first keys: insertion into a small sorted window
    let i = page.length
    while (i > 0 && before(key, page[i - 1].key)) i--
    if (i > query.limit) {
      more = true
      continue
    }
    page.splice(i, 0, { key, record: ended })
    if (page.length > query.limit + 1) page.pop()
  }
  if (page.length > query.limit) {
    more = true
    page.length = query.limit
  }
  const items = page.map(({ record }): WireItem => ({
    request_id: record.requestId,
    endpoint_id: record.endpointId,
    started_at: iso(record.startedAt),
    sent_at: iso(record.sentAt),
    ended_at: iso(record.endedAt),
    status_code: record.statusCode,
    duration: (record.endedAt - record.startedAt) / 1000,
    ...(query.expandPayloads ? { json_input: record.jsonInput ?? null, json_output: record.jsonOutput ?? null } : {})
  }))
  const last = page[page.length - 1]
  return { items, next_cursor: more && last !== undefined ? encodeCursor(last.key) : null, has_more: more }
}

/**
 * Where the route reads the platform's record of requests. `throttle` is the injected rate
 * limit: `Some(seconds)` answers this call `429` with `Retry-After: seconds`.
 */
export interface RequestHistoryService {
  readonly records: (endpointId: string) => Effect.Effect<Iterable<HistoryRecord>>
  readonly throttle: Effect.Effect<Option.Option<number>>
  readonly now: Effect.Effect<number>
}

export class RequestHistory extends Context.Tag("@effect-fal/testing/RequestHistory")<
  RequestHistory,
  RequestHistoryService
>() {}

/** The Platform API error envelope. */
export const errorResponse = (error: PlatformError, headers: Readonly<Record<string, string>> = {}) =>
  HttpServerResponse.unsafeJson({ error: { type: error.type, message: error.message } }, {
    status: error.status,
    headers
  })

/** `429` with `Retry-After` when the throttle says so; else `undefined`. */
export const throttled = (
  throttle: Effect.Effect<Option.Option<number>>
): Effect.Effect<HttpServerResponse.HttpServerResponse | undefined> =>
  Effect.map(throttle, (after) =>
    Option.match(after, {
      onNone: () => undefined,
      onSome: (seconds) =>
        errorResponse({ status: 429, type: "rate_limited", message: "Too many requests" }, {
          "retry-after": String(seconds)
        })
    }))

/** The handler of `GET /models/requests/by-endpoint`. */
export const handler: Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  RequestHistory | HttpServerRequest.HttpServerRequest
> = Effect.gen(function*() {
  const history = yield* RequestHistory
  const limited = yield* throttled(history.throttle)
  if (limited !== undefined) return limited
  const request = yield* HttpServerRequest.HttpServerRequest
  const url = new URL(request.url, "http://localhost")
  const params: Record<string, string> = {}
  for (const [name, value] of url.searchParams) params[name] ??= value
  const now = yield* history.now
  const query = parseQuery(params, now)
  if (Either.isLeft(query)) return errorResponse(query.left)
  const records = yield* history.records(query.right.endpointId)
  return HttpServerResponse.unsafeJson(answer(records, query.right))
})

/** A router with the history route, for the emulator to mount under its api base. */
export const router: HttpRouter.HttpRouter<never, RequestHistory> = HttpRouter.empty.pipe(
  HttpRouter.get("/models/requests/by-endpoint", handler)
)
