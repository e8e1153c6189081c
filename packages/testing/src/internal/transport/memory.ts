/**
 * The in-memory transport: an `HttpClient` that hands requests addressed to fal's default hosts
 * to the gateway `HttpApp`, in the caller's fiber (so its Clock, a `TestClock` in tests, drives
 * the platform and the response streams), without sockets.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as FalPlatform from "../../FalPlatform.js"
import type * as Fault from "../../Fault.js"
import { defaultUrls } from "../constants.js"
import { Caller, prefixes } from "../urls.js"

/** Which base a URL on fal's default hosts addresses, and the path relative to it. */
export const route = (url: URL): { readonly base: FalPlatform.Base; readonly path: string } | undefined => {
  switch (url.host) {
    case "fal.run":
      return { base: "run", path: url.pathname }
    case "queue.fal.run":
      return { base: "queue", path: url.pathname }
    case "api.fal.ai":
      return url.pathname.startsWith("/v1/") ? { base: "api", path: url.pathname.slice(3) } : undefined
    case "rest.alpha.fal.ai":
      return { base: "rest", path: url.pathname }
    case "rest.fal.ai":
      return { base: "storage", path: url.pathname }
    case "upload.fal.media":
      return { base: "upload", path: url.pathname }
    default:
      return url.host.endsWith("fal.media") ? { base: "cdn", path: url.pathname } : undefined
  }
}

/** A `Blob` sent as a raw body, read as `fetch` reads one. */
const readBlob = (
  blob: Blob,
  fail: (description: string) => HttpClientError.RequestError
): Effect.Effect<Uint8Array, HttpClientError.RequestError> =>
  Effect.tryPromise({
    try: () => blob.arrayBuffer(),
    catch: (cause) => fail(`reading the Blob failed: ${String(cause)}`)
  }).pipe(Effect.map((buffer) => new Uint8Array(buffer)))

/**
 * A request's body as the gateway reads it. A `Stream` body stays a stream (a web
 * `ReadableStream` run on the caller's runtime, so its Clock paces it): the gateway reads its
 * bytes as they are produced, as a socket would deliver them.
 */
const bodyOf = (
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<Uint8Array | ReadableStream<Uint8Array> | undefined, HttpClientError.RequestError> => {
  const body = request.body
  const fail = (description: string) => new HttpClientError.RequestError({ request, reason: "Encode", description })
  switch (body._tag) {
    case "Empty":
      return Effect.succeed(undefined)
    case "Uint8Array":
      return Effect.succeed(body.body)
    case "Raw":
      return typeof body.body === "string"
        ? Effect.succeed(new TextEncoder().encode(body.body))
        : body.body instanceof Uint8Array
        ? Effect.succeed(body.body)
        : body.body instanceof Blob
        ? readBlob(body.body, fail)
        : Effect.fail(fail("unsupported raw body"))
    case "Stream":
      return Effect.map(Effect.runtime<never>(), (runtime) => Stream.toReadableStreamRuntime(body.stream, runtime))
    case "FormData":
      return Effect.fail(fail("form data bodies are not supported by the fal platform emulator"))
  }
}

export const make = (app: HttpApp.Default<Fault.ConnectionReset>): HttpClient.HttpClient =>
  HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const target = route(url)
      if (target === undefined) {
        return yield* new HttpClientError.RequestError({
          request,
          reason: "Transport",
          description: `the in-memory fal platform does not serve ${url.host}`
        })
      }
      const body = yield* bodyOf(request)
      const serverRequest = HttpServerRequest.fromWeb(
        new Request(`http://gateway.invalid${prefixes[target.base]}${target.path}${url.search}`, {
          method: request.method,
          // as on a socket: a streamed body of known length declares it
          headers: request.body._tag === "Stream" && request.body.contentLength !== undefined
            ? { ...request.headers, "content-length": String(request.body.contentLength) }
            : request.headers,
          ...(body === undefined || request.method === "GET" || request.method === "HEAD"
            ? {}
            : body instanceof ReadableStream
            ? { body, duplex: "half" }
            : { body: new Uint8Array(body) })
        })
      )
      const response = yield* app.pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, serverRequest),
        Effect.provideService(Caller, { urls: defaultUrls, url: url.toString() }),
        Effect.catchTag("ConnectionReset", (reset) =>
          new HttpClientError.RequestError({ request, reason: "Transport", description: reset.message }))
      )
      // the body stream (SSE) runs with this fiber's runtime, so the caller's Clock drives it
      const runtime = yield* Effect.runtime<never>()
      return HttpClientResponse.fromWeb(
        request,
        HttpServerResponse.toWeb(response, { withoutBody: request.method === "HEAD", runtime })
      )
    })
  )
