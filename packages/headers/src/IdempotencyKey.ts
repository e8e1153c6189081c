/**
 * `Idempotency-Key`: the platform caches the response of a mutation (such as a payload
 * delete) per key for 10 minutes, so retrying with the same key cannot apply it twice.
 *
 * Wire form: 1 to 255 printable ASCII characters, no CR/LF, no surrounding whitespace.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as HeaderCodec from "./HeaderCodec.js"
import { clip, quote, tokenReason } from "./internal/text.js"

/**
 * @since 0.1.0
 * @category wire
 */
export const name = "Idempotency-Key"

/**
 * @since 0.1.0
 * @category constants
 */
export const maxLength = 255

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<string> = HeaderCodec.make<string>({
  name,
  location: "header",
  expected: "1 to 255 visible ASCII characters (no spaces)",
  type: Schema.String,
  maxLength,
  validate: (key) => tokenReason(key, maxLength),
  parse: Either.right,
  print: (key) => key,
  show: (key) => quote(clip(key)),
  arbitrary: (fc) => fc.oneof(fc.uuid(), fc.stringMatching(/^[!-~]{1,64}$/))
})

/**
 * An idempotency key: 1 to 255 printable ASCII characters.
 *
 * @since 0.1.0
 * @category schemas
 */
export const type: Schema.Schema<string> = codec.type

/**
 * Decodes the wire string and encodes back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Schema<string, string> = codec.schema

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
