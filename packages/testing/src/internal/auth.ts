/**
 * API keys: `Authorization: Key <key>`, with API or ADMIN scope.
 */
import type * as FalPlatform from "../FalPlatform.js"

export type Auth = FalPlatform.HttpLogEntry["auth"]

/** The key of an `Authorization: Key <key>` header. */
export const keyOf = (authorization: string | undefined): string | undefined => {
  const match = /^key\s+(.+)$/i.exec(authorization?.trim() ?? "")
  return match === null ? undefined : match[1].trim()
}

/**
 * What a call's credentials are: a known key's scope, `token` for a temporary token
 * (`Authorization: Bearer`, or `fal_jwt_token` in the query without an `Authorization` header;
 * a route accepting tokens checks it for its app), or `unknown` / `missing`.
 */
export const authenticate = (
  keys: ReadonlyArray<FalPlatform.ApiKey>,
  authorization: string | undefined,
  jwtToken?: string | undefined
): Auth => {
  if (authorization === undefined || authorization.trim() === "") {
    return jwtToken !== undefined && jwtToken !== "" ? "token" : "missing"
  }
  if (/^bearer\s+\S+\s*$/i.test(authorization.trim())) return "token"
  const key = keyOf(authorization)
  if (key === undefined) return "unknown"
  const found = keys.find((k) => k.key === key)
  return found === undefined ? "unknown" : found.scope === "ADMIN" ? "admin" : "user"
}

export const redact = (authorization: string): string => authorization.replace(/^(\S+)\s+.*$/, "$1 <redacted>")
