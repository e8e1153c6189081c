/**
 * `X-Fal-Object-Lifecycle-Preference`: how long the CDN files the request produces are kept,
 * and who may read them. Expired files are deleted for good. Without it, the account setting
 * applies (forever when unset). The same JSON travels as `X-Fal-Object-Lifecycle` on a storage
 * upload's initiate request.
 *
 * Wire form (SPEC section 7): JSON
 * `{"expiration_duration_seconds"?: n | null, "initial_acl"?: {"default"?, "rules"?: [{"user", "decision"}]}}`
 * with a whole number of seconds n >= 0 (`null` keeps the files forever), decisions
 * `hide | forbid | allow`; either part alone or both. The value here is the expiration alone
 * (a `Duration` of whole seconds, or `"never"`), or {@link WithAcl} when an initial ACL is set.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as HeaderCodec from "./HeaderCodec.js"
import * as InternalDuration from "./internal/duration.js"

/**
 * @since 0.1.0
 * @category wire
 */
export const name = "X-Fal-Object-Lifecycle-Preference"

/**
 * What the CDN does for a user an ACL rule names (or, as `default`, for everyone else).
 *
 * @since 0.2.0
 * @category models
 */
export type Decision = "hide" | "forbid" | "allow"

/**
 * @since 0.2.0
 * @category models
 */
export interface Rule {
  readonly user: string
  readonly decision: Decision
}

/**
 * A file's initial access control list: both parts optional.
 *
 * @since 0.2.0
 * @category models
 */
export interface InitialAcl {
  readonly default?: Decision
  readonly rules?: ReadonlyArray<Rule>
}

/**
 * How long files are kept: a `Duration` of whole seconds, or `"never"` to keep them forever.
 *
 * @since 0.2.0
 * @category models
 */
export type Expiration = Duration.Duration | "never"

/**
 * A lifecycle with an initial ACL, and optionally an expiration.
 *
 * @since 0.2.0
 * @category models
 */
export interface WithAcl {
  readonly expiration?: Expiration
  readonly initialAcl: InitialAcl
}

/**
 * The decoded header: the expiration alone, or {@link WithAcl}. Each lifecycle has one form
 * (an expiration without ACL is never wrapped), so `decode(encode(a))` is `a`.
 *
 * @since 0.1.0
 * @category models
 */
export type ObjectLifecycle = Expiration | WithAcl

/**
 * An expiration as callers write it: any `DurationInput` but a bare number (ambiguous: fal's
 * SDKs read seconds, Effect milliseconds), or `"never"`.
 *
 * @since 0.2.0
 * @category models
 */
export type ExpirationInput = InternalDuration.Input | "never"

/**
 * A lifecycle as callers write it: an expiration alone, or both parts, each optional.
 *
 * @since 0.2.0
 * @category models
 */
export type Input = ExpirationInput | {
  readonly expiration?: ExpirationInput | undefined
  readonly initialAcl?: InitialAcl | undefined
}

/**
 * The longest header value accepted: an ACL can name many users.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxLength = 4096

/**
 * The longest user name an ACL rule may carry.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxUserLength = 256

const field = "expiration_duration_seconds"
const aclField = "initial_acl"
const shape =
  `must be JSON {"${field}"?: n | null, "${aclField}"?: {"default"?, "rules"?}} with a whole number of seconds n >= 0 and at least one of the two`
const expirationReason = "must be a whole number of seconds (0 or more), or \"never\""
const decisionReason = "must use the decisions hide, forbid or allow"
const decisions: ReadonlySet<unknown> = new Set<Decision>(["hide", "forbid", "allow"])
const isDecision = (value: unknown): value is Decision => decisions.has(value)

/**
 * @since 0.2.0
 * @category guards
 */
export const isWithAcl = (lifecycle: ObjectLifecycle): lifecycle is WithAcl =>
  typeof lifecycle === "object" && !Duration.isDuration(lifecycle)

