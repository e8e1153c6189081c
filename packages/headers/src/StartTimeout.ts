/**
 * `X-Fal-Request-Timeout`: the server-side deadline for the request to *start*. The clock
 * starts at submission and covers queue wait, runner acquisition and failed retry attempts;
 * once a runner begins, it stops. On expiry fal answers `504` with
 * `X-Fal-Request-Timeout-Type: user`.
 *
 * Wire form: seconds as a plain decimal string (`"30"`, `"0.5"`), finite and greater than 0.1.
 * fal's newest reference renames the header `X-Fal-Request-Start-Timeout`; decoding accepts
 * both (the newer name wins when both are present) and encoding uses the older name unless
 * told otherwise, as fal's official clients do.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as HeaderCodec from "./HeaderCodec.js"
import type * as InternalDuration from "./internal/duration.js"

/**
 * The header fal's official clients send, and the default encoding.
 *
 * @since 0.1.0
 * @category wire
 */
export const name = "X-Fal-Request-Timeout"

/**
 * The newer spelling; it wins over {@link name} when a request carries both.
 *
 * @since 0.1.0
 * @category wire
 */
export const startTimeoutName = "X-Fal-Request-Start-Timeout"

/**
 * Which of the two header names to encode with.
 *
 * @since 0.1.0
 * @category wire
 */
export type HeaderName = typeof name | typeof startTimeoutName

/**
 * A start timeout as callers write it: any `DurationInput` but a bare number, which is
 * ambiguous (fal's SDKs read seconds, Effect milliseconds). Write `"30 seconds"` or
 * `Duration.seconds(30)`.
 *
 * @since 0.2.0
 * @category models
 */
export type Input = InternalDuration.Input

/**
 * The smallest value the platform rejects; valid timeouts are strictly greater.
 *
 * @since 0.1.0
 * @category constants
 */
export const minimum: Duration.Duration = Duration.millis(100)

const nanosPerSecond = 1_000_000_000n
const nanosPerMilli = 1_000_000n
const maxSafeMillis = BigInt(Number.MAX_SAFE_INTEGER)
const decimal = /^(\d+)(?:\.(\d+))?$/

/**
 * The exact length of a finite duration in nanoseconds. A duration held in milliseconds is read
 * from its own value: `Duration.toNanos` goes through a double, which is not exact past 2^53 ns
 * (about 104 days).
 */
const exactNanos = (duration: Duration.Duration): bigint => {
  const value = duration.value
  switch (value._tag) {
    case "Nanos":
      return value.nanos
    case "Millis":
      return Number.isSafeInteger(value.millis)
        ? BigInt(value.millis) * nanosPerMilli
        : Option.getOrThrow(Duration.toNanos(duration))
    case "Infinity":
      return Option.getOrThrow(Duration.toNanos(duration))
  }
}

/**
 * The one form the codec reads a length in: whole milliseconds that fit a double exactly as
 * `Duration.millis`, anything else as `Duration.nanos`. Printing and reading it back gives the
 * same value, whatever its size.
 */
const canonical = (nanos: bigint): Duration.Duration =>
  nanos % nanosPerMilli === 0n && nanos / nanosPerMilli <= maxSafeMillis
    ? Duration.millis(Number(nanos / nanosPerMilli))
    : Duration.nanos(nanos)

/**
 * Exact decimal seconds for a finite duration, at nanosecond precision, without trailing zeros:
 * what {@link parseSeconds} reads back to the same length.
 */
const printSeconds = (duration: Duration.Duration): string => {
  const value = duration.value
  if (value._tag === "Millis" && Number.isSafeInteger(value.millis)) {
    // Fast path: whole milliseconds, no BigInt arithmetic.
    const millis = value.millis
    const rest = millis % 1000
    const whole = (millis - rest) / 1000
    return rest === 0 ? String(whole) : `${whole}.${String(rest).padStart(3, "0").replace(/0+$/, "")}`
  }
  const nanos = exactNanos(duration)
  const whole = nanos / nanosPerSecond
  const fraction = (nanos % nanosPerSecond).toString().padStart(9, "0").replace(/0+$/, "")
  return fraction.length === 0 ? whole.toString() : `${whole}.${fraction}`
}

/**
 * Reads decimal seconds exactly, at nanosecond precision (digits past the ninth decimal are
 * dropped, as {@link printSeconds} never writes them), into the {@link canonical} form.
 */
const parseSeconds = (wire: string): Either.Either<Duration.Duration, string> => {
  const match = decimal.exec(wire)
  if (match === null) return Either.left("must be a decimal number of seconds, such as \"30\" or \"0.5\"")
  const whole = match[1]
  const fraction = match[2] ?? ""
  if (whole.length <= 12 && fraction.length <= 3) {
    // Fast path: whole milliseconds below 10^15 fit a double exactly.
    return Either.right(Duration.millis(Number(whole) * 1000 + Number(fraction.padEnd(3, "0"))))
  }
  return Either.right(canonical(BigInt(whole) * nanosPerSecond + BigInt(fraction.slice(0, 9).padEnd(9, "0"))))
}

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<Duration.Duration> = HeaderCodec.make<Duration.Duration>({
  name,
  location: "header",
  expected: "a finite number of seconds greater than 0.1",
  type: Schema.DurationFromSelf,
  validate: (duration) =>
    !Duration.isFinite(duration)
      ? "must be a finite number of seconds greater than 0.1"
      : Duration.lessThanOrEqualTo(duration, minimum)
      ? "must be greater than 0.1 seconds"
      : undefined,
  parse: parseSeconds,
  print: printSeconds,
  show: (duration) => Duration.isFinite(duration) ? `${printSeconds(duration)} seconds` : "Infinity",
  arbitrary: (fc) =>
    fc.oneof(
      fc.integer({ min: 101, max: 86_400_000 }).map(Duration.millis),
      fc.bigInt({ min: 100_000_001n, max: 3_600_000_000_000n }).map(Duration.nanos)
    )
})

/**
 * The validated value: a finite duration greater than 0.1 seconds.
 *
 * @since 0.1.0
 * @category schemas
 */
export const type: Schema.Schema<Duration.Duration> = codec.type

/**
 * Decodes the wire string to a `Duration` and encodes back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Schema<Duration.Duration, string> = codec.schema

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
