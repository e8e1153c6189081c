/** Header maps as they come: any casing, values possibly repeated. */
export type HeaderInput = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

/**
 * A case-insensitive view of a header record: lower-cased name to value (repeated values are
 * joined with ", " as HTTP allows).
 */
export const lowerCase = (headers: HeaderInput): Map<string, string> => {
  const out = new Map<string, string>()
  for (const key in headers) {
    const value = headers[key]
    if (value === undefined) continue
    const text = typeof value === "string" ? value : value.join(", ")
    const lower = key.toLowerCase()
    const previous = out.get(lower)
    out.set(lower, previous === undefined ? text : `${previous}, ${text}`)
  }
  return out
}
