import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SynchronizedRef from "effect/SynchronizedRef"
import * as crypto from "node:crypto"
import { defaultTimeouts } from "../FalClient.js"
import * as Request from "./request.js"

export interface VerificationKey {
  readonly kid: string | undefined
  readonly key: crypto.KeyObject
}

export const Jwk = Schema.Struct({
  kty: Schema.Literal("OKP"),
  crv: Schema.Literal("Ed25519"),
  x: Schema.String,
  kid: Schema.optional(Schema.String)
})

const decodeJwk = Schema.decodeUnknownEither(Jwk)
const decodeJwks = Schema.decodeUnknownEither(Schema.Struct({ keys: Schema.Array(Schema.Unknown) }))

/**
 * The usable keys of a JWKS: Ed25519 keys with a 32-byte `x`. Other key types (a JWKS may list
 * several) are skipped rather than failing the whole set.
 */
export const keysOf = (entries: ReadonlyArray<unknown>): Array<VerificationKey> => {
  const keys: Array<VerificationKey> = []
  for (const entry of entries) {
    const jwk = decodeJwk(entry)
    if (Either.isLeft(jwk) || Buffer.from(jwk.right.x, "base64url").length !== 32) continue
    try {
      const key = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.right.x }, format: "jwk" })
      keys.push({ kid: jwk.right.kid, key })
    } catch {
      // not a valid Ed25519 point: skipped like any other unusable entry
    }
  }
  return keys
}

interface State {
  readonly cached: Option.Option<{ readonly keys: ReadonlyArray<VerificationKey>; readonly fetchedAt: number }>
  readonly lastAttempt: Option.Option<number>
}

export interface FetchedOptions {
  readonly url: string
  readonly maxAge: Duration.Duration
  readonly minRefreshInterval: Duration.Duration
  readonly transformClient: (client: HttpClient.HttpClient) => HttpClient.HttpClient
}

export type Outcome =
  | { readonly _tag: "Keys"; readonly keys: ReadonlyArray<VerificationKey> }
  | { readonly _tag: "Unavailable"; readonly detail: string }

/**
 * The fetching key source: `current` answers from a cache younger than `maxAge` or fetches;
 * `refresh` fetches again. Either way at most one fetch is attempted per `minRefreshInterval`, and
 * the state sits in a `SynchronizedRef` so concurrent deliveries share one fetch.
 */
export const makeFetched = (options: FetchedOptions) =>
  Effect.gen(function*() {
    // The JWKS is public: the request goes through the application's client (not FalClient's,
    // which would add the key for fal's `rest` base), on the call pipeline as operation `jwks`:
    // its own limits and retries, no budget, nothing to redact.
    const pipeline: Request.Pipeline = {
      httpClient: options.transformClient(yield* HttpClient.HttpClient),
      timeouts: defaultTimeouts,
      retryBudget: Option.none(),
      redact: (text) => text
    }
    const state = yield* SynchronizedRef.make<State>({ cached: Option.none(), lastAttempt: Option.none() })
    const maxAge = Duration.toMillis(options.maxAge)
    const minInterval = Duration.toMillis(options.minRefreshInterval)
    const fetchKeys = Request.execute(pipeline, {
      operation: "jwks",
      request: HttpClientRequest.get(options.url).pipe(HttpClientRequest.acceptJson),
      onResponse: (response) => Request.json("jwks", response, undefined)
    }).pipe(
      Effect.mapError((error) => error.message),
      Effect.flatMap((body) =>
        Either.match(decodeJwks(body), {
          onLeft: () => Effect.fail("the response is not a JWKS"),
          onRight: ({ keys }) => Effect.succeed(keysOf(keys))
        })
      )
    )

    const attempt = (current: State, now: number): Effect.Effect<readonly [Outcome, State]> =>
      Option.match(current.lastAttempt, {
          onNone: () => false,
          onSome: (at) => now - at < minInterval
        })
        ? Effect.succeed(
          [
            { _tag: "Unavailable", detail: "the JWKS was fetched less than the minimum refresh interval ago" },
            current
          ] as const
        )
        : fetchKeys.pipe(
          Effect.match({
            onFailure: (detail): readonly [Outcome, State] => [
              { _tag: "Unavailable", detail: `fetching the JWKS failed: ${detail}` },
              { cached: current.cached, lastAttempt: Option.some(now) }
            ],
            onSuccess: (keys): readonly [Outcome, State] => [
              { _tag: "Keys", keys },
              { cached: Option.some({ keys, fetchedAt: now }), lastAttempt: Option.some(now) }
            ]
          }),
          Effect.tap(([outcome]) =>
            outcome._tag === "Unavailable" ? Effect.logWarning(`WebhookKeys: ${outcome.detail}`) : Effect.void
          )
        )

    const current: Effect.Effect<Outcome> = SynchronizedRef.modifyEffect(state, (s) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Option.match(s.cached, {
          onNone: () =>
            attempt(s, now),
          onSome: ({ fetchedAt, keys }) =>
            now - fetchedAt < maxAge ? Effect.succeed([{ _tag: "Keys", keys } as const, s] as const) : attempt(s, now)
        })))

    const refresh: Effect.Effect<Outcome> = SynchronizedRef.modifyEffect(
      state,
      (s) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => attempt(s, now))
    )
    return { current, refresh }
  })
