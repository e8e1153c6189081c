/**
 * `fal_max_queue_length` (query parameter): fail fast. fal answers `429` instead of queueing
 * the request when the endpoint's queue already holds more than this many waiting requests,
 * counting every caller's. That 429 is the caller's own choice, so it is never retried.
 *
 * Wire form: a non-negative integer in decimal, on the submit URL's query string.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as HeaderCodec from "./HeaderCodec.js"

/**
 * @since 0.1.0
 * @category wire
 */
export const name = "fal_max_queue_length"

const reason = "must be a non-negative integer"

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<number> = HeaderCodec.make<number>({
  name,
  location: "query",
  expected: "a non-negative integer",
  type: Schema.Number,
  validate: (length) => Number.isSafeInteger(length) && length >= 0 ? undefined : reason,
  parse: (wire) => /^\d+$/.test(wire) ? Either.right(Number(wire)) : Either.left(reason),
  print: String,
  show: String,
  arbitrary: (fc) => fc.nat()
})

/**
 * A non-negative safe integer.
 *
 * @since 0.1.0
 * @category schemas
 */
export const type: Schema.Schema<number> = codec.type

/**
 * Decodes the wire string and encodes back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Schema<number, string> = codec.schema

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