/**
 * The expiration part, if any.
 *
 * @since 0.2.0
 * @category getters
 */
export const expiration = (lifecycle: ObjectLifecycle): Expiration | undefined =>
  isWithAcl(lifecycle) ? lifecycle.expiration : lifecycle

/**
 * The initial ACL, if any.
 *
 * @since 0.2.0
 * @category getters
 */
export const initialAcl = (lifecycle: ObjectLifecycle): InitialAcl | undefined =>
  isWithAcl(lifecycle) ? lifecycle.initialAcl : undefined

/**
 * The whole seconds of a duration, if it is a whole (safe-integer) number of seconds, read from
 * the duration's own value: `Duration.toNanos` of a length held in milliseconds goes through a
 * double, which is not exact past 2^53 ns, so a large whole number of seconds could be refused.
 */
const wholeSeconds = (duration: Duration.Duration): number | undefined => {
  const value = duration.value
  switch (value._tag) {
    case "Millis": {
      if (!Number.isInteger(value.millis) || value.millis % 1000 !== 0) return undefined
      const seconds = value.millis / 1000
      return Number.isSafeInteger(seconds) ? seconds : undefined
    }
    case "Nanos": {
      if (value.nanos % 1_000_000_000n !== 0n) return undefined
      const seconds = Number(value.nanos / 1_000_000_000n)
      return Number.isSafeInteger(seconds) ? seconds : undefined
    }
    case "Infinity":
      return undefined
  }
}

/**
 * A decoded number of seconds (a safe integer) as a duration {@link wholeSeconds} reads back to
 * the same number: in milliseconds while those fit a double exactly, else in nanoseconds.
 */
const fromSeconds = (seconds: number): Duration.Duration =>
  Number.isSafeInteger(seconds * 1000) ? Duration.seconds(seconds) : Duration.nanos(BigInt(seconds) * 1_000_000_000n)

const aclReason = (acl: InitialAcl): string | undefined => {
  if (acl.default !== undefined && !decisions.has(acl.default)) return decisionReason
  for (const rule of acl.rules ?? []) {
    if (!Predicate.isString(rule.user) || rule.user.length === 0) return "must give every ACL rule a non-empty user"
    if (rule.user.length > maxUserLength) return `must give ACL users of at most ${maxUserLength} characters`
    if (!decisions.has(rule.decision)) return decisionReason
  }
  return undefined
}

/**
 * The JSON value of the header, keys in SPEC order; the expiration must be valid.
 *
 * @since 0.2.0
 * @category wire
 */
export const toJson = (lifecycle: ObjectLifecycle): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  const exp = expiration(lifecycle)
  if (exp !== undefined) out[field] = exp === "never" ? null : wholeSeconds(exp)
  const acl = initialAcl(lifecycle)
  if (acl !== undefined) {
    const json: Record<string, unknown> = {}
    if (acl.default !== undefined) json.default = acl.default
    if (acl.rules !== undefined) json.rules = acl.rules.map((rule) => ({ user: rule.user, decision: rule.decision }))
    out[aclField] = json
  }
  return out
}

/** A JSON string literal in visible ASCII: header values cannot carry other characters. */
const asciiString = (text: string): string =>
  JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/**
 * JSON with the separators of Python's `json.dumps` (`", "`, `": "`), the spelling fal's
 * documentation shows; `JSON.stringify` offers no such option (only newline indentation).
 */
const spaced = (value: unknown): string => {
  if (typeof value === "string") return asciiString(value)
  if (Array.isArray(value)) return `[${value.map(spaced).join(", ")}]`
  if (Predicate.isRecord(value)) {
    return `{${Object.entries(value).map(([key, item]) => `${asciiString(key)}: ${spaced(item)}`).join(", ")}}`
  }
  return JSON.stringify(value)
}

/**
 * Compact JSON (no spaces), as fal's JS client sends `X-Fal-Object-Lifecycle` on uploads; the
 * value must be valid.
 *
 * @since 0.2.0
 * @category wire
 */
