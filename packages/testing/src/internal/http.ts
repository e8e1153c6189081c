/**
 * The answers the gateway builds: fal's `{"detail"}` bodies, the Platform API error envelope, and
 * stored answers (results, idempotent replays) turned back into `HttpServerResponse`s.
 */
import { ResponseMeta } from "@effect-fal/headers"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"

export const json = (
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {}
): HttpServerResponse.HttpServerResponse => HttpServerResponse.unsafeJson(body, { status, headers })

/** `{"detail", "error_type"?}` with `X-Fal-Error-Type`: the model and queue error body. */
export const detail = (
  status: number,
  message: unknown,
  errorType?: string,
  headers: Readonly<Record<string, string>> = {}
): HttpServerResponse.HttpServerResponse =>
  json(status, errorType === undefined ? { detail: message } : { detail: message, error_type: errorType }, {
    ...(errorType === undefined ? {} : ResponseMeta.toHeaders({ errorType })),
    ...headers
  })

export type PlatformErrorType =
  | "authorization_error"
  | "validation_error"
  | "not_found"
  | "rate_limited"
  | "server_error"
  | "not_implemented"

/** The Platform API error envelope. */
export const envelope = (
  status: number,
  type: PlatformErrorType,
  message: string,
  requestId: string
): HttpServerResponse.HttpServerResponse => json(status, { error: { type, message, request_id: requestId } })

/** A stored answer (status, headers with their content type, body) as a response. */
export const stored = (answer: {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | Uint8Array
}): HttpServerResponse.HttpServerResponse => {
  const headers: Record<string, string> = {}
  let contentType: string | undefined
  for (const [name, value] of Object.entries(answer.headers)) {
    if (name.toLowerCase() === "content-type") contentType = value
    else headers[name] = value
  }
  const options = { status: answer.status, headers, ...(contentType === undefined ? {} : { contentType }) }
  return typeof answer.body === "string"
    ? HttpServerResponse.text(answer.body, options)
    : HttpServerResponse.uint8Array(answer.body, options)
}
