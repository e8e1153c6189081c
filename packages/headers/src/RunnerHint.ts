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
import { headerTextReason, quote } from "./internal/text.js"

/**
 * @since 0.1.0
 * @category wire
 */
export const name = "X-Fal-Runner-Hint"

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<string> = HeaderCodec.make<string>({
  name,
  location: "header",
  expected: "non-empty printable ASCII without surrounding whitespace",
  type: Schema.String,
  validate: (hint) => headerTextReason(hint),
  parse: Either.right,
  print: (hint) => hint,
  show: quote,
  arbitrary: (fc) => fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/)
})

/**
 * A runner hint: non-empty printable ASCII without surrounding whitespace.
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
