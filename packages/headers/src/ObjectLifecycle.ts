/**
 * `X-Fal-Object-Lifecycle-Preference`: how long the CDN files the request produces are kept.
 * Expired files are deleted for good. Without it, the account setting applies (forever when
 * unset).
 *
 * Wire form: JSON `{"expiration_duration_seconds": n}` with a whole number of seconds n >= 0,
 * or `null` for n to keep the files forever. The value here is a `Duration` of whole seconds,
 * or `"never"`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as HeaderCodec from "./HeaderCodec.js"

/**
 * @since 0.1.0
 * @category wire
 */
export const name = "X-Fal-Object-Lifecycle-Preference"

/**
 * A whole number of seconds, or `"never"` to keep the files forever.
 *
 * @since 0.1.0
 * @category models
 */
export type ObjectLifecycle = Duration.Duration | "never"

const field = "expiration_duration_seconds"
const shape = `must be JSON {"${field}": n} with a whole number of seconds n >= 0, or null`

const wholeSeconds = (duration: Duration.Duration): number | undefined => {
  const millis = Duration.toMillis(duration)
  if (Number.isSafeInteger(millis)) return millis % 1000 === 0 ? millis / 1000 : undefined
  const nanos = Duration.toNanos(duration)
  if (Option.isNone(nanos) || nanos.value % 1_000_000_000n !== 0n) return undefined
  const seconds = Number(nanos.value / 1_000_000_000n)
  return Number.isSafeInteger(seconds) ? seconds : undefined
}

/** The documented spellings, read without a JSON parser. */
const documented = /^\{\s*"expiration_duration_seconds"\s*:\s*(\d{1,15}|null)\s*\}$/

const parse = (wire: string): Either.Either<ObjectLifecycle, string> => {
  const match = documented.exec(wire)
  if (match !== null) return Either.right(match[1] === "null" ? "never" : Duration.seconds(Number(match[1])))
  let json: unknown
  try {
    json = JSON.parse(wire)
  } catch {
    return Either.left(shape)
  }
  const seconds = json === null ? null : Predicate.isRecord(json) && field in json ? json[field] : undefined
  if (seconds === null) return Either.right("never")
  return typeof seconds === "number" && Number.isSafeInteger(seconds) && seconds >= 0
    ? Either.right(Duration.seconds(seconds))
    : Either.left(shape)
}

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<ObjectLifecycle> = HeaderCodec.make<ObjectLifecycle>({
  name,
  location: "header",
  expected: "a whole number of seconds (0 or more), or \"never\"",
  type: Schema.Union(Schema.Literal("never"), Schema.DurationFromSelf),
  validate: (lifecycle) =>
    lifecycle === "never" || wholeSeconds(lifecycle) !== undefined
      ? undefined
      : "must be a whole number of seconds (0 or more), or \"never\"",
  parse,
  // The spacing is the one fal's documentation shows (Python's json.dumps).
  print: (lifecycle) => `{"${field}": ${lifecycle === "never" ? "null" : wholeSeconds(lifecycle)}}`,
  show: (lifecycle) => lifecycle === "never" ? "\"never\"" : Duration.format(lifecycle),
  arbitrary: (fc) =>
    fc.oneof(
      fc.constant<ObjectLifecycle>("never"),
      fc.integer({ min: 0, max: 10 * 365 * 86_400 }).map((seconds) => Duration.seconds(seconds))
    )
})

/**
 * A lifecycle: a `Duration` of whole seconds, or `"never"`.
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
