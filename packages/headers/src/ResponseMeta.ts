/**
 * What fal says about a request in its response headers: its id, the billing units charged,
 * the runner that served it, why it failed. Decoding is total and lenient: a missing or
 * malformed header is simply absent, so reading metadata never fails a response.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as ErrorType from "./ErrorType.js"
import type { HeaderInput } from "./internal/lookup.js"
import { parseFlag } from "./internal/text.js"

/**
 * The response headers, as fal spells them.
 *
 * @since 0.1.0
 * @category wire
 */
export const names = {
  requestId: "x-fal-request-id",
  billableUnits: "X-Fal-Billable-Units",
  servedFrom: "X-Fal-Served-From",
  timeoutType: "X-Fal-Request-Timeout-Type",
  errorType: "X-Fal-Error-Type",
  runnerHints: "x-fal-runner-hints",
  needsRetry: "X-Fal-Needs-Retry",
  retryable: "X-Fal-Retryable"
} as const

/**
 * @since 0.1.0
 * @category models
 */
export interface ResponseMeta {
  /** `x-fal-request-id`: the request's id; quote it to support and in logs. */
  readonly requestId?: string
  /** `X-Fal-Billable-Units`: the billing units charged (`0` on 404 and 422). */
  readonly billableUnits?: number
  /** `X-Fal-Served-From`: the runner that served the request. */
  readonly servedFrom?: string
  /** `X-Fal-Request-Timeout-Type`: `"user"` when the caller's start timeout produced the 504. */
  readonly timeoutType?: "user"
  /** `X-Fal-Error-Type`: the failure's category. */
  readonly errorType?: ErrorType.ErrorType
  /** `x-fal-runner-hints`: hints to send back as `X-Fal-Runner-Hint` for sticky routing. */
  readonly runnerHints?: ReadonlyArray<string>
  /** `X-Fal-Needs-Retry`: fal asks for a retry (temporary sync failures, concurrency 429s). */
  readonly needsRetry?: boolean
  /** `X-Fal-Retryable`: whether the model says its error is worth retrying. */
  readonly retryable?: boolean
}

/**
 * No metadata at all.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: ResponseMeta = {}

/**
 * Each response header, by its documented and its lower-cased spelling, to its field: the
 * spellings that arrive in practice are found without lower-casing (which allocates).
 */
const fieldOf = new Map<string, keyof ResponseMeta>()
for (
  const field of [
    "requestId",
    "billableUnits",
    "servedFrom",
    "timeoutType",
    "errorType",
    "runnerHints",
    "needsRetry",
    "retryable"
  ] as const
) {
  fieldOf.set(names[field], field)
  fieldOf.set(names[field].toLowerCase(), field)
}

const token = /^[\x21-\x7e]+$/
const units = /^\d+(?:\.\d+)?$/

const text = (value: string | undefined): string | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  return token.test(trimmed) ? trimmed : undefined
}

const hints = (value: string | undefined): ReadonlyArray<string> | undefined => {
  if (value === undefined) return undefined
  const list: Array<string> = []
  for (const part of value.split(",")) {
    const hint = text(part)
    if (hint !== undefined) list.push(hint)
  }
  return list.length > 0 ? list : undefined
}

/**
 * Reads the metadata out of response headers, whatever their casing. Total: a malformed value
 * (billable units that are not a decimal number, an empty request id, a flag that is not
 * `1`/`0`/`true`/`false`) is treated as absent.
 *
 * @example
 * ```ts
 * import { ResponseMeta } from "@effect-fal/headers"
 *
 * const meta = ResponseMeta.fromHeaders({ "X-Fal-Billable-Units": "0.50000000", "x-fal-request-id": "abc" })
 * // { requestId: "abc", billableUnits: 0.5 }
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const fromHeaders = (headers: HeaderInput): ResponseMeta => {
  const raw: { -readonly [K in keyof ResponseMeta]?: string } = {}
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined) continue
    const field = fieldOf.get(name) ?? fieldOf.get(name.toLowerCase())
    if (field === undefined) continue
    const text = typeof value === "string" ? value : value.join(", ")
    const previous = raw[field]
    raw[field] = previous === undefined ? text : `${previous}, ${text}`
  }
  const out: {
    -readonly [K in keyof ResponseMeta]: ResponseMeta[K]
  } = {}
  const requestId = text(raw.requestId)
  if (requestId !== undefined) out.requestId = requestId
  const billable = raw.billableUnits?.trim()
  if (billable !== undefined && units.test(billable)) {
    // a decimal that overflows a double (hundreds of digits) is not a count fal meant
    const count = Number(billable)
    if (Number.isFinite(count)) out.billableUnits = count
  }
  const servedFrom = text(raw.servedFrom)
  if (servedFrom !== undefined) out.servedFrom = servedFrom
  if (raw.timeoutType?.trim().toLowerCase() === "user") out.timeoutType = "user"
  const errorType = text(raw.errorType)
  if (errorType !== undefined) out.errorType = errorType
  const runnerHints = hints(raw.runnerHints)
  if (runnerHints !== undefined) out.runnerHints = runnerHints
  const needsRetry = flag(raw.needsRetry)
  if (needsRetry !== undefined) out.needsRetry = needsRetry
  const retryable = flag(raw.retryable)
  if (retryable !== undefined) out.retryable = retryable
  return out
}

const flag = (value: string | undefined): boolean | undefined =>
  value === undefined ? undefined : parseFlag(value.trim())

/**
 * Writes the metadata as response headers, spelled as fal spells them: the inverse of
 * {@link fromHeaders} for every value of {@link schema}. Values that could not be read back
 * (an id with spaces, a negative or non-finite unit count) are left out.
 *
 * @since 0.1.0
 * @category encoding
 */
