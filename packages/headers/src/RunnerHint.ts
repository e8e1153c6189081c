/**
 * `X-Fal-Runner-Hint`: asks fal to route the request to a specific runner (session affinity:
 * a runner that already holds a LoRA or a conversation in memory). When the hinted runner is
 * unavailable, fal routes to any runner. Responses may suggest hints in `x-fal-runner-hints`.
 *
 * Wire form: the hint itself; non-empty printable ASCII, no CR/LF, no surrounding whitespace.
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
export const name = "X-Fal-Runner-Hint"

/**
 * The longest runner hint sent.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxLength = 1024

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<string> = HeaderCodec.make<string>({
  name,
  location: "header",
  expected: `1 to ${maxLength} visible ASCII characters (no spaces)`,
  type: Schema.String,
  maxLength,
  validate: (hint) => tokenReason(hint, maxLength),
  parse: Either.right,
  print: (hint) => hint,
  show: (hint) => quote(clip(hint)),
  arbitrary: (fc) => fc.stringMatching(/^[!-~]{1,32}$/)
})

/**
 * A runner hint: 1 to 1,024 visible ASCII characters, no spaces (SPEC).
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
