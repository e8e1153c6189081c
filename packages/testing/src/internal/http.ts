/**
 * The answers the gateway builds: fal's `{"detail"}` bodies, the Platform API error envelope, and
 * stored answers (results, idempotent replays) turned back into `HttpServerResponse`s.
 */
import { ResponseMeta } from "@effect-fal/headers"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"

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

/** Byte pieces as one buffer, in order (a single piece as it is). */
export const join = (pieces: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (pieces.length === 1) return pieces[0]
  const out = new Uint8Array(pieces.reduce((n, piece) => n + piece.byteLength, 0))
  let offset = 0
  for (const piece of pieces) {
    out.set(piece, offset)
    offset += piece.byteLength
  }
  return out
}

/**
 * The bytes of a stream, collected and joined once (joining as chunks arrive, or the platform's
 * `arrayBuffer`, re-copies the whole buffer on every chunk: quadratic on an upload of tens of MB).
 */
export const collectBytes = <E, R>(stream: Stream.Stream<Uint8Array, E, R>): Effect.Effect<Uint8Array, E, R> =>
  Effect.map(Stream.runCollect(stream), (chunks) => join(Chunk.toReadonlyArray(chunks)))

const decoder = new TextDecoder()

/** A request's JSON body (an empty one is `{}`), or why it is not JSON. */
export const readJson = (body: Uint8Array): Either.Either<unknown, string> => {
  const text = decoder.decode(body)
  if (text.trim() === "") return Either.right({})
  try {
    return Either.right(JSON.parse(text))
  } catch {
    return Either.left("Request body is not valid JSON")
  }
}