export const toHeaders = (meta: ResponseMeta): Record<string, string> => {
  const out: Record<string, string> = {}
  const put = (name: string, value: string | undefined) => {
    if (value !== undefined) out[name] = value
  }
  put(names.requestId, text(meta.requestId))
  if (meta.billableUnits !== undefined && Number.isFinite(meta.billableUnits) && meta.billableUnits >= 0) {
    put(names.billableUnits, formatUnits(meta.billableUnits))
  }
  put(names.servedFrom, text(meta.servedFrom))
  if (meta.timeoutType === "user") out[names.timeoutType] = "user"
  put(names.errorType, text(meta.errorType))
  if (meta.runnerHints !== undefined) put(names.runnerHints, hints(meta.runnerHints.join(","))?.join(","))
  if (meta.needsRetry !== undefined) out[names.needsRetry] = meta.needsRetry ? "1" : "0"
  if (meta.retryable !== undefined) out[names.retryable] = meta.retryable ? "true" : "false"
  return out
}

/** Plain decimal, never exponent notation (1e-7 is written 0.0000001). */
const formatUnits = (units: number): string => {
  const plain = String(units)
  return /e/i.test(plain) ? units.toFixed(20).replace(/\.?0+$/, "") : plain
}

const hintSchema = Schema.String.pipe(
  Schema.pattern(/^[\x21-\x7e]+$/),
  Schema.filter((hint) => !hint.includes(",")),
  Schema.annotations({ arbitrary: () => (fc) => fc.stringMatching(/^[a-zA-Z0-9_.:-]{1,24}$/) })
)
const idSchema = Schema.String.pipe(
  Schema.pattern(/^[\x21-\x7e]+$/),
  Schema.annotations({ arbitrary: () => (fc) => fc.oneof(fc.uuid(), fc.stringMatching(/^[a-zA-Z0-9_.:-]{1,40}$/)) })
)

/**
 * The metadata values that survive a trip through headers; the arbitrary for the laws.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema = Schema.Struct({
  requestId: Schema.optionalWith(idSchema, { exact: true }),
  billableUnits: Schema.optionalWith(
    Schema.Number.pipe(
      Schema.nonNegative(),
      Schema.finite(),
      Schema.annotations({
        arbitrary: () => (fc) =>
          fc.oneof(fc.nat({ max: 1000 }), fc.integer({ min: 0, max: 100_000_000 }).map((n) => n / 100_000_000))
      })
    ),
    { exact: true }
  ),
  servedFrom: Schema.optionalWith(idSchema, { exact: true }),
  timeoutType: Schema.optionalWith(Schema.Literal("user"), { exact: true }),
  errorType: Schema.optionalWith(ErrorType.schema, { exact: true }),
  runnerHints: Schema.optionalWith(Schema.NonEmptyArray(hintSchema), { exact: true }),
  needsRetry: Schema.optionalWith(Schema.Boolean, { exact: true }),
  retryable: Schema.optionalWith(Schema.Boolean, { exact: true })
})

/**
 * The first runner hint fal suggested, if any: what to send back as `X-Fal-Runner-Hint`.
 *
 * @since 0.1.0
 * @category getters
 */
export const runnerHint = (meta: ResponseMeta): Option.Option<string> => Option.fromNullable(meta.runnerHints?.[0])
