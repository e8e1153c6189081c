/**
 * The shape shared by every request header and query parameter codec, and the one place that
 * builds it from a definition (parse, print, validate). Each wire item's module (`StartTimeout`,
 * `QueuePriority`, ...) exports its `codec` along with `name`, `schema`, `encode` and `decode`.
 *
 * @since 0.1.0
 */
import type * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { clip, quote } from "./internal/text.js"
import * as InvalidRequestOptions from "./InvalidRequestOptions.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Definition<A> {
  /** Wire name, spelled as the platform documents it. */
  readonly name: string
  readonly location: "header" | "query"
  /** What a valid value looks like, for messages ("a non-negative integer"). */
  readonly expected: string
  /** The type side, before validation. */
  readonly type: Schema.Schema<A>
  /** `undefined` when valid, else the reason. */
  readonly validate: (value: A) => string | undefined
  /** Wire string (already trimmed) to value, or the reason it is unreadable. Validation runs after. */
  readonly parse: (wire: string) => Either.Either<A, string>
  /** Value (already validated) to wire string. */
  readonly print: (value: A) => string
  /** Value rendered in messages. */
  readonly show: (value: A) => string
  /** A generator of valid values, used by `Arbitrary.make`. */
  readonly arbitrary: Arbitrary.LazyArbitrary<A>
  /**
   * The longest wire string accepted (default {@link defaultMaxLength}): a longer one is
   * rejected on decode before it is parsed. Codecs of free text also bound their values.
   */
  readonly maxLength?: number | undefined
}

/**
 * The default bound on a wire string: generous for numbers, flags and enumerations.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxLength = 256

/**
 * @since 0.1.0
 * @category models
 */
export interface HeaderCodec<A> {
  readonly name: string
  readonly location: "header" | "query"
  readonly expected: string
  /** The longest wire string accepted. */
  readonly maxLength: number
  /** The validated type side: `Schema.is(type)` accepts exactly the encodable values. */
  readonly type: Schema.Schema<A>
  readonly schema: Schema.Schema<A, string>
  readonly encode: (value: A) => Either.Either<string, InvalidRequestOptions.InvalidRequestOptions>
  readonly decode: (wire: string) => Either.Either<A, InvalidRequestOptions.InvalidRequestOptions>
  /** The reason a value is not encodable, if any (no allocation on the happy path). */
  readonly validate: (value: A) => string | undefined
  /** Unchecked fast path for values already validated. */
  readonly print: (value: A) => string
  /** Parse and validate; the reason on failure. */
  readonly read: (wire: string) => Either.Either<A, string>
  readonly show: (value: A) => string
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <A>(def: Definition<A>): HeaderCodec<A> => {
  const type = def.type.pipe(
    Schema.filter((value: A) => def.validate(value), {
      identifier: def.name,
      arbitrary: () => def.arbitrary
    })
  )
  const maxLength = def.maxLength ?? defaultMaxLength
  const tooLong = `must be at most ${maxLength} characters long`
  const read = (wire: string): Either.Either<A, string> => {
    if (wire.length > maxLength) return Either.left(tooLong)
    const parsed = def.parse(wire.trim())
    if (Either.isLeft(parsed)) return parsed
    const reason = def.validate(parsed.right)
    return reason === undefined ? parsed : Either.left(reason)
  }
  const schema: Schema.Schema<A, string> = Schema.transformOrFail(Schema.String, type, {
    strict: true,
    decode: (wire, _, ast) => {
      const parsed = wire.length > maxLength ? Either.left(tooLong) : def.parse(wire.trim())
      return Either.isRight(parsed)
        ? ParseResult.succeed(parsed.right)
        : ParseResult.fail(new ParseResult.Type(ast, wire, `${def.name}: ${parsed.left}`))
    },
    encode: (value) => ParseResult.succeed(def.print(value))
  }).annotations({ identifier: `${def.name} (wire)` })
  const invalid = (value: string, reason: string) =>
    InvalidRequestOptions.single({ name: def.name, location: def.location, value, reason })
  return {
    name: def.name,
    location: def.location,
    expected: def.expected,
    maxLength,
    type,
    schema,
    validate: def.validate,
    print: def.print,
    show: def.show,
    read,
    encode: (value) => {
      const reason = def.validate(value)
      return reason === undefined ? Either.right(def.print(value)) : Either.left(invalid(def.show(value), reason))
    },
    decode: (wire) => Either.mapLeft(read(wire), (reason) => invalid(quote(clip(wire)), reason))
  }
}
