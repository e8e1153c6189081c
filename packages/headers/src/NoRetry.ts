/**
 * `X-Fal-No-Retry`: turns off the queue's automatic retries of this request. Without it, a
 * queued request is retried up to 10 attempts in total on 503, 504 and connection errors.
 * Synchronous runs are never retried by the server.
 *
 * Wire form: `true` encodes as `1`, `false` as `0` (the platform default); decoding accepts
 * `1`, `true`, `yes` and `0`, `false`, `no` in any case.
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
export const name = "X-Fal-No-Retry"

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
