import * as FileSystem from "@effect/platform/FileSystem"
import * as Headers from "@effect/platform/Headers"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import type * as WebhookKeys from "../WebhookKeys.js"

export const headerNames = {
  requestId: "x-fal-webhook-request-id",
  userId: "x-fal-webhook-user-id",
  timestamp: "x-fal-webhook-timestamp",
  signature: "x-fal-webhook-signature"
} as const

export const toleranceSeconds = 300

export const reasons = [
  "MissingHeader",
  "InvalidTimestamp",
  "StaleTimestamp",
  "FutureTimestamp",
  "MalformedSignature",
  "BodyTooLarge",
  "NoKeyVerifies",
  "KeysUnavailable",
  "UnreadableBody",
  "InvalidBody",
  "InvalidPayload"
] as const

export type Reason = typeof reasons[number]

/** 64 MiB: see `Webhooks.defaultMaxBodySize` for the reasons. */
export const defaultMaxBodySize = 64 * 1024 * 1024

export const maxBodySizeOf = (size: FileSystem.SizeInput | undefined): number =>
  size === undefined ? defaultMaxBodySize : Number(FileSystem.Size(size))

export interface DeliveryInput {
  readonly headers: Headers.Input
  readonly body: Uint8Array | string
}

export const isServerRequest = (u: unknown): u is HttpServerRequest.HttpServerRequest =>
  Predicate.hasProperty(u, HttpServerRequest.TypeId)

export const headersOf = (input: HttpServerRequest.HttpServerRequest | DeliveryInput): Headers.Headers =>
  isServerRequest(input) ? input.headers : Headers.fromInput(input.headers)

/** Bodies declared up to this length are read whole by the platform's `arrayBuffer`. */
const wholeBodyLength = 1024 * 1024

const tooLarge = <E>(limit: number, reject: (reason: Reason, detail: string) => E) =>
  reject("BodyTooLarge", `the body is larger than the ${limit} bytes allowed`)

/**
 * The body, at most `limit` bytes, read only after the headers were checked. A declared
 * `content-length` over the limit fails at once, nothing read. A body declared small comes whole
 * from the platform's `arrayBuffer` under its own limit (`HttpIncomingMessage.withMaxBodySize`;
 * on Node it is counted as read). Any other (declared larger, or of unknown length) is read as a
 * stream and joined once: on Node the platform's `arrayBuffer` joins the whole buffer again on
 * every chunk, quadratic in the size (25 MB: some 12 s); reading stops as soon as the bytes read
 * pass the limit. The stream is released with the request's scope when there is one (a server),
 * so that the answer goes out first: on Node, releasing an unfinished request body destroys the
 * socket, and the client would see a reset instead of the 413.
 */
export const readBody = <E>(
  input: HttpServerRequest.HttpServerRequest | DeliveryInput,
  limit: number,
  reject: (reason: Reason, detail: string) => E
): Effect.Effect<Uint8Array, E> => {
  if (!isServerRequest(input)) {
    const body = typeof input.body === "string" ? Buffer.from(input.body, "utf8") : input.body
    return body.byteLength > limit ? Effect.fail(tooLarge(limit, reject)) : Effect.succeed(body)
  }
  const unreadable = () => reject("UnreadableBody", "the request body could not be read")
  const declared = input.headers["content-length"]
  const length = declared === undefined || !/^[0-9]+$/.test(declared) ? undefined : Number(declared)
  if (length !== undefined && length > limit) return Effect.fail(tooLarge(limit, reject))
  if (length !== undefined && length <= wholeBodyLength) {
    return input.arrayBuffer.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(limit)),
      Effect.mapError(unreadable),
      Effect.map((buffer) => new Uint8Array(buffer))
    )
  }
  return Effect.flatMap(Effect.serviceOption(Scope.Scope), (scope) =>
    Effect.suspend(() => {
      const chunks: Array<Uint8Array> = []
      const read = Stream.runFoldWhileScoped(input.stream, 0, (size) => size <= limit, (size, chunk: Uint8Array) => {
        chunks.push(chunk)
        return size + chunk.byteLength
      })
      return Effect.mapError(
        Option.isSome(scope) ? Scope.extend(read, scope.value) : Effect.scoped(read),
        unreadable
      ).pipe(
        Effect.flatMap((size) =>
          size > limit ? Effect.fail(tooLarge(limit, reject)) : Effect.succeed(join(chunks, size))
        )
      )
    }))
}