export const printCompact = (lifecycle: ObjectLifecycle): string =>
  JSON.stringify(toJson(lifecycle)).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/** The documented spellings of an expiration alone, read without a JSON parser. */
const documented = /^\{\s*"expiration_duration_seconds"\s*:\s*(\d{1,15}|null)\s*\}$/

const readAcl = (json: unknown): Either.Either<InitialAcl, string> => {
  if (!Predicate.isRecord(json)) return Either.left(shape)
  const acl: { default?: Decision; rules?: ReadonlyArray<Rule> } = {}
  if (json.default !== undefined) {
    if (!isDecision(json.default)) return Either.left(decisionReason)
    acl.default = json.default
  }
  if (json.rules !== undefined) {
    if (!Array.isArray(json.rules)) return Either.left(shape)
    const rules: Array<Rule> = []
    for (const rule of json.rules) {
      if (!Predicate.isRecord(rule) || !Predicate.isString(rule.user)) return Either.left(shape)
      if (!isDecision(rule.decision)) return Either.left(decisionReason)
      rules.push({ user: rule.user, decision: rule.decision })
    }
    acl.rules = rules
  }
  return Either.right(acl)
}

const parse = (wire: string): Either.Either<ObjectLifecycle, string> => {
  const match = documented.exec(wire)
  if (match !== null) return Either.right(match[1] === "null" ? "never" : fromSeconds(Number(match[1])))
  let json: unknown
  try {
    json = JSON.parse(wire)
  } catch {
    return Either.left(shape)
  }
  if (json === null) return Either.right("never")
  if (!Predicate.isRecord(json) || (!(field in json) && !(aclField in json))) return Either.left(shape)
  let exp: Expiration | undefined
  if (field in json) {
    const seconds = json[field]
    if (seconds === null) exp = "never"
    else if (typeof seconds === "number" && Number.isSafeInteger(seconds) && seconds >= 0) {
      exp = fromSeconds(seconds)
    } else return Either.left(shape)
  }
  if (!(aclField in json)) return exp === undefined ? Either.left(shape) : Either.right(exp)
  return Either.map(
    readAcl(json[aclField]),
    (acl): ObjectLifecycle => exp === undefined ? { initialAcl: acl } : { expiration: exp, initialAcl: acl }
  )
}

const showExpiration = (exp: Expiration): string =>
  exp === "never" ? "\"never\"" : Duration.isFinite(exp) ? Duration.format(exp) : "Infinity"

const show = (lifecycle: ObjectLifecycle): string => {
  if (!isWithAcl(lifecycle)) return showExpiration(lifecycle)
  const parts = lifecycle.expiration === undefined ? [] : [`expiration: ${showExpiration(lifecycle.expiration)}`]
  parts.push(`initialAcl: ${JSON.stringify(lifecycle.initialAcl)}`)
  return `{ ${parts.join(", ")} }`
}

const validate = (lifecycle: ObjectLifecycle): string | undefined => {
  const exp = expiration(lifecycle)
  if (exp !== undefined && exp !== "never" && wholeSeconds(exp) === undefined) return expirationReason
  const acl = initialAcl(lifecycle)
  if (acl === undefined) return undefined
  const reason = aclReason(acl)
  if (reason !== undefined) return reason
  return spaced(toJson(lifecycle)).length > maxLength ? `must be at most ${maxLength} characters long` : undefined
}

const ExpirationSchema = Schema.Union(Schema.Literal("never"), Schema.DurationFromSelf)
const DecisionSchema = Schema.Literal("hide", "forbid", "allow")

/**
 * The shape of {@link InitialAcl} (validation of users is the codec's).
 *
 * @since 0.2.0
 * @category schemas
 */
export const InitialAclSchema: Schema.Schema<InitialAcl> = Schema.Struct({
  default: Schema.optionalWith(DecisionSchema, { exact: true }),
  rules: Schema.optionalWith(Schema.Array(Schema.Struct({ user: Schema.String, decision: DecisionSchema })), {
    exact: true
  })
})

