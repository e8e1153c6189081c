/**
 * The `storage` base (fal's `https://rest.fal.ai`: uploads to the CDN). No route yet: the
 * storage routes are added here, one `HttpRouter.post(...)` each.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Effect from "effect/Effect"
import { detail } from "../http.js"

export const router = HttpRouter.empty

export const notFound = Effect.succeed(detail(404, "Not Found"))
