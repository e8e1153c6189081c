/**
 * Signs webhook deliveries as fal does (SPEC section 9): an Ed25519 key pair per signer
 * (generated, or given as a private JWK), the four `X-Fal-Webhook-*` headers, the JWKS that
 * lists the public keys, and key rotation (a new key signs; the old one stays listed until
 * retired). {@link router} serves the JWKS at `/.well-known/jwks.json`.
 *
 * @example
 * ```ts
 * import { WebhookSigner } from "@effect-fal/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const signer = yield* WebhookSigner.WebhookSigner
 *   const body = JSON.stringify({ request_id: "r-1", gateway_request_id: "r-1", status: "OK", payload: {} })
 *   const headers = yield* signer.sign({ requestId: "r-1", userId: "user-1", body })
 *   return { headers, body }
 * }).pipe(Effect.provide(WebhookSigner.layer()))
 * ```
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as crypto from "node:crypto"
import * as internal from "./internal/webhookSigning.js"

/**
 * The four delivery headers, spelled as fal sends them.
 *
 * @since 0.1.0
 * @category constants
 */
export const headerNames = {
  requestId: "X-Fal-Webhook-Request-Id",
  userId: "X-Fal-Webhook-User-Id",
  timestamp: "X-Fal-Webhook-Timestamp",
  signature: "X-Fal-Webhook-Signature"
} as const

/**
 * Where fal serves the JWKS, relative to its legacy `rest` base.
 *
 * @since 0.1.0
 * @category constants
 */
export const jwksPath = "/.well-known/jwks.json"

/**
 * @since 0.1.0
 * @category models
 */
export type PublicJwk = internal.PublicJwk

/**
 * @since 0.1.0
 * @category models
 */
export type PrivateJwk = internal.PrivateJwk

/**
 * @since 0.1.0
 * @category models
 */
export interface Jwks {
  readonly keys: ReadonlyArray<PublicJwk>
}

/**
 * What is signed: the request id, the user id, the raw body and (by default the current time on
 * the Effect `Clock`) the Unix timestamp in seconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delivery {
  readonly requestId: string
  readonly userId: string
  readonly body: Uint8Array | string
  /** Unix seconds; default: now on the Effect `Clock`. */
  readonly timestamp?: number | undefined
}

/**
 * The four headers to send with the delivery.
 *
 * @since 0.1.0
 * @category models
 */
export type SignedHeaders = { readonly [K in keyof typeof headerNames as (typeof headerNames)[K]]: string }

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Signs a delivery with the active key. */
  readonly sign: (delivery: Delivery) => Effect.Effect<SignedHeaders>
  /** The public keys currently listed: the active key and every rotated-out key not yet retired. */
  readonly jwks: Effect.Effect<Jwks>
  /** The kid of the key that signs now. */
  readonly activeKid: Effect.Effect<string>
  /**
   * A new key (generated, or the one given) signs from now on; the previous key stays listed
   * until {@link Service.retire}. Returns the new kid.
   */
  readonly rotate: (key?: PrivateJwk) => Effect.Effect<string>
  /**
   * Removes a rotated-out key from the JWKS (every rotated-out key when no kid is given). The
   * active key is never removed.
   */
  readonly retire: (kid?: string) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WebhookSigner extends Context.Tag("@effect-fal/testing/WebhookSigner")<WebhookSigner, Service>() {}

/**
 * @since 0.1.0
 * @category options
 */
export interface Options {
  /** The signing key; default: a key pair generated for this signer. */
  readonly key?: PrivateJwk | undefined
}

interface State {
  readonly active: internal.SigningKey
  readonly retiring: ReadonlyArray<internal.SigningKey>
}

const keyOf = (key: PrivateJwk | undefined): internal.SigningKey =>
  key === undefined ? internal.generate(crypto.randomUUID()) : internal.fromPrivateJwk(key, crypto.randomUUID())

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const state = yield* Ref.make<State>({ active: keyOf(options.key), retiring: [] })
    const sign = (delivery: Delivery) =>
      Effect.gen(function*() {
        const { active } = yield* Ref.get(state)
        const timestamp = String(delivery.timestamp ?? Math.floor((yield* Clock.currentTimeMillis) / 1000))
        const bytes = internal.message(delivery.requestId, delivery.userId, timestamp, internal.toBytes(delivery.body))
        const headers: SignedHeaders = {
          "X-Fal-Webhook-Request-Id": delivery.requestId,
          "X-Fal-Webhook-User-Id": delivery.userId,
          "X-Fal-Webhook-Timestamp": timestamp,
          "X-Fal-Webhook-Signature": internal.signHex(active, bytes)
        }
        return headers
      })
    return WebhookSigner.of({
      sign,
      jwks: Effect.map(Ref.get(state), ({ active, retiring }) => ({
        keys: [active.publicJwk, ...retiring.map((key) => key.publicJwk)]
      })),
      activeKid: Effect.map(Ref.get(state), ({ active }) => active.kid),
      rotate: (key) =>
        Ref.modify(state, ({ active, retiring }) => {
          const next = keyOf(key)
          return [next.kid, { active: next, retiring: [active, ...retiring] }]
        }),
      retire: (kid) =>
        Ref.update(state, ({ active, retiring }) => ({
          active,
          retiring: kid === undefined ? [] : retiring.filter((key) => key.kid !== kid)
        }))
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<WebhookSigner> => Layer.effect(WebhookSigner, make(options))

/**
 * The JWKS response of the signer in context.
 *
 * @since 0.1.0
 * @category routes
 */
export const jwksResponse: Effect.Effect<HttpServerResponse.HttpServerResponse, never, WebhookSigner> = Effect
  .flatMap(WebhookSigner, (signer) => signer.jwks).pipe(
    Effect.map((jwks) => HttpServerResponse.unsafeJson(jwks, { headers: { "cache-control": "public, max-age=86400" } }))
  )

/**
 * `GET /.well-known/jwks.json`, served from the signer in context; mount it at the emulator's
 * `rest` base.
 *
 * @since 0.1.0
 * @category routes
 */
export const router: HttpRouter.HttpRouter<never, WebhookSigner> = HttpRouter.empty.pipe(
  HttpRouter.get(jwksPath, jwksResponse)
)
