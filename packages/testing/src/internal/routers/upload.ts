/**
 * The `upload` base: the pre-signed upload origin of SPEC section 8 (`PUT /upload/{id}`, part
 * `PUT /upload/{id}/{n}` answering `{partNumber, etag}`, `POST /upload/{id}/complete`). No key:
 * each route checks the URL's token and refuses a request carrying `Authorization`.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Effect from "effect/Effect"
import { detail } from "../http.js"
import { serve } from "../storage/gateway.js"

export const router = HttpRouter.empty.pipe(
  HttpRouter.put("/upload/:id", serve("upload")),
  HttpRouter.put("/upload/:id/:part", serve("upload")),
  HttpRouter.post("/upload/:id/complete", serve("upload"))
)

export const notFound = Effect.succeed(detail(404, "no such upload"))
