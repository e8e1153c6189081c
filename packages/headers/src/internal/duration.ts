import * as Duration from "effect/Duration"
import * as Either from "effect/Either"

const negative = /^\s*-/

/**
 * Reads a `DurationInput` without Effect's clamping: `Duration.decode` turns a negative or NaN
 * input into zero, which would silently change "-1 seconds" into "expire at once". Such inputs
 * are refused here instead.
 */
export const fromInput = (input: Duration.DurationInput): Either.Either<Duration.Duration, void> => {
  if (Duration.isDuration(input)) return Either.right(input)
  if (typeof input === "number") {
    return Number.isNaN(input) || input < 0
      ? Either.left(undefined)
      : Either.right(Duration.millis(input))
  }
  if (typeof input === "bigint") return input < 0n ? Either.left(undefined) : Either.right(Duration.nanos(input))
  if (typeof input === "string") {
    if (negative.test(input)) return Either.left(undefined)
    return Either.map(Duration.decodeUnknown(input).pipe(Either.fromOption(() => undefined)), (d) => d)
  }
  if (Array.isArray(input)) {
    const [seconds, nanos] = input
    return Number.isNaN(seconds) || Number.isNaN(nanos) || seconds < 0 || nanos < 0
      ? Either.left(undefined)
      : Either.right(Duration.decode(input))
  }
  return Either.left(undefined)
}

/** A `DurationInput` as the caller wrote it, for messages. */
export const show = (input: Duration.DurationInput): string => {
  if (Duration.isDuration(input)) return Duration.isFinite(input) ? Duration.format(input) : "Infinity"
  if (typeof input === "number") return `${input} millis`
  if (typeof input === "bigint") return `${input} nanos`
  if (typeof input === "string") return JSON.stringify(input)
  return `[${input[0]} seconds, ${input[1]} nanos]`
}

/**
 * A duration as the request options accept it: any `DurationInput` but a bare number, which
 * Effect reads as milliseconds while fal's SDKs read seconds.
 */
export type Input = Exclude<Duration.DurationInput, number>

/** Why a bare number is refused, with the two spellings that say what was meant. */
export const bareNumber = (n: number): string => {
  const example = Number.isFinite(n) && n > 0 ? n : 30
  return `must not be a bare number (fal's SDKs read seconds, Effect's Duration milliseconds): write "${example} seconds" or Duration.seconds(${example})`
}

/**
 * Reads an option's duration: a bare number is refused with {@link bareNumber} (callers without
 * types can still pass one), a negative or NaN input with `invalid`.
 */
export const fromOption = (
  input: Duration.DurationInput,
  invalid: string
): Either.Either<Duration.Duration, { readonly value: string; readonly reason: string }> => {
  if (typeof input === "number") return Either.left({ value: String(input), reason: bareNumber(input) })
  return Either.mapLeft(fromInput(input), () => ({ value: show(input), reason: invalid }))
}
