/**
 * The public keys that verify fal's webhook signatures: a JWKS fetched through the
 * application's `HttpClient` (it is public: no Authorization header), cached up to 24 hours,
 * refetched (at most once a minute) when no cached key verifies a delivery, which is how a key
 * rotation is picked up. It fails closed: with no fresh JWKS and nothing cached, there is no key.
 *
 * @example
 * ```ts
 * import { WebhookKeys } from "@effect-fal/api"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * const KeysLive = WebhookKeys.layer().pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as crypto from "node:crypto"
import * as FalClient from "./FalClient.js"
import * as internal from "./internal/webhookKeys.js"

/**
 * `https://rest.alpha.fal.ai/.well-known/jwks.json`: under FalClient's legacy `rest` base.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultUrl: string = `${FalClient.defaultUrls.rest}/.well-known/jwks.json`

/**
 * A JWKS entry this library can use: `{ kty: "OKP", crv: "Ed25519", x, kid? }`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Jwk = internal.Jwk

/**
 * @since 0.1.0
 * @category models
 */
export type Jwk = typeof internal.Jwk.Type

/**
 * An Ed25519 public key, ready for `crypto.verify`.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerificationKey {
  readonly kid: string | undefined
  readonly key: crypto.KeyObject
}

/**
 * No key could be had: the JWKS could not be fetched (or was fetched too recently to try again)
 * and nothing usable is cached. The detail names the cause, never a credential.
 *
 * @since 0.1.0
 * @category errors
 */
export class WebhookKeysUnavailable extends Schema.TaggedError<WebhookKeysUnavailable>(
  "@effect-fal/api/WebhookKeysUnavailable"
)("WebhookKeysUnavailable", { detail: Schema.String }) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `webhook keys unavailable: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The keys to try: cached ones while fresh, else a fetch. */
  readonly current: Effect.Effect<ReadonlyArray<VerificationKey>, WebhookKeysUnavailable>
  /**
   * Fetches the JWKS again (no key verified: maybe fal rotated). Fails when a fetch was attempted
   * less than the minimum refresh interval ago, when the fetch fails, or for fixed keys.
   */
  readonly refresh: Effect.Effect<ReadonlyArray<VerificationKey>, WebhookKeysUnavailable>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WebhookKeys extends Context.Tag("@effect-fal/api/WebhookKeys")<WebhookKeys, Service>() {}

/**
 * @since 0.1.0
 * @category options
 */
export interface Options {
  /** The JWKS URL; default {@link defaultUrl}. */
  readonly url?: string | undefined
  /** How long a fetched JWKS is used before it is fetched again; default 24 hours. */
  readonly maxAge?: Duration.DurationInput | undefined
  /** The least time between two fetches (a rotation refetch or a retry); default 1 minute. */
  readonly minRefreshInterval?: Duration.DurationInput | undefined
  /** Decorates the application's `HttpClient` used for the fetch. */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

const fromOutcome = (
  outcome: internal.Outcome
): Effect.Effect<ReadonlyArray<VerificationKey>, WebhookKeysUnavailable> =>
  outcome._tag === "Keys" ? Effect.succeed(outcome.keys) : new WebhookKeysUnavailable({ detail: outcome.detail })

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(
    internal.makeFetched({
      url: options.url ?? defaultUrl,
      maxAge: Duration.decode(options.maxAge ?? "24 hours"),
      minRefreshInterval: Duration.decode(options.minRefreshInterval ?? "1 minute"),
      transformClient: options.transformClient ?? ((client) => client)
    }),
    ({ current, refresh }) =>
      WebhookKeys.of({ current: Effect.flatMap(current, fromOutcome), refresh: Effect.flatMap(refresh, fromOutcome) })
  )

/**
 * Fetches fal's JWKS through the application's `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<WebhookKeys, never, HttpClient.HttpClient> =>
  Layer.effect(WebhookKeys, make(options))

/**
 * Fetches the JWKS under the `rest` base of the `FalClient` in context (so an application pointed
 * at an emulator verifies the emulator's deliveries), through the application's `HttpClient`,
 * not FalClient's (which would send the API key to the `rest` base).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromFalClient = (
  options: Omit<Options, "url"> = {}
): Layer.Layer<WebhookKeys, never, HttpClient.HttpClient | FalClient.FalClient> =>
  Layer.effect(
    WebhookKeys,
    Effect.flatMap(FalClient.FalClient, ({ urls }) => make({ ...options, url: `${urls.rest}/.well-known/jwks.json` }))
  )

/**
 * Fixed keys, never fetched (tests, or keys pinned by configuration). Entries that are not
 * Ed25519 keys are skipped; with none left, every verification fails with `NoKeyVerifies`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFixed = (keys: ReadonlyArray<Jwk>): Layer.Layer<WebhookKeys> =>
  Layer.sync(WebhookKeys, () => {
    const usable = internal.keysOf(keys)
    return WebhookKeys.of({
      current: Effect.succeed(usable),
      refresh: new WebhookKeysUnavailable({ detail: "fixed keys are never refetched" })
    })
  })
