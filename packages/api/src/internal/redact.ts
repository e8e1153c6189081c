import * as FalError from "../FalError.js"

/** Removes credentials from a text. */
export type Redactor = (text: string) => string

/**
 * The forms of a key a server may echo: `Key <key>`, the key, and its secret half (after the
 * first `:` of an `id:secret` key). Longest first, so `Key <key>` is one `<redacted>`.
 */
const forms = (key: string): ReadonlyArray<string> => {
  const out = [`Key ${key}`, key]
  const colon = key.indexOf(":")
  if (colon >= 0 && colon < key.length - 1) out.push(key.slice(colon + 1))
  return out
}

/**
 * One redactor for a set of keys, built once per client. It is applied to texts after they
 * were parsed (never to a body before `JSON.parse`), so a short key cannot corrupt parsing.
 */
export const make = (keys: ReadonlyArray<string>): Redactor => {
  const secrets = [...new Set(keys.flatMap(forms))].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)
  if (secrets.length === 0) return (text) => text
  // one pass (an alternation, longest first): a short key never matches inside `<redacted>`
  const pattern = new RegExp(secrets.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g")
  return (text) => text.replace(pattern, "<redacted>")
}

const known = (redact: Redactor, error: {
  readonly operation?: string | undefined
  readonly modelId?: string | undefined
  readonly requestId?: string | undefined
  readonly status?: number | undefined
  readonly errorType?: string | undefined
  readonly detail?: string | undefined
  readonly meta?: FalError.StartTimeout["meta"]
}) => ({
  ...(error.operation === undefined ? {} : { operation: error.operation }),
  ...(error.modelId === undefined ? {} : { modelId: error.modelId }),
  ...(error.requestId === undefined ? {} : { requestId: error.requestId }),
  ...(error.status === undefined ? {} : { status: error.status }),
  ...(error.errorType === undefined ? {} : { errorType: error.errorType }),
  ...(error.detail === undefined ? {} : { detail: redact(error.detail) }),
  ...(error.meta === undefined ? {} : { meta: error.meta })
})

const issues = (redact: Redactor, list: ReadonlyArray<FalError.ValidationIssue>) =>
  list.map((issue) => new FalError.ValidationIssue({ loc: issue.loc, msg: redact(issue.msg), type: issue.type }))

/**
 * The error with every text that may quote a server (detail, description, validation messages)
 * redacted. Errors without such text are returned as they are.
 */
export const error = (redact: Redactor) => (e: FalError.FalError): FalError.FalError => concise(redacted(redact, e))

/**
 * The error with a stack of its first line only: it was made inside the library, so its frames
 * say nothing to the caller. A printed cause shows the spans instead, `fal.<operation>` with the
 * caller's own file and line.
 */
const concise = (e: FalError.FalError): FalError.FalError => {
  e.stack = `${e.name}: ${e.message}`
  return e
}

const redacted = (redact: Redactor, e: FalError.FalError): FalError.FalError => {
  switch (e._tag) {
    case "TransportError":
      return new FalError.TransportError({
        operation: e.operation,
        mayHaveReached: e.mayHaveReached,
        description: redact(e.description),
        ...(e.requestId === undefined ? {} : { requestId: e.requestId }),
        ...(e.timeout === undefined ? {} : { timeout: e.timeout })
      })
    case "DecodeError":
      return new FalError.DecodeError({
        ...known(redact, e),
        operation: e.operation,
        description: redact(e.description)
      })
    case "ValidationError":
      return new FalError.ValidationError({ ...known(redact, e), issues: issues(redact, e.issues) })
    case "RateLimited":
      return new FalError.RateLimited({ ...known(redact, e), retryAfter: e.retryAfter })
    case "StartTimeout":
      return new FalError.StartTimeout(known(redact, e))
    case "QueueFull":
      return new FalError.QueueFull(known(redact, e))
    case "Unauthorized":
      return new FalError.Unauthorized(known(redact, e))
    case "Forbidden":
      return new FalError.Forbidden(known(redact, e))
    case "NotFound":
      return new FalError.NotFound(known(redact, e))
    case "RequestFailed":
      return new FalError.RequestFailed({
        ...known(redact, e),
        ...(e.retryAfter === undefined ? {} : { retryAfter: e.retryAfter })
      })
    case "ServerError":
      return new FalError.ServerError({
        ...known(redact, e),
        ...(e.retryAfter === undefined ? {} : { retryAfter: e.retryAfter })
      })
    case "Cancelled":
      return new FalError.Cancelled(known(redact, e))
    default:
      return e
  }
}
