import * as InvalidRequestOptions from "@effect-fal/headers/InvalidRequestOptions"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"

/** The header an upload's initiate request carries its lifecycle in (SPEC section 8). */
export const headerName = "X-Fal-Object-Lifecycle"

/** What the CDN does for a user an ACL rule names. */
export type Decision = "hide" | "forbid" | "allow"

export interface InitialAcl {
  readonly default?: Decision | undefined
  readonly rules?: ReadonlyArray<{ readonly user: string; readonly decision: Decision }> | undefined
}

export interface Lifecycle {
  /** How long the file is kept, a whole number of seconds (0 or more), or `"never"` to keep it forever. */
  readonly expiration?: Duration.DurationInput | "never" | undefined
  /** The file's initial access control list. */
  readonly initialAcl?: InitialAcl | undefined
}

const decisions: ReadonlySet<string> = new Set<Decision>(["hide", "forbid", "allow"])

const invalid = (value: string, reason: string) =>
  Either.left(InvalidRequestOptions.single({ name: headerName, location: "header", value, reason }))

/** `Duration.decode` turns a negative input into zero: negative inputs are caught before it. */
const negative = (input: Duration.DurationInput): boolean => {
  if (typeof input === "number") return input < 0 || Number.isNaN(input)
  if (typeof input === "bigint") return input < 0n
  if (typeof input === "string") return input.trim().startsWith("-")
  if (Array.isArray(input)) return input.some((part) => typeof part === "number" && part < 0)
  return false
}

const show = (input: Duration.DurationInput | "never"): string =>
  typeof input === "string"
    ? JSON.stringify(input)
    : Duration.isDuration(input)
    ? Duration.format(input)
    : String(input)

const wholeSeconds = (input: Duration.DurationInput): number | undefined => {
  const duration = Option.getOrUndefined(Duration.decodeUnknown(input))
  if (duration === undefined || !Duration.isFinite(duration)) return undefined
  const nanos = Duration.toNanos(duration)
  if (Option.isNone(nanos) || nanos.value % 1_000_000_000n !== 0n) return undefined
  const seconds = Number(nanos.value / 1_000_000_000n)
  return Number.isSafeInteger(seconds) ? seconds : undefined
}

/**
 * The JSON object of SPEC section 8 (`{"expiration_duration_seconds"?, "initial_acl"?}`), or
 * `undefined` when the lifecycle says nothing. Kept separate from the header text so that it can
 * later be delegated to `@effect-fal/headers/ObjectLifecycle` once that models `initial_acl`.
 */
export const toJson = (
  lifecycle: Lifecycle
): Either.Either<Record<string, unknown> | undefined, InvalidRequestOptions.InvalidRequestOptions> => {
  const out: Record<string, unknown> = {}
  const expiration = lifecycle.expiration
  if (expiration !== undefined) {
    if (expiration === "never") {
      out.expiration_duration_seconds = null
    } else {
      if (negative(expiration)) return invalid(show(expiration), "the expiration must not be below zero")
      const seconds = wholeSeconds(expiration)
      if (seconds === undefined) {
        return invalid(show(expiration), "the expiration must be a whole number of seconds (0 or more), or \"never\"")
      }
      out.expiration_duration_seconds = seconds
    }
  }
  const acl = lifecycle.initialAcl
  if (acl !== undefined) {
    const encoded: Record<string, unknown> = {}
    if (acl.default !== undefined) {
      if (!decisions.has(acl.default)) {
        return invalid(JSON.stringify(acl.default), "the default ACL decision must be hide, forbid or allow")
      }
      encoded.default = acl.default
    }
    if (acl.rules !== undefined) {
      const rules: Array<{ user: string; decision: Decision }> = []
      for (const rule of acl.rules) {
        if (!Predicate.isString(rule.user) || rule.user.length === 0) {
          return invalid(JSON.stringify(rule.user), "an ACL rule needs a non-empty user")
        }
        if (!decisions.has(rule.decision)) {
          return invalid(JSON.stringify(rule.decision), "an ACL rule's decision must be hide, forbid or allow")
        }
        rules.push({ user: rule.user, decision: rule.decision })
      }
      encoded.rules = rules
    }
    out.initial_acl = encoded
  }
  return Either.right(Object.keys(out).length > 0 ? out : undefined)
}

/** Header values are visible ASCII: JSON escapes what lies outside it. */
const asciiJson = (value: unknown): string =>
  JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/** The header value (compact JSON, as fal's JS client sends it), or `undefined` for no header. */
export const encode = (
  lifecycle: Lifecycle | undefined
): Either.Either<string | undefined, InvalidRequestOptions.InvalidRequestOptions> =>
  lifecycle === undefined
    ? Either.right(undefined)
    : Either.map(toJson(lifecycle), (json) => (json === undefined ? undefined : asciiJson(json)))
