/**
 * Where each base lives in the gateway (a path prefix per base) and which base URLs a caller
 * used: the in-memory client says so with {@link Caller}; otherwise they are the request's
 * `Host` plus the prefix the gateway is mounted under plus each base's prefix.
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import type * as FalPlatform from "../FalPlatform.js"

/** Each base's path prefix in the gateway. */
export const prefixes: { readonly [B in FalPlatform.Base]: `/${string}` } = {
  run: "/run",
  queue: "/queue",
  api: "/api/v1",
  rest: "/rest",
  cdn: "/cdn",
  storage: "/storage",
  upload: "/storage-upload"
}

const bases: ReadonlyArray<FalPlatform.Base> = ["run", "queue", "api", "rest", "cdn", "storage", "upload"]

/** The base URLs of a gateway served at `origin` (e.g. `http://127.0.0.1:PORT`). */
export const at = (origin: string): FalPlatform.Urls => ({
  run: `${origin}${prefixes.run}`,
  queue: `${origin}${prefixes.queue}`,
  api: `${origin}${prefixes.api}`,
  rest: `${origin}${prefixes.rest}`,
  cdn: `${origin}${prefixes.cdn}`,
  storage: `${origin}${prefixes.storage}`,
  upload: `${origin}${prefixes.upload}`
})

/** Which base a gateway path addresses, and the path relative to that base. */
export const route = (pathname: string): { readonly base: FalPlatform.Base; readonly path: string } | undefined => {
  for (const base of bases) {
    const prefix = prefixes[base]
    if (pathname === prefix || pathname.startsWith(`${prefix}/`)) {
      return { base, path: pathname.slice(prefix.length) || "/" }
    }
  }
  return undefined
}

/**
 * The base URLs and URL a caller used, when the transport knows them better than the `Host`
 * header (the in-memory client: fal's own hosts).
 */
export class Caller extends Context.Tag("@effect-fal/testing/Gateway/Caller")<Caller, {
  readonly urls: FalPlatform.Urls
  readonly url: string
}>() {}

/**
 * The request's origin (with the prefix the gateway is mounted under, when an outer router
 * mounted it) and its path and query relative to the gateway.
 */
export const locate = (request: HttpServerRequest.HttpServerRequest) => {
  const inner = new URL(request.url, "http://gateway")
  const outer = request.originalUrl === request.url ? inner : new URL(request.originalUrl, "http://gateway")
  const mountedAt = outer.pathname.endsWith(inner.pathname)
    ? outer.pathname.slice(0, outer.pathname.length - inner.pathname.length)
    : ""
  const host = request.headers.host ?? "localhost"
  return {
    origin: `http://${host}${mountedAt}`,
    pathname: inner.pathname,
    search: inner.search,
    pathAndQuery: `${inner.pathname}${inner.search}`
  }
}
