/**
 * The in-memory transport: an `HttpClient` that hands requests addressed to fal's default hosts
 * to the platform's gateway, without sockets.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as FalPlatform from "../FalPlatform.js"
import { defaultBases } from "./constants.js"

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
    default:
      return url.host.endsWith("fal.media") ? { base: "cdn", path: url.pathname } : undefined
  }
}

const bodyBytes = (
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<Uint8Array, HttpClientError.RequestError> => {
  const body = request.body
  const fail = (description: string) => new HttpClientError.RequestError({ request, reason: "Encode", description })
  switch (body._tag) {
    case "Empty":
      return Effect.succeed(new Uint8Array())
    case "Uint8Array":
      return Effect.succeed(body.body)
    case "Raw":
      return typeof body.body === "string"
        ? Effect.succeed(new TextEncoder().encode(body.body))
        : body.body instanceof Uint8Array
        ? Effect.succeed(body.body)
        : Effect.fail(fail("unsupported raw body"))
    case "Stream":
      return body.stream.pipe(
        Stream.runFold(new Uint8Array(), (acc, chunk) => {
          const out = new Uint8Array(acc.length + chunk.length)
          out.set(acc)
          out.set(chunk, acc.length)
          return out
        }),
        Effect.mapError((cause) => new HttpClientError.RequestError({ request, reason: "Encode", cause }))
      )
    case "FormData":
      return Effect.fail(fail("form data bodies are not supported by the fal platform emulator"))
  }
}

export const make = (platform: FalPlatform.Service): HttpClient.HttpClient =>
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
      const outcome = yield* platform.handle({
        method: request.method,
        url: url.toString(),
        base: target.base,
        path: target.path,
        query: Object.fromEntries(url.searchParams),
        headers: request.headers,
        body: yield* bodyBytes(request),
        bases: defaultBases
      })
      if (outcome._tag === "Reset") {
        return yield* new HttpClientError.RequestError({
          request,
          reason: "Transport",
          description: "connection reset by the fal platform emulator (injected fault)"
        })
      }
      // the stream runs with this fiber's context, so the platform's Clock (a TestClock) drives it
      const body = outcome.body instanceof Uint8Array
        ? new Uint8Array(outcome.body)
        : yield* Stream.toReadableStreamEffect(outcome.body)
      return HttpClientResponse.fromWeb(
        request,
        new Response(request.method === "HEAD" ? null : body, { status: outcome.status, headers: outcome.headers })
      )
    })
  )
