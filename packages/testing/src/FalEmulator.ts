/**
 * The fal platform over real HTTP on loopback: one server on `127.0.0.1` (port 0, so the OS
 * picks a free one) serving the gateway (`FalPlatform.Service.httpApp`): every base under its
 * path prefix. Point any client at
 * {@link Service.urls}: fal's official JS client (rewrite its URLs with `requestMiddleware`),
 * `curl`, the Python client, or `@effect-fal/api`.
 *
 * @example
 * ```ts
 * import { FalEmulator, FalPlatform } from "@effect-fal/testing"
 * import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
 *
 * const program = Effect.gen(function*() {
 *   const { urls } = yield* FalEmulator.FalEmulator
 *   const response = yield* Effect.promise(() =>
 *     fetch(`${urls.run}/fal-ai/echo`, {
 *       method: "POST",
 *       headers: { authorization: `Key ${FalPlatform.defaultKeys.user}`, "content-type": "application/json" },
 *       body: JSON.stringify({ hello: "world" })
 *     })
 *   )
 * }).pipe(Effect.provide(FalEmulator.layer()))
 * ```
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as http from "node:http"
import * as FalPlatform from "./FalPlatform.js"
import * as Loopback from "./internal/transport/loopback.js"
import * as Urls from "./internal/urls.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The base URLs, e.g. `http://127.0.0.1:PORT/run`; file URLs live under `cdn`. */
  readonly urls: FalPlatform.Urls
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string
  readonly port: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class FalEmulator extends Context.Tag("@effect-fal/testing/FalEmulator")<FalEmulator, Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Config extends FalPlatform.Config {
  /** Default 0: any free port. */
  readonly port?: number | undefined
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined
}

/**
 * Serves the platform in context over HTTP, for as long as the layer's scope lives.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer = (
  options?: {
    readonly port?: number | undefined
    readonly host?: string | undefined
    /** Wraps the served app, e.g. a request logger. */
    readonly middleware?: HttpMiddleware.HttpMiddleware | undefined
  }
): Layer.Layer<FalEmulator, never, FalPlatform.FalPlatform> =>
  Layer.scoped(
    FalEmulator,
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const server = yield* HttpServer.HttpServer
      const address = server.address
      const host = options?.host ?? "127.0.0.1"
      const port = address._tag === "TcpAddress" ? address.port : 0
      const origin = `http://${host}:${port}`
      yield* server.serve(Loopback.serve(platform.httpApp), options?.middleware ?? identity)
      return { urls: Urls.at(origin), origin, port }
    })
  ).pipe(
    Layer.provide(
      Layer.orDie(
        NodeHttpServer.layerServer(() => http.createServer(), {
          port: options?.port ?? 0,
          host: options?.host ?? "127.0.0.1"
        })
      )
    )
  )

/**
 * A fresh platform and a loopback server for it. Webhooks are POSTed with `fetch` unless
 * `webhookClient` is given.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config = {}): Layer.Layer<FalEmulator | FalPlatform.FalPlatform> => {
  const platform = config.webhookClient === undefined
    ? FalPlatform.layer(config).pipe(Layer.provide(FetchHttpClient.layer))
    : FalPlatform.layer(config)
  return layerServer({ port: config.port, host: config.host }).pipe(Layer.provideMerge(platform))
}
