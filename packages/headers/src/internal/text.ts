/**
 * Checks shared by the codecs: the HTTP field-value grammar restricted to printable ASCII.
 */

/** Printable ASCII (0x20..0x7E): rules out CR, LF, NUL, DEL and every non-ASCII character. */
const printable = /^[\x20-\x7e]*$/

/**
 * The reason a string is not a safe header value, or `undefined` when it is: non-empty,
 * printable ASCII only (so no CR/LF), no leading or trailing space.
 */
export const headerTextReason = (value: string, maxLength = Number.POSITIVE_INFINITY): string | undefined => {
  if (value.length === 0) return "must not be empty"
  if (value.length > maxLength) return `must be at most ${maxLength} characters long`
  if (!printable.test(value)) {
    return "must contain only printable ASCII characters (no CR, LF or other control characters)"
  }
  if (value.trim() !== value) return "must not start or end with whitespace"
  return undefined
}

/** Visible ASCII (0x21..0x7E): no space at all, no control character. */
const visible = /^[\x21-\x7e]*$/

/**
 * The reason a string is not a single visible-ASCII token (a runner hint, an idempotency key),
 * or `undefined`: non-empty, at most `maxLength` characters, no space, no control character.
 */
export const tokenReason = (value: string, maxLength: number): string | undefined => {
  if (value.length === 0) return "must not be empty"
  if (value.length > maxLength) return `must be at most ${maxLength} characters long`
  if (!visible.test(value)) {
    return "must contain only visible ASCII characters (no spaces, CR, LF or other control characters)"
  }
  return undefined
}

/** Cuts a long wire string for a message: the error stays small whatever arrived. */
export const clip = (value: string, max = 64): string => (value.length > max ? `${value.slice(0, max)}…` : value)

/** A wire string, quoted for messages; control characters are escaped so a message is one line. */
export const quote = (value: string): string => JSON.stringify(value)

/** Flag spellings accepted on decode, case-insensitively. */
const truthy = new Set(["1", "true", "yes"])
const falsy = new Set(["0", "false", "no"])

export const parseFlag = (wire: string): boolean | undefined => {
  const lower = wire.toLowerCase()
  return truthy.has(lower) ? true : falsy.has(lower) ? false : undefined
}
