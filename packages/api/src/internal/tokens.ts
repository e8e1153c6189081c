/**
 * `Tokens.create`: `POST {rest}/tokens/` through the call pipeline (`./request.ts`), and the app
 * id a token is scoped to.
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { FalClient } from "../FalClient.js"
import * as FalError from "../FalError.js"
import * as ModelId from "../ModelId.js"
import type * as Tokens from "../Tokens.js"
import * as Request from "./request.js"

export const defaultExpiration: Duration.Duration = Duration.seconds(120)

/** fal's namespaced ids: `workflows/<owner>/<app>/...`, `comfy/<owner>/<app>/...`. */
const namespaces: ReadonlySet<string> = new Set(["workflows", "comfy"])

/**
 * The `owner/app` a token is scoped to, from a model id or an app id: the sub-path is dropped
 * (`fal-ai/flux/dev` and `fal-ai/flux/realtime` are both `fal-ai/flux`), and a `workflows/` or
 * `comfy/` namespace is skipped, as fal's client does (`parseEndpointId`).
 */
export const appId = (app: string): Either.Either<string, FalError.InvalidModelId> =>
  Either.flatMap(ModelId.parse(app), (parsed) => {
    if (!namespaces.has(parsed.owner)) return Either.right(`${parsed.owner}/${parsed.app}`)
    const alias = parsed.path[0]
    return alias === undefined
      ? Either.left(
        new FalError.InvalidModelId({ modelId: app, reason: `must have the form ${parsed.owner}/owner/app[/path]` })
      )
      : Either.right(`${parsed.app}/${alias}`)
  })

/** A token lifetime in whole seconds (at least 1), or the `ValidationError` naming the option. */
export const expirationSeconds = (
  expiration: Duration.DurationInput | undefined,
  option = "expiration"
): Either.Either<number, FalError.ValidationError> => {
  const decoded = expiration === undefined ? Option.some(defaultExpiration) : Duration.decodeUnknown(expiration)
  const seconds = Option.isSome(decoded) && Duration.isFinite(decoded.value)
    ? Math.ceil(Duration.toMillis(decoded.value) / 1000)
    : Number.NaN
  return Number.isSafeInteger(seconds) && seconds >= 1 ? Either.right(seconds) : Either.left(
    new FalError.ValidationError({
      issues: [
        new FalError.ValidationIssue({
          loc: [option],
          msg: "a token lifetime must be a finite duration of at least 1 second",
          type: "value_error"
        })
      ]
    })
  )
}

/** The answer: a JSON string, or `{"detail": "<token>"}` from an older proxy (fal's client reads both). */
const Answer = Schema.Union(
  Schema.String.pipe(Schema.minLength(1)),
  Schema.transform(Schema.Struct({ detail: Schema.String.pipe(Schema.minLength(1)) }), Schema.String, {
    strict: true,
    decode: (wrapped) => wrapped.detail,
    encode: (detail) => ({ detail })
  })
)

/** A token from its value, the app and the instant it expires (now + lifetime on the Clock). */
export const token = (value: string, app: string, lifetimeSeconds: number): Effect.Effect<Tokens.Token> =>
  Effect.map(Clock.currentTimeMillis, (now) => ({
    value: Redacted.make(value),
    app,
    expiresAt: DateTime.unsafeMake(now + lifetimeSeconds * 1000)
  }))

export const create = Effect.fn("fal.tokens.create", { kind: "client" })(
  (app: string, options?: Tokens.CreateOptions): Effect.Effect<Tokens.Token, FalError.FalError, FalClient> =>
    Effect.gen(function*() {
      const scoped = yield* appId(app)
      const seconds = yield* expirationSeconds(options?.expiration)
      const service = yield* FalClient
      yield* Effect.annotateCurrentSpan("fal.app", scoped)
      const request = HttpClientRequest.post(`${service.urls.rest}/tokens/`, {
        acceptJson: true,
        body: HttpBody.text(
          JSON.stringify({ allowed_apps: [scoped], token_expiration: seconds }),
          "application/json"
        )
      })
      const value = yield* Request.execute(service, {
        operation: "tokens.create",
        modelId: scoped,
        request,
        retry: options?.retry,
        onResponse: (response, meta) =>
          Effect.flatMap(
            Request.json("tokens.create", response, meta.requestId),
            (body) =>
              Effect.mapError(
                Schema.decodeUnknown(Answer)(body),
                () =>
                  new FalError.DecodeError({
                    operation: "tokens.create",
                    status: response.status,
                    // never the body: it may be a token in an unexpected wrapping
                    description: "the answer is not a token (a JSON string)",
                    meta,
                    ...(meta.requestId === undefined ? {} : { requestId: meta.requestId })
                  })
              )
          )
      })
      return yield* token(value, scoped, seconds)
    })
)
