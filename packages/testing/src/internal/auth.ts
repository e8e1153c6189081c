/**
 * API keys: `Authorization: Key <key>`, with API or ADMIN scope.
 */
import type * as FalPlatform from "../FalPlatform.js"

export type Auth = FalPlatform.HttpLogEntry["auth"]

export const authenticate = (keys: ReadonlyArray<FalPlatform.ApiKey>, authorization: string | undefined): Auth => {
  if (authorization === undefined || authorization.trim() === "") return "missing"
  const match = /^key\s+(.+)$/i.exec(authorization.trim())
  if (match === null) return "unknown"
  const found = keys.find((k) => k.key === match[1].trim())
  return found === undefined ? "unknown" : found.scope === "ADMIN" ? "admin" : "user"
}

export const redact = (authorization: string): string => authorization.replace(/^(\S+)\s+.*$/, "$1 <redacted>")
