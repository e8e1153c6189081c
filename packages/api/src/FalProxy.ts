/**
 * The server proxy (SPEC section 13): a route of your application that browsers call instead of
 * fal, so the key stays on the server. fal's clients (`proxyUrl` of `@fal-ai/client`, and
 * {@link FalClient.layerProxy} of this package) send each call to it with the real URL in
 * `x-fal-target-url`; the proxy checks the caller and the URL, forwards the call with the
 * `FalClient`'s key, and relays fal's answer as it arrives.
 *
 * What is forwarded: the method, the body (streamed; at most `maxBodySize` bytes), every `x-fal-*`
 * header but `x-fal-target-url`, `Content-Type` and `Accept`, and `Authorization: Key <key>` added
 * by the `FalClient`. Nothing else of the caller's: no cookies, no `Authorization` of its own (it
 * is never forwarded, the key replaces it). What is answered: fal's status, its headers but
 * `Content-Length`, `Content-Encoding`, `Set-Cookie` and hop-by-hop headers, and its body as a
 * stream (server-sent events and binary answers arrive chunk by chunk); an error answer (status
 * >= 400) is read whole and any credential it quotes is redacted.
 *
 * Refusals, each a small JSON body `{ "error": "..." }` with nothing sent to fal: `401` for a
 * caller that `authenticate` does not accept (the default accepts no one); `400` for a missing or
 * unusable `x-fal-target-url`, a target no pattern allows, a target outside the `FalClient`'s bases
 * (the key is only ever sent there), or a POST to an endpoint `allowedEndpoints` does not list;
 * `413` for a body over the limit. `502`/`504` when fal cannot be reached or does not answer in
 * time.
 *
 * The proxy does not retry: the caller's client does (a retry from the proxy could start a
 * second job).
 *
 * @example
 * ```ts
 * import { FalClient, FalProxy } from "@effect-fal/api"
 * import { HttpRouter, HttpServer } from "@effect/platform"
 * import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { createServer } from "node:http"
 *
 * const router = HttpRouter.empty.pipe(
 *   HttpRouter.all(
 *     FalProxy.defaultRoute,
 *     FalProxy.httpApp({
 *       // your application's own check: a session cookie, a bearer token, ...
 *       authenticate: (request) => Effect.succeed(request.headers["x-app-session"] === "valid"),
 *       allowedEndpoints: ["fal-ai/flux/**"]
 *     })
 *   )
 * )
 *
 * const ServerLive = HttpServer.serve(router).pipe(
 *   Layer.provide(FalClient.layerConfig()), // FAL_KEY, on the server only
 *   Layer.provide(NodeHttpClient.layerUndici),
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 3000 }))
 * )
 * ```
 *
 * @since 0.2.0
 */
import * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as FalClient from "./FalClient.js"
import * as internal from "./internal/proxy.js"

/**
 * The route fal's clients use by convention.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultRoute = "/api/fal/proxy"

/**
 * The header naming a proxied call's real URL.
 *
 * @since 0.2.0
 * @category constants
 */
export const targetUrlHeader: string = internal.targetUrlHeader

/**
 * One set of fal bases a proxy allows, with fal's rules: anything under `run` and `queue`, and
 * exactly the storage upload calls under `storage` (and the token call under `storage` and `rest`
 * with `allowTokens`). `FalEmulator`'s `urls` are such a set.
 *
 * @since 0.2.0
 * @category models
 */
