/**
 * The fal platform's HTTP side as one `HttpApp`: a `HttpRouter` per base (`run`, `queue`,
 * `api`, `rest`, `cdn`, `storage`), each under its path prefix (`/run`, `/queue`, `/api/v1`,
 * `/rest`, `/cdn`, `/storage`), wrapped in the request log, fal's response headers, fault
 * injection, and per route authentication (with scopes) and idempotency. The in-memory client and
 * the loopback emulator both serve this app; you can mount it in your own `HttpServer` too, beside
 * your own routes. URLs in answers (submit URLs, CDN files) are built from the request's `Host`
 * and the prefix the app is mounted under.
 *
 * @example
 * ```ts
 * import { FalPlatform, Gateway } from "@effect-fal/testing"
 * import * as HttpRouter from "@effect/platform/HttpRouter"
 * import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
 *
 * // your routes, and the fake fal under /fal (so its run base is /fal/run)
 * const app = HttpRouter.empty.pipe(
 *   HttpRouter.get("/health", HttpServerResponse.text("ok")),
 *   HttpRouter.mountApp("/fal", Gateway.httpApp)
 * )
 * // serve `app` with HttpServer.serve, providing FalPlatform.layer()
 * ```
 *
 * @since 0.2.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as Effect from "effect/Effect"
import * as FalPlatform from "./FalPlatform.js"
import type * as Fault from "./Fault.js"
import * as Loopback from "./internal/transport/loopback.js"
import * as Urls from "./internal/urls.js"

/**
 * The gateway of the platform in context. A reset fault fails it with `Fault.ConnectionReset`;
 * {@link httpAppNode} renders that as a destroyed socket.
 *
 * @since 0.2.0
 * @category apps
 */
export const httpApp: HttpApp.Default<Fault.ConnectionReset, FalPlatform.FalPlatform> = Effect.flatMap(
  FalPlatform.FalPlatform,
  (platform) => platform.httpApp
)

/**
 * {@link httpApp} for a Node `HttpServer`: a reset fault destroys the socket, as fal's network
 * would.
 *
 * @since 0.2.0
 * @category apps
 */
export const httpAppNode: HttpApp.Default<never, FalPlatform.FalPlatform> = Loopback.serve(httpApp)

/**
 * Each base's path prefix in the gateway.
 *
 * @since 0.2.0
 * @category constants
 */
export const prefixes: { readonly [B in FalPlatform.Base]: `/${string}` } = Urls.prefixes

/**
 * The base URLs of a gateway served at `origin` (e.g. `http://127.0.0.1:8080`, or
 * `http://127.0.0.1:8080/fal` when mounted under `/fal`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const urlsAt: (origin: string) => FalPlatform.Urls = Urls.at

/**
 * Tells the gateway which base URLs and URL a caller used, when a transport knows better than
 * the `Host` header (the in-memory client provides fal's own hosts here).
 *
 * @since 0.2.0
 * @category context
 */
export const Caller: typeof Urls.Caller = Urls.Caller
