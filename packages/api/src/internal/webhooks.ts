import * as Headers from "@effect/platform/Headers"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
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
  "NoKeyVerifies",
  "KeysUnavailable",
  "UnreadableBody",
  "InvalidBody",
  "InvalidPayload"
] as const

export type Reason = typeof reasons[number]

export interface RawDelivery {
  readonly headers: Headers.Headers
  readonly body: Uint8Array
}

export interface DeliveryInput {
  readonly headers: Headers.Input
  readonly body: Uint8Array | string
}

export const isServerRequest = (u: unknown): u is HttpServerRequest.HttpServerRequest =>
  Predicate.hasProperty(u, HttpServerRequest.TypeId)

export const readDelivery = <E>(
  input: HttpServerRequest.HttpServerRequest | DeliveryInput,
  reject: (reason: Reason, detail: string) => E
): Effect.Effect<RawDelivery, E> =>
  isServerRequest(input)
    ? Effect.map(
      Effect.mapError(input.arrayBuffer, () => reject("UnreadableBody", "the request body could not be read")),
      (buffer) => ({ headers: input.headers, body: new Uint8Array(buffer) })
    )
    : Effect.succeed({
      headers: Headers.fromInput(input.headers),
      body: typeof input.body === "string" ? Buffer.from(input.body, "utf8") : input.body
    })

export interface Signed {
  readonly requestId: string
  readonly userId: string
  readonly timestamp: string
  readonly signature: Uint8Array
  readonly message: Uint8Array
}

const hex128 = /^[0-9a-fA-F]{128}$/
const digits = /^[0-9]{1,15}$/

/** Every check that needs no key: headers present, timestamp in the window, signature shaped. */
export const checkHeaders = <E>(
  delivery: RawDelivery,
  reject: (reason: Reason, detail: string) => E
): Effect.Effect<Signed, E> =>
  Effect.gen(function*() {
    const header = (name: string) =>
      Option.match(Headers.get(delivery.headers, name), {
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
    const digest = crypto.createHash("sha256").update(delivery.body).digest("hex")
    return {
      requestId,
      userId,
      timestamp,
      signature: Buffer.from(signatureHex, "hex"),
      message: Buffer.from(`${requestId}\n${userId}\n${timestamp}\n${digest}`, "utf8")
    }
  })

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
