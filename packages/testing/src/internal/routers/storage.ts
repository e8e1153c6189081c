/**
 * The `storage` base (fal's `https://rest.fal.ai`): `POST /storage/upload/initiate` and
 * `/storage/upload/initiate-multipart` (SPEC section 8), authorized by key. Their answers point
 * at the `upload` base (`routers/upload.ts`); the files are served by the `cdn` base. It also
 * issues temporary tokens (`POST /tokens/`, `../tokens.ts`): fal's JS client asks `rest.fal.ai`
 * for them, the same host as its uploads.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Effect from "effect/Effect"
import { detail } from "../http.js"
import { serve } from "../storage/gateway.js"
import * as Tokens from "../tokens.js"

export const router = HttpRouter.empty.pipe(
  HttpRouter.post("/storage/upload/initiate", serve("storage")),
  HttpRouter.post("/storage/upload/initiate-multipart", serve("storage")),
  Tokens.routes
)

export const notFound = Effect.succeed(detail(404, "Not Found"))