export interface Bases {
  readonly run: string
  readonly queue: string
  readonly storage: string
  /** The legacy REST base; only its `/tokens/` call is ever allowed (with `allowTokens`). */
  readonly rest?: string | undefined
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Options<R = never> {
  /**
   * Whether the caller may use the proxy: your application's own check (a session, a token).
   * A failure counts as `false`. Without it the proxy refuses every caller with `401`; an open
   * proxy is an explicit choice: `authenticate: FalProxy.allowAll`.
   */
  readonly authenticate?:
    | ((request: HttpServerRequest.HttpServerRequest) => Effect.Effect<boolean, unknown, R>)
    | undefined
  /**
   * Which targets may be called, as globs over `host/path?query` (the scheme is not part of it):
   * `**` matches anything, `*` anything but `/`, `\` escapes the next character (`\?` for the
   * query's question mark). Default {@link defaultAllowedUrlPatterns}. Given, it replaces the
   * default.
   */
  readonly allowedUrlPatterns?: ReadonlyArray<string> | undefined
  /**
   * More sets of bases allowed with the default rules (see {@link patternsFor}), e.g. an
   * emulator's `urls` in tests. They add to the patterns; they never widen what is allowed on
   * the other bases.
   */
  readonly allowedBases?: ReadonlyArray<Bases> | undefined
  /**
   * The model endpoints a POST may call, as globs over the id (`fal-ai/flux/dev`,
   * `fal-ai/flux/**`). Default: every endpoint. The storage and token calls are not endpoints
   * and are not limited by it.
   */
  readonly allowedEndpoints?: ReadonlyArray<string> | undefined
  /**
   * Also allow `POST {storage}/tokens/` (where fal's client asks) and `POST {rest}/tokens/`
   * (where `Tokens.create` asks): temporary tokens for streaming endpoints and the realtime API,
   * on every allowed set of bases. Default `false`: fal's proxy does not allow it either.
   */
  readonly allowTokens?: boolean | undefined
  /** The largest request body relayed, in bytes; default the `FalClient`'s `maxInputSize`. */
  readonly maxBodySize?: number | undefined
  /**
   * How long to wait for fal's answer headers; default the `FalClient`'s limit for a run
   * (15 minutes: a synchronous run answers when the model has finished).
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The patterns fal's proxy allows for one set of bases: `{run}/**`, `{queue}/**`, and exactly
 * `{storage}/storage/upload/initiate?storage_type=fal-cdn-v3`,
 * `.../initiate-multipart?storage_type=fal-cdn-v3` and `.../complete-multipart?storage_type=fal-cdn-v3`
 * (plus `{storage}/tokens/` and `{rest}/tokens/` with `tokens: true`). fal's own proxy lists `initiate` and
 * `complete-multipart`; `initiate-multipart` is here too because fal's client and this package
 * start an upload of over 90 MB with it, through the proxy.
 *
 * @since 0.2.0
 * @category patterns
 */
export const patternsFor: (
  bases: Bases,
  options?: { readonly tokens?: boolean | undefined }
) => ReadonlyArray<string> = internal.patternsFor

/**
 * The default allowed patterns: {@link patternsFor} fal's hosts (`fal.run/**`,
 * `queue.fal.run/**` and the upload calls under `rest.fal.ai`).
 *
 * @since 0.2.0
 * @category patterns
 */
export const defaultAllowedUrlPatterns: ReadonlyArray<string> = internal.patternsFor({
  run: "https://fal.run",
  queue: "https://queue.fal.run",
  storage: "https://rest.fal.ai",
  rest: "https://rest.alpha.fal.ai"
})

/**
 * An `authenticate` that lets every caller through: an open proxy, which anyone who finds it
 * can spend your fal credit with. For local development and for routes protected elsewhere.
 *
 * @since 0.2.0
 * @category authentication
 */
export const allowAll = (_request: HttpServerRequest.HttpServerRequest): Effect.Effect<boolean> => Effect.succeed(true)

/**
 * The proxy as an `HttpApp`, with the `FalClient`'s key: mount it in an `HttpRouter`
 * (`HttpRouter.all("/api/fal/proxy", FalProxy.httpApp(options))`), serve it on a Node server,
 * or turn it into a fetch handler with {@link toWebHandler}. It never fails: every problem is an
 * answer (see the module's description).
 *
 * @since 0.2.0
 * @category constructors
 */
export const httpApp: <R = never>(
  options: Options<R>
) => Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  HttpServerRequest.HttpServerRequest | FalClient.FalClient | R
> = internal.httpApp

/**
 * The proxy as a fetch-style handler, `(request: Request) => Promise<Response>`, for Next.js
 * route handlers and other servers that speak web `Request`/`Response`; `layer` gives the
 * `FalClient` (and whatever `authenticate` needs). Call `dispose` when the server stops.
 *
 * @example
 * ```ts
 * import { FalClient, FalProxy } from "@effect-fal/api"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Layer } from "effect"
 *
 * const proxy = FalProxy.toWebHandler(
 *   { authenticate: FalProxy.allowAll },
 *   FalClient.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))
 * )
 * export const POST = proxy.handler
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const toWebHandler = <R, E>(
  options: Options<R>,
  layer: Layer.Layer<FalClient.FalClient | R, E>
): {
  readonly handler: (request: Request) => Promise<Response>
  readonly dispose: () => Promise<void>
} => {
  const { dispose, handler } = HttpApp.toWebHandlerLayer(internal.httpApp(options), layer)
  return { handler: (request) => handler(request), dispose }
}
