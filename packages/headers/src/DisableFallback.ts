/**
 * `x-app-fal-disable-fallback`: turns off fal's automatic rerouting of the request to an
 * equivalent endpoint when the primary is unavailable.
 *
 * Wire form: `true` or `false` (fal documents no value; its examples use `true` and `1`);
 * decoding accepts `1`, `true`, `yes` and `0`, `false`, `no` in any case.
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
export const name = "x-app-fal-disable-fallback"

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<boolean> = Flag.make(name, { true: "true", false: "false" })

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
