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

export const authenticate = (keys: ReadonlyArray<FalPlatform.ApiKey>, authorization: string | undefined): Auth => {
  if (authorization === undefined || authorization.trim() === "") return "missing"
  const key = keyOf(authorization)
  if (key === undefined) return "unknown"
  const found = keys.find((k) => k.key === key)
  return found === undefined ? "unknown" : found.scope === "ADMIN" ? "admin" : "user"
}

export const redact = (authorization: string): string => authorization.replace(/^(\S+)\s+.*$/, "$1 <redacted>")