const userArbitrary = (fc: Parameters<HeaderCodec.Definition<ObjectLifecycle>["arbitrary"]>[0]) =>
  fc.string({ minLength: 1, maxLength: 24, unit: "grapheme" })

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<ObjectLifecycle> = HeaderCodec.make<ObjectLifecycle>({
  name,
  location: "header",
  expected: "a whole number of seconds (0 or more) or \"never\", with an optional initial ACL",
  type: Schema.Union(
    ExpirationSchema,
    Schema.Struct({
      expiration: Schema.optionalWith(ExpirationSchema, { exact: true }),
      initialAcl: InitialAclSchema
    })
  ),
  validate,
  parse,
  // The spacing is the one fal's documentation shows (Python's json.dumps). An expiration alone,
  // the common value, is written directly: the generic printer escapes each key and string.
  print: (lifecycle) =>
    isWithAcl(lifecycle)
      ? spaced(toJson(lifecycle))
      : `{"${field}": ${lifecycle === "never" ? "null" : wholeSeconds(lifecycle)}}`,
  show,
  maxLength,
  arbitrary: (fc) => {
    const exp = fc.oneof(
      fc.constant<Expiration>("never"),
      fc.integer({ min: 0, max: 10 * 365 * 86_400 }).map((seconds): Expiration => Duration.seconds(seconds))
    )
    const decision = fc.constantFrom<Decision>("hide", "forbid", "allow")
    const acl = fc.record(
      {
        default: decision,
        rules: fc.array(fc.record({ user: userArbitrary(fc), decision }), { maxLength: 8 })
      },
      { requiredKeys: [] }
    )
    return fc.oneof(
      exp,
      fc.record({ expiration: exp, initialAcl: acl }, { requiredKeys: ["initialAcl"] })
    )
  }
})

type Parts = {
  readonly expiration?: Duration.DurationInput | "never" | undefined
  readonly initialAcl?: InitialAcl | undefined
}

const isParts = (input: Duration.DurationInput | "never" | Parts): input is Parts =>
  typeof input === "object" && !Array.isArray(input) && !Duration.isDuration(input)

/**
 * Reads a lifecycle as callers write it (plain or with `initialAcl`), without Effect's clamping:
 * a negative, NaN, fractional or infinite expiration, or a bare number, is refused. `undefined`
 * when it says nothing (`{}`). The `Left` carries the value as written and the reason.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromInput = (
  input: Duration.DurationInput | "never" | Parts
): Either.Either<ObjectLifecycle | undefined, { readonly value: string; readonly reason: string }> => {
  const parts = isParts(input) ? input : { expiration: input, initialAcl: undefined }
  const rawExpiration = parts.expiration
  const acl = parts.initialAcl
  let exp: Expiration | undefined
  if (rawExpiration === "never") exp = "never"
  else if (rawExpiration !== undefined) {
    const read = InternalDuration.fromOption(rawExpiration, expirationReason)
    if (Either.isLeft(read)) return read
    exp = read.right
  }
  const lifecycle: ObjectLifecycle | undefined = acl === undefined
    ? exp
    : exp === undefined
    ? { initialAcl: acl }
    : { expiration: exp, initialAcl: acl }
  if (lifecycle === undefined) return Either.right(undefined)
  const reason = validate(lifecycle)
  return reason === undefined ? Either.right(lifecycle) : Either.left({ value: show(lifecycle), reason })
}

/**
 * A lifecycle: an expiration (a `Duration` of whole seconds, or `"never"`), or {@link WithAcl}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const type: Schema.Schema<ObjectLifecycle> = codec.type

/**
 * Decodes the wire string and encodes back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Schema<ObjectLifecycle, string> = codec.schema

/**
 * @since 0.1.0
 * @category codec
 */
export const encode = codec.encode

/**
 * @since 0.1.0
 * @category codec
 */
export const decode = codec.decode