const join = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/** What the headers say, checked: everything that needs no body. */
export interface Checked {
  readonly requestId: string
  readonly userId: string
  readonly timestamp: string
  readonly signature: Uint8Array
}

export interface Signed extends Checked {
  readonly message: Uint8Array
}

const hex128 = /^[0-9a-fA-F]{128}$/
const digits = /^[0-9]{1,15}$/

/** Every check that needs no body and no key: headers present, timestamp in the window, signature shaped. */
export const checkHeaders = <E>(
  headers: Headers.Headers,
  reject: (reason: Reason, detail: string) => E
): Effect.Effect<Checked, E> =>
  Effect.gen(function*() {
    const header = (name: string) =>
      Option.match(Headers.get(headers, name), {
        onNone: () => Effect.fail(reject("MissingHeader", `the ${name} header is missing`)),
        onSome: Effect.succeed
      })
    const requestId = yield* header(headerNames.requestId)
    const userId = yield* header(headerNames.userId)
    const timestamp = yield* header(headerNames.timestamp)
    const signatureHex = yield* header(headerNames.signature)
    if (!digits.test(timestamp)) {
      return yield* Effect.fail(reject("InvalidTimestamp", `${headerNames.timestamp} is not Unix seconds`))
    }
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const skew = now - Number(timestamp)
    if (skew > toleranceSeconds) {
      return yield* Effect.fail(
        reject("StaleTimestamp", `the timestamp is ${skew} s old, more than the ${toleranceSeconds} s allowed`)
      )
    }
    if (skew < -toleranceSeconds) {
      return yield* Effect.fail(
        reject("FutureTimestamp", `the timestamp is ${-skew} s ahead, more than the ${toleranceSeconds} s allowed`)
      )
    }
    if (!hex128.test(signatureHex)) {
      return yield* Effect.fail(
        reject("MalformedSignature", `${headerNames.signature} is not the hex of a 64-byte signature`)
      )
    }
    return { requestId, userId, timestamp, signature: Buffer.from(signatureHex, "hex") }
  })

/** The signed message: the checked headers and the SHA-256 of the raw body. */
export const signedMessage = (checked: Checked, body: Uint8Array): Signed => {
  const digest = crypto.createHash("sha256").update(body).digest("hex")
  return {
    ...checked,
    message: Buffer.from(`${checked.requestId}\n${checked.userId}\n${checked.timestamp}\n${digest}`, "utf8")
  }
}

export const verifiesWithAny = (signed: Signed, keys: ReadonlyArray<WebhookKeys.VerificationKey>): boolean =>
  keys.some(({ key }) => crypto.verify(null, signed.message, key, signed.signature))

// --- the delivery body (SPEC section 3) ---------------------------------------------------------

export const WireEvent = Schema.Struct({
  request_id: Schema.String,
  gateway_request_id: Schema.String,
  status: Schema.Literal("OK", "ERROR"),
  payload: Schema.optionalWith(Schema.Unknown, { exact: true }),
  error: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  payload_error: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true })
})

export const decodeWire = Schema.decodeUnknownEither(Schema.parseJson(WireEvent))

/** Where a decoding failed, without the offending values (a payload may hold user data). */
export const issuePaths = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => `${issue.path.length === 0 ? "(root)" : issue.path.join(".")}: ${issue._tag}`)
    .join("; ")

export const utf8 = new TextDecoder("utf-8", { fatal: true })
