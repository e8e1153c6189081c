/**
 * The `cdn` base: `GET`/`HEAD /{path}` serves a file until its lifecycle expires. No key needed.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Call, PlatformEnv } from "../call.js"
import { detail } from "../http.js"
import * as Retention from "../retention.js"

const serve = Effect.gen(function*() {
  const env = yield* PlatformEnv
  const call = yield* Call
  const request = yield* HttpServerRequest.HttpServerRequest
  if (request.method !== "GET" && request.method !== "HEAD") return detail(405, "Method Not Allowed")
  const file = yield* Retention.file(env, call.path)
  if (Option.isNone(file)) return detail(404, "File not found")
  const options = { status: 200, contentType: file.value.contentType }
  return request.method === "HEAD"
    ? HttpServerResponse.empty({ status: 200, headers: { "content-type": file.value.contentType } })
    : HttpServerResponse.uint8Array(file.value.content, options)
})

export const router = HttpRouter.empty.pipe(HttpRouter.all("/*", serve))

export const notFound = Effect.succeed(detail(404, "File not found"))
