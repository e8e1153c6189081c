/**
 * Temporary tokens (SPEC section 12): `POST {rest}/tokens/` issues a JWT-shaped token scoped to
 * its `allowed_apps` and expiring on the platform's Clock (so `TestClock` drives expiry). A token
 * is checked by looking it up in the platform's table: its signature part is random, not a
 * signature (fal's clients never decode a token; they only send it back).
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as FalPlatform from "../FalPlatform.js"
import { Call, type CallInfo, PlatformEnv } from "./call.js"
import { detail, json } from "./http.js"
import { authenticated } from "./middleware.js"
import { type Env, now } from "./state.js"

const namespaces: ReadonlySet<string> = new Set(["workflows", "comfy"])

/** `owner/app` of a model id or app id (a `workflows/` or `comfy/` namespace skipped, as fal's client does). */
export const appOf = (modelId: string): string => {
  const parts = modelId.split("/").filter((s) => s.length > 0)
  const start = namespaces.has(parts[0] ?? "") ? 1 : 0
  return parts.slice(start, start + 2).join("/")
}

/**
 * Whether an `allowed_apps` entry covers an app: `owner/app` exactly, or a bare `app` name (fal's
 * client sends the app's alias alone) for that app under any owner.
 */
const covers = (entry: string, app: string): boolean =>
  entry.includes("/") ? appOf(entry) === app : app.split("/")[1] === entry

const base64url = (bytes: Uint8Array): string => {
  let binary = ""
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
}

const encodeJson = (value: unknown): string => base64url(new TextEncoder().encode(JSON.stringify(value)))

/** Issues a token for `apps`, living `seconds` from now on the Clock. */
export const issue = (
  env: Env,
  apps: ReadonlyArray<string>,
  seconds: number
): Effect.Effect<FalPlatform.IssuedToken> =>
  Effect.gen(function*() {
    const issuedAt = yield* now
    const expiresAt = issuedAt + seconds * 1000
    const random = globalThis.crypto.getRandomValues(new Uint8Array(32))
    const value = [
      encodeJson({ alg: "HS256", typ: "JWT" }),
      encodeJson({
        iss: "fal-emulator",
        allowed_apps: apps,
        iat: Math.floor(issuedAt / 1000),
        exp: Math.floor(expiresAt / 1000),
        jti: globalThis.crypto.randomUUID()
      }),
      base64url(random)
    ].join(".")
    const issued: FalPlatform.IssuedToken = { token: value, apps, issuedAt, expiresAt }
    yield* Ref.update(env.tokens, HashMap.set(value, issued))
    return issued
  })

/** Checks a token for the app of a model id, on the Clock. */
export const validate = (env: Env, token: string, modelId: string): Effect.Effect<FalPlatform.TokenCheck> =>
  Effect.gen(function*() {
    const found = HashMap.get(yield* Ref.get(env.tokens), token)
    if (Option.isNone(found)) return "unknown"
    if ((yield* now) >= found.value.expiresAt) return "expired"
    const app = appOf(modelId)
    return found.value.apps.some((entry) => covers(entry, app)) ? "valid" : "wrong_app"
  })

/** The token a call carries: `fal_jwt_token` in the query, or `Authorization: Bearer <token>`. */
export const tokenOf = (call: {
  readonly query: Readonly<Record<string, string>>
  readonly headers: Readonly<Record<string, string>>
}): string | undefined => {
  const bearer = /^bearer\s+(\S+)\s*$/i.exec(call.headers.authorization ?? "")
  if (bearer !== null) return bearer[1]
  const query = call.query.fal_jwt_token
  return query === undefined || query === "" ? undefined : query
}

const decoder = new TextDecoder()

const body = (bytes: Uint8Array): unknown => {
  try {
    return JSON.parse(decoder.decode(bytes))
  } catch {
    return undefined
  }
}

const issue422 = (loc: ReadonlyArray<string>, msg: string) =>
  json(422, { detail: [{ loc: ["body", ...loc], msg, type: "value_error" }] })

/** `POST /tokens/`: `{"allowed_apps": [...], "token_expiration": seconds?}` -> the token as a JSON string. */
const create = Effect.gen(function*() {
  const env = yield* PlatformEnv
  const call = yield* Call
  const input = body(call.body)
  if (typeof input !== "object" || input === null) return detail(400, "Request body is not valid JSON", "bad_request")
  const apps: unknown = "allowed_apps" in input ? input.allowed_apps : undefined
  if (
    !Array.isArray(apps) || apps.length === 0 ||
    !apps.every((app): app is string => typeof app === "string" && app.length > 0 && !/[\s?#]/.test(app))
  ) {
    return issue422(["allowed_apps"], "must be a non-empty list of app ids")
  }
  const expiration: unknown = "token_expiration" in input ? input.token_expiration : 120
  if (typeof expiration !== "number" || !Number.isInteger(expiration) || expiration < 1 || expiration > 86400) {
    return issue422(["token_expiration"], "must be an integer number of seconds between 1 and 86400")
  }
  const issued = yield* issue(env, apps, expiration)
  return json(201, issued.token)
})

/** The token route of the `rest` base (the router ignores the trailing slash: `/tokens` too). */
export const routes = <E, R>(router: HttpRouter.HttpRouter<E, R>) =>
  router.pipe(HttpRouter.post("/tokens/", create.pipe(authenticated("detail"))))

/**
 * Requires an API key, or a temporary token valid for the app of the model the call addresses
 * (`modelIdOf`): a missing or unknown credential and an expired token answer 401, a token for
 * another app 403. Streaming endpoints use it; so can the realtime route.
 */
export const keyOrToken =
  (modelIdOf: (call: CallInfo) => string) =>
  <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | Call | PlatformEnv> =>
    Effect.flatMap(Call, (call): HttpApp.Default<E, R | Call | PlatformEnv> => {
      if (call.auth !== "token") return authenticated("detail")(app)
      const token = tokenOf(call)
      if (token === undefined) return Effect.succeed(detail(401, "Missing authorization header"))
      return Effect.flatMap(PlatformEnv, (env) =>
        Effect.flatMap(validate(env, token, modelIdOf(call)), (check) => {
          switch (check) {
            case "valid":
              return app
            case "expired":
              return Effect.succeed(detail(401, "Token expired"))
            case "unknown":
              return Effect.succeed(detail(401, "Invalid token"))
            case "wrong_app":
              return Effect.succeed(detail(403, "The token is not valid for this app"))
          }
        }))
    })
