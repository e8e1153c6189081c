/**
 * Temporary tokens (SPEC section 12): a short-lived credential for one app, for callers that
 * must not hold the API key (a browser). `POST {rest}/tokens/` with the key and
 * `{"allowed_apps": ["<owner>/<app>"], "token_expiration": <seconds>}` answers the token, a JWT.
 * Streaming endpoints (`Fal.stream`) and the realtime WebSocket take it as the query parameter
 * `fal_jwt_token`. A server issues tokens with {@link create}; a keyless client gets them through
 * the `TokenProvider` service.
 *
 * @example
 * ```ts
 * import { Tokens } from "@effect-fal/api"
 * import { DateTime, Effect, Redacted } from "effect"
 *
 * // on the application's server, which holds the key
 * const issue = Effect.gen(function*() {
 *   const token = yield* Tokens.create("fal-ai/flux/dev", { expiration: "5 minutes" })
 *   // token.app is "fal-ai/flux": a token is scoped to owner/app
 *   return { token: Redacted.value(token.value), expiresAt: DateTime.formatIso(token.expiresAt) }
 * })
 * ```
 *
 * @since 0.2.0
 */
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Redacted from "effect/Redacted"
import type * as FalClient from "./FalClient.js"
import type { FalError, InvalidModelId } from "./FalError.js"
import * as internal from "./internal/tokens.js"
import type * as Retry from "./Retry.js"

/**
 * A temporary token: its value (a JWT, kept `Redacted` so it never shows in a log or an error),
 * the `owner/app` it is valid for, and when it expires (the `Clock` at the request plus its
 * lifetime, so a little before the server's own expiry).
 *
 * @since 0.2.0
 * @category models
 */
export interface Token {
  readonly value: Redacted.Redacted<string>
  readonly app: string
  readonly expiresAt: DateTime.Utc
}

/**
 * @since 0.2.0
 * @category models
 */
export interface CreateOptions {
  /** The token's lifetime, rounded up to whole seconds (at least 1); default {@link defaultExpiration}. */
  readonly expiration?: Duration.DurationInput | undefined
  /** Replaces the default retry schedule of `tokens.create`; `false` for one attempt. */
  readonly retry?: Retry.Override | undefined
}

/**
 * The default lifetime of a token, 120 seconds, as fal's client asks.
 *
 * @since 0.2.0
 * @category defaults
 */
export const defaultExpiration: Duration.Duration = internal.defaultExpiration

/**
 * Asks fal for a temporary token valid for one app: `POST {rest}/tokens/` with the client's key.
 *
 * `app` is a model id or an app id; the token is scoped to its `owner/app` (a sub-path such as
 * `/dev` or `/realtime` is dropped, and a `workflows/` or `comfy/` namespace is skipped, as fal's
 * client does). An invalid id (`InvalidModelId`) or lifetime (`ValidationError`) fails before
 * anything is sent. The call is retried on transient failures, even one that may have reached fal:
 * a second token is only an unused credential that expires by itself.
 *
 * @since 0.2.0
 * @category constructors
 */
export const create: (
  app: string,
  options?: CreateOptions
) => Effect.Effect<Token, FalError, FalClient.FalClient> = internal.create

/**
 * The `owner/app` a token for `app` is scoped to (see {@link create}), or why `app` is not a model id.
 *
 * @since 0.2.0
 * @category constructors
 */
export const appId: (app: string) => Either.Either<string, InvalidModelId> = internal.appId
