/**
 * The loopback transport: one HTTP server on 127.0.0.1 whose path prefixes are the five bases
 * (`/run`, `/queue`, `/api/v1`, `/rest`, `/cdn`); each request goes to the platform's gateway.
 * A connection reset fault destroys the socket.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type * as FalPlatform from "../FalPlatform.js"

export const prefixes: ReadonlyArray<readonly [FalPlatform.Base, string]> = [
  ["api", "/api/v1"],
  ["run", "/run"],
  ["queue", "/queue"],
  ["rest", "/rest"],
  ["cdn", "/cdn"]
]

export const bases = (origin: string): FalPlatform.Bases => ({
  run: `${origin}/run`,
  queue: `${origin}/queue`,
  api: `${origin}/api/v1`,
  rest: `${origin}/rest`,
  cdn: `${origin}/cdn`
})

const route = (pathname: string): { readonly base: FalPlatform.Base; readonly path: string } | undefined => {
  for (const [base, prefix] of prefixes) {
    if (pathname === prefix || pathname.startsWith(`${prefix}/`)) {
      return { base, path: pathname.slice(prefix.length) || "/" }
    }
  }
  return undefined
}

export const app = (platform: FalPlatform.Service, origin: string) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const url = new URL(request.url, origin)
    const target = route(url.pathname)
    if (target === undefined) {
      return HttpServerResponse.unsafeJson({ detail: "Not Found" }, { status: 404 })
    }
    const body = yield* Effect.orElseSucceed(request.arrayBuffer, () => new ArrayBuffer(0))
    const outcome = yield* platform.handle({
      method: request.method,
      url: url.toString(),
      base: target.base,
      path: target.path,
      query: Object.fromEntries(url.searchParams),
      headers: request.headers,
      body: new Uint8Array(body),
      bases: bases(origin)
    })
    if (outcome._tag === "Reset") {
      NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
      return HttpServerResponse.empty({ status: 500 })
    }
    const contentType = Object.entries(outcome.headers).find(([k]) => k.toLowerCase() === "content-type")?.[1]
    const options = {
      status: outcome.status,
      headers: outcome.headers,
      ...(contentType !== undefined ? { contentType } : {})
    }
    return outcome.body instanceof Uint8Array
      ? HttpServerResponse.uint8Array(outcome.body, options)
      : HttpServerResponse.stream(outcome.body, options)
  })
