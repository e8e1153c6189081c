/**
 * `X-Fal-Queue-Priority`: the request's priority in the endpoint's queue. The queue is per
 * endpoint and shared by every caller, so `"low"` waits behind every `"normal"` request,
 * whoever sent it. Priority can only be lowered: there is no `"high"`.
 *
 * Wire form: `normal` or `low` (decoding ignores case).
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as HeaderCodec from "./HeaderCodec.js"
import { quote } from "./internal/text.js"

/**
 * @since 0.1.0
 * @category wire
 */
export const name = "X-Fal-Queue-Priority"

/**
 * @since 0.1.0
 * @category models
 */
export type QueuePriority = "normal" | "low"

const reason = "must be \"normal\" or \"low\""

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<QueuePriority> = HeaderCodec.make<QueuePriority>({
  name,
  location: "header",
  expected: "\"normal\" or \"low\"",
  type: Schema.Literal("normal", "low"),
  validate: (priority) => priority === "normal" || priority === "low" ? undefined : reason,
  parse: (wire) => {
    const lower = wire.toLowerCase()
    return lower === "normal" || lower === "low" ? Either.right(lower) : Either.left(reason)
  },
  print: (priority) => priority,
  show: quote,
  arbitrary: (fc) => fc.constantFrom<QueuePriority>("normal", "low")
})

/**
 * A queue priority, `"normal"` or `"low"`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const type: Schema.Schema<QueuePriority> = codec.type

/**
 * Decodes the wire string and encodes back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Schema<QueuePriority, string> = codec.schema

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
