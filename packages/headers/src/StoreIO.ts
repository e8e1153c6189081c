/**
 * `X-Fal-Store-IO`: whether fal stores the request's JSON payloads (input and output). They are
 * stored for 30 days by default and power the dashboard's request history; `false` (wire `0`)
 * keeps them from being stored at all. CDN files the request produces are still stored (see
 * `ObjectLifecycle`).
 *
 * Wire form: `1` or `0` (decoding also accepts `true`/`false`, `yes`/`no`).
 *
 * @since 0.1.0
 */
import type * as Schema from "effect/Schema"
import type * as HeaderCodec from "./HeaderCodec.js"
import * as Flag from "./internal/flag.js"

/**
 * @since 0.1.0
 * @category wire
 */
export const name = "X-Fal-Store-IO"

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<boolean> = Flag.make(name, { true: "1", false: "0" })

/**
 * A boolean.
 *
 * @since 0.1.0
 * @category schemas
 */
export const type: Schema.Schema<boolean> = codec.type

/**
 * Decodes the wire string and encodes back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Schema<boolean, string> = codec.schema

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
