/**
 * The `rest` base (legacy): `PUT /requests/delete_io/{id}` with an ADMIN key, the public JWKS of
 * the webhook signatures at `GET /.well-known/jwks.json` (no key needed), and temporary tokens at
 * `POST /tokens/` (`../tokens.ts`).
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as WebhookSigner from "../../WebhookSigner.js"
import { PlatformEnv } from "../call.js"
import { deletePayloads } from "../deletion.js"
import { detail, json } from "../http.js"
import { authenticated } from "../middleware.js"
import * as Tokens from "../tokens.js"

const deleteIo = Effect.gen(function*() {
  const env = yield* PlatformEnv
  const deleted = yield* deletePayloads(env, (yield* HttpRouter.params).id ?? "")
  if (Option.isNone(deleted)) return detail(404, "Request not found")
  return json(200, { CDN_DELETE_RESULTS: deleted.value })
})

const jwks = Effect.flatMap(
  PlatformEnv,
  (env) => Effect.provideService(WebhookSigner.jwksResponse, WebhookSigner.WebhookSigner, env.webhookSigning.signer)
)

export const router = HttpRouter.empty.pipe(
  HttpRouter.put("/requests/delete_io/:id", deleteIo.pipe(authenticated("detail", "ADMIN"))),
  HttpRouter.get(WebhookSigner.jwksPath, jwks),
  Tokens.routes
)

export const notFound = Effect.succeed(detail(404, "Not Found"))
