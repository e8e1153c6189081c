/**
 * `fal_webhook` (query parameter): a URL fal POSTs the result to when a queued request
 * completes, with `{"request_id", "gateway_request_id", "status", "payload", "error"?,
 * "payload_error"?}`, retrying up to 10 times over 2 hours. It never carries your key.
 *
 * Wire form: an absolute `http` or `https` URL, on the submit URL's query string.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as HeaderCodec from "./HeaderCodec.js"
import { clip, quote } from "./internal/text.js"

/**
 * @since 0.1.0
 * @category wire
 */
export const name = "fal_webhook"

/**
 * The longest webhook URL sent.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxLength = 2048

const check = (url: string): string | undefined => {
  if (url.length > maxLength) return `must be at most ${maxLength} characters long`
  if (!/^[\x21-\x7e]+$/.test(url)) return "must be a URL without spaces or control characters"
  if (!/^https?:\/\//i.test(url)) return "must be an absolute http(s) URL"
  return URL.canParse(url) ? undefined : "must be an absolute http(s) URL"
}

// An application sends the same webhook URL on every submit, and `URL.canParse` is the most
// expensive step of a round trip: the last URL checked and its verdict are kept.
let lastUrl: string | undefined
let lastReason: string | undefined

const validate = (url: string): string | undefined => {
  if (url !== lastUrl) {
    lastReason = check(url)
    lastUrl = url
  }
  return lastReason
}

/**
 * @since 0.1.0
 * @category codec
 */
export const codec: HeaderCodec.HeaderCodec<string> = HeaderCodec.make<string>({
  name,
  location: "query",
  expected: `an absolute http(s) URL of at most ${maxLength} characters`,
  type: Schema.String,
  maxLength,
  validate,
  parse: Either.right,
  print: (url) => url,
  show: (url) => quote(clip(url)),
  arbitrary: (fc) => fc.webUrl({ withQueryParameters: true }).filter((url) => validate(url) === undefined)
})

/**
 * An absolute http(s) URL.
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
