/**
 * A slow link between the clients and the emulator, for benches and for tests of code that must
 * cope with one: latency added to every request, a throughput cap on request bodies, and a loss
 * rate on upload PUTs. Give it to the platform (`FalPlatform.layer({ link })`,
 * `FalEmulator.layer({ link })`, `FalEmulator.layerClient({ config: { link } })`) or to the
 * standalone emulator (`fal-emulator --latency 50ms --throughput 20MB/s --loss 0.05`). Time is
 * the Effect `Clock`: under `TestClock` a 1 MB body at 1 MB/s takes one second of test time.
 *
 * - `latency`: waited once per request, after its body was read and before it is handled.
 * - `throughput`: bytes per second of a request body, per request. The body is read no faster
 *   (on loopback, reading it slower holds the client back through TCP); over HTTP/1.1 a
 *   connection carries one request at a time, so this is the throughput of a connection.
 * - `loss`: the fraction of PUTs to the upload base (single PUTs and parts) that are lost: the
 *   body is read, nothing is stored, the connection is reset (the request log says `"reset"`).
 *   The draws come from a generator seeded with `seed`.
 *
 * @example
 * ```ts
 * import { FalEmulator, Link } from "@effect-fal/testing"
 * import { Either } from "effect"
 *
 * const link = Either.getOrThrow(Link.parse({ latency: "50ms", throughput: "20MB/s", loss: "0.05" }))
 * const emulator = FalEmulator.layer({ link })
 * ```
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/**
 * @since 0.2.0
 * @category models
 */
export interface Link {
  /** Added to every request. Default none. */
  readonly latency?: Duration.DurationInput | undefined
  /** Bytes per second of a request body (above 0). Default: no cap. */
  readonly throughput?: number | undefined
  /** The fraction of upload PUTs lost, from 0 to 1. Default 0. */
  readonly loss?: number | undefined
  /** The seed of the loss draws. Default 1: the same PUTs, in order of arrival, are lost on every run. */
  readonly seed?: number | undefined
}

/**
 * A link setting that cannot be used, naming the setting and why.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidLink extends Schema.TaggedError<InvalidLink>("@effect-fal/testing/InvalidLink")("InvalidLink", {
  setting: Schema.String,
  value: Schema.String,
  reason: Schema.String
}) {
  /**
   * @since 0.2.0
   */
  override get message(): string {
    return `--${this.setting} ${this.value}: ${this.reason}`
  }
}

const units: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3
}

/**
 * A throughput as written on a command line: `20MB/s`, `512KiB/s`, `1e6` (bytes per second;
 * `KB`, `MB`, `GB` are powers of 1000, `KiB`, `MiB`, `GiB` of 1024; the `/s` is optional).
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseThroughput = (text: string): Either.Either<number, InvalidLink> => {
  const match = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]*)(?:\/s)?\s*$/i.exec(text)
  const unit = match === null ? undefined : units[match[2].toLowerCase()]
  const value = match === null || unit === undefined ? NaN : Number(match[1]) * unit
  return Number.isFinite(value) && value > 0
    ? Either.right(value)
    : Either.left(
      new InvalidLink({
        setting: "throughput",
        value: text,
        reason: "must be bytes per second above 0, e.g. 20MB/s, 512KiB/s or 1000000"
      })
    )
}

/**
 * A duration as written on a command line: `50ms`, `1.5s`, `2m`, or anything `Duration.decode`
 * takes (`"50 millis"`).
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseDuration = (text: string): Either.Either<Duration.Duration, InvalidLink> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*$/.exec(text)
  const decoded = match !== null
    ? Option.some(Duration.millis(Number(match[1]) * (match[2] === "ms" ? 1 : match[2] === "s" ? 1000 : 60_000)))
    : Duration.decodeUnknown(text)
  return Either.fromOption(
    Option.filter(decoded, Duration.isFinite),
    () => new InvalidLink({ setting: "latency", value: text, reason: "must be a duration, e.g. 50ms, 1.5s or 2m" })
  )
}

/**
 * Checks a link's settings: a latency of 0 or more, a throughput above 0, a loss from 0 to 1.
 *
 * @since 0.2.0
 * @category parsing
 */
export const validate = (link: Link): Either.Either<Link, InvalidLink> => {
  if (link.latency !== undefined) {
    const latency = Duration.decodeUnknown(link.latency)
    if (latency._tag === "None" || !Duration.isFinite(latency.value)) {
      return Either.left(new InvalidLink({ setting: "latency", value: String(link.latency), reason: "must be finite" }))
    }
  }
  if (link.throughput !== undefined && !(Number.isFinite(link.throughput) && link.throughput > 0)) {
    return Either.left(
      new InvalidLink({ setting: "throughput", value: String(link.throughput), reason: "must be above 0 bytes/s" })
    )
  }
  if (link.loss !== undefined && !(link.loss >= 0 && link.loss <= 1)) {
    return Either.left(new InvalidLink({ setting: "loss", value: String(link.loss), reason: "must be from 0 to 1" }))
  }
  if (link.seed !== undefined && !Number.isSafeInteger(link.seed)) {
    return Either.left(new InvalidLink({ setting: "seed", value: String(link.seed), reason: "must be an integer" }))
  }
  return Either.right(link)
}

const number = (setting: string, text: string): Either.Either<number, InvalidLink> => {
  const value = text.trim().length === 0 ? NaN : Number(text)
  return Number.isFinite(value)
    ? Either.right(value)
    : Either.left(new InvalidLink({ setting, value: text, reason: "must be a number" }))
}

/**
 * A link from command-line texts (the `fal-emulator` flags use it): `latency` as
 * {@link parseDuration}, `throughput` as {@link parseThroughput}, `loss` a number from 0 to 1,
 * `seed` an integer. Absent settings are left out.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (flags: {
  readonly latency?: string | undefined
  readonly throughput?: string | undefined
  readonly loss?: string | undefined
  readonly seed?: string | undefined
}): Either.Either<Link, InvalidLink> =>
  Either.gen(function*() {
    const latency = flags.latency === undefined ? undefined : yield* parseDuration(flags.latency)
    const throughput = flags.throughput === undefined ? undefined : yield* parseThroughput(flags.throughput)
    const loss = flags.loss === undefined ? undefined : yield* number("loss", flags.loss)
    const seed = flags.seed === undefined ? undefined : yield* number("seed", flags.seed)
    return yield* validate({
      ...(latency === undefined ? {} : { latency }),
      ...(throughput === undefined ? {} : { throughput }),
      ...(loss === undefined ? {} : { loss }),
      ...(seed === undefined ? {} : { seed })
    })
  })

/**
 * A link as one line: `latency 50 ms, 20 MB/s per connection, 5% of upload PUTs lost (seed 1)`.
 *
 * @since 0.2.0
 * @category formatting
 */
export const describe = (link: Link): string => {
  const parts: Array<string> = []
  if (link.latency !== undefined) parts.push(`latency ${Duration.format(Duration.decode(link.latency))}`)
  if (link.throughput !== undefined) parts.push(`${+(link.throughput / 1e6).toFixed(3)} MB/s per connection`)
  if (link.loss !== undefined && link.loss > 0) {
    parts.push(`${+(link.loss * 100).toFixed(2)}% of upload PUTs lost (seed ${link.seed ?? 1})`)
  }
  return parts.length === 0 ? "no link model" : parts.join(", ")
}
