/**
 * Where a keyless caller gets its temporary tokens (SPEC section 12): a service asked for a
 * token per app. `Fal.stream` uses it when its `auth` is `"token"`; the realtime connection uses it
 * to connect and to reconnect.
 *
 * - {@link layerKey}: tokens asked of fal with the `FalClient`'s key (`Tokens.create`): for a
 *   server, or a test.
 * - {@link layer} / {@link make}: tokens from a function of your own, typically a call to your own
 *   server, which holds the key and answers a token (fal's client calls this a `tokenProvider`).
 *   It may answer a `Token`, or the token's value alone: a plain string is taken to expire
 *   `assumedExpiration` (default 120 s, what fal's client asks for) after it was received.
 *
 * The app passed to the function is the `owner/app` of the model called (see `Tokens.appId`);
 * an invalid model id fails with `InvalidModelId` before the function is called.
 *
 * @example
 * ```ts
 * import { FalError, TokenProvider } from "@effect-fal/api"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 * import { Effect, Layer, Schema } from "effect"
 *
 * // the browser asks its own server, which calls Tokens.create with the key
 * const FromMyServer = Layer.effect(
 *   TokenProvider.TokenProvider,
 *   Effect.map(HttpClient.HttpClient, (client) =>
 *     TokenProvider.make((app) =>
 *       client.post("/api/fal-token", { body: undefined, urlParams: { app } }).pipe(
 *         Effect.flatMap(HttpClientResponse.schemaBodyJson(Schema.Struct({ token: Schema.String }))),
 *         Effect.map((answer) => answer.token),
 *         Effect.mapError((error) =>
 *           new FalError.Unauthorized({ detail: `no token from the application's server: ${error._tag}` })
 *         )
 *       )
 *     ))
 * )
 * ```
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { FalClient } from "./FalClient.js"
import type * as FalError from "./FalError.js"
import * as internal from "./internal/tokens.js"
import * as Tokens from "./Tokens.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** A token valid for the `owner/app` of `app` (a model id or an app id). */
  readonly token: (app: string) => Effect.Effect<Tokens.Token, FalError.FalError>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class TokenProvider extends Context.Tag("@effect-fal/api/TokenProvider")<TokenProvider, Service>() {}

/**
 * @since 0.2.0
 * @category models
 */
export interface MakeOptions {
  /**
   * How long a token answered as a plain string is taken to live, from when it was received;
   * default 120 s (`Tokens.defaultExpiration`). Set it to what your server asks fal for.
   */
  readonly assumedExpiration?: Duration.DurationInput | undefined
}

/**
 * A provider from a function that fetches a token for an app (e.g. from your own server).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  fetch: (app: string) => Effect.Effect<string | Tokens.Token, FalError.FalError>,
  options?: MakeOptions
): Service => {
  const assumed = internal.expirationSeconds(options?.assumedExpiration, "assumedExpiration")
  return {
    token: (app) =>
      Effect.gen(function*() {
        const scoped = yield* Tokens.appId(app)
        const seconds = yield* assumed
        const answer = yield* fetch(scoped)
        return typeof answer === "string" ? yield* internal.token(answer, scoped, seconds) : answer
      })
  }
}

/**
 * {@link make} as a layer.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  fetch: (app: string) => Effect.Effect<string | Tokens.Token, FalError.FalError>,
  options?: MakeOptions
): Layer.Layer<TokenProvider> => Layer.succeed(TokenProvider, make(fetch, options))

/**
 * Tokens asked of fal with the `FalClient`'s key (`Tokens.create`), each `expiration` long
 * (default 120 s).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerKey = (
  options?: { readonly expiration?: Duration.DurationInput | undefined }
): Layer.Layer<TokenProvider, never, FalClient> =>
  Layer.effect(
    TokenProvider,
    Effect.map(Effect.context<FalClient>(), (context): Service => ({
      token: (app) => Effect.provide(Tokens.create(app, { expiration: options?.expiration }), context)
    }))
  )
