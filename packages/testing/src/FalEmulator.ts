/**
 * The fal platform over real HTTP on loopback: one server on `127.0.0.1` (port 0, so the OS
 * picks a free one) serving the gateway (`FalPlatform.Service.httpApp`): every base under its
 * path prefix. Point any client at
 * {@link Service.urls}: fal's official JS client (rewrite its URLs with `requestMiddleware`),
 * `curl`, the Python client, or `@effect-fal/api` ({@link layerClient}: a `FalClient` with every
 * base on the emulator, in one line).
 *
 * `@effect-fal/api` is a peer dependency of this package for {@link layerClient}: the
 * `FalClient` it builds must be the application's own (one service tag, one type), which a peer
 * gives and a dependency of its own would not; npm and pnpm install a missing peer themselves.
 *
 * @example
 * ```ts
 * import { FalEmulator, FalPlatform } from "@effect-fal/testing"
 * import * as Effect from "effect/Effect"
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
import * as FalClient from "@effect-fal/api/FalClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as http from "node:http"
import * as FalPlatform from "./FalPlatform.js"
import * as Loopback from "./internal/transport/loopback.js"
import * as Memory from "./internal/transport/memory.js"
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

/**
 * A base URL of a `FalClient` that the emulator does not serve: requests to it would leave the
 * test (to a real fal host, with the test's key) or fail. {@link layerClient} dies with it.
 *
 * @since 0.2.0
 * @category errors
 */
export class StrayBase extends Schema.TaggedError<StrayBase>("@effect-fal/testing/StrayBase")("StrayBase", {
  base: Schema.String,
  url: Schema.String,
  expected: Schema.String
}) {
  /**
   * @since 0.2.0
   */
  override get message(): string {
    return `FalClient base "${this.base}" is ${this.url}, which ${this.expected} does not serve: ` +
      "a test using this client could reach a real fal host"
  }
}

/**
 * Where a client's bases must lie: on the loopback emulator at `origin`, or on the fal hosts the
 * in-memory transport answers.
 *
 * @since 0.2.0
 * @category models
 */
export type Target = { readonly _tag: "Loopback"; readonly origin: string } | { readonly _tag: "Memory" }

/**
 * Checks every base URL of a `FalClient` (all of them, whatever their number: a base added to the
 * client later is checked too) against the emulator: each must be under the loopback origin, or
 * be a host the in-memory transport answers.
 *
 * @since 0.2.0
 * @category checks
 */
export const checkBases = (client: FalClient.Service, target: Target): Effect.Effect<void, StrayBase> =>
  Effect.forEach(Object.entries(client.urls), ([base, url]) => {
    // a path under the base: what the client sends there
    const parsed = new URL(`${String(url)}/`)
    const served = target._tag === "Loopback"
      ? parsed.origin === new URL(target.origin).origin
      : Memory.route(parsed) !== undefined
    return served ? Effect.void : Effect.fail(
      new StrayBase({
        base,
        url: String(url),
        expected: target._tag === "Loopback" ? `the loopback emulator at ${target.origin}` : "the in-memory platform"
      })
    )
  }, { discard: true })

/**
 * Options of {@link layerClient}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ClientOptions {
  /** `"loopback"` (default): real HTTP to an emulator on 127.0.0.1; `"memory"`: no socket. */
  readonly transport?: "loopback" | "memory" | undefined
  /** The platform's configuration (models, keys, ...); `port` and `host` for loopback. */
  readonly config?: Config | undefined
  /** The key the client sends. Default: {@link FalPlatform.defaultKeys}.user (API scope). */
  readonly key?: Redacted.Redacted<string> | undefined
  /** `true`: also the platform's ADMIN key (payload deletion); or a key of your own. Default none. */
  readonly adminKey?: boolean | Redacted.Redacted<string> | undefined
  /** The other `FalClient` options: timeouts, retry budget, `transformClient`, ... */
  readonly client?: Omit<FalClient.Options, "key" | "adminKey" | "urls"> | undefined
  /** The transport to the loopback emulator. Default: `NodeHttpClient.layerUndici`. */
  readonly httpClient?: Layer.Layer<HttpClient.HttpClient> | undefined
}

const clientOptions = (options: ClientOptions, urls: FalClient.Options["urls"]): FalClient.Options => ({
  ...options.client,
  key: options.key ?? Redacted.make(FalPlatform.defaultKeys.user),
  adminKey: options.adminKey === true
    ? Redacted.make(FalPlatform.defaultKeys.admin)
    : options.adminKey === false
    ? undefined
    : options.adminKey,
  urls
})

const checked = (target: Target) => (client: FalClient.Service) =>
  Effect.as(Effect.orDie(checkBases(client, target)), client)

/**
 * A fresh emulator and a `FalClient` on it with every base set (run, queue, api, rest, storage),
 * plus the `HttpClient` it uses and the `FalPlatform` behind it: one layer instead of a block per
 * test. Over `"loopback"` (default) the emulator listens on 127.0.0.1 and the client speaks real
 * HTTP to it (undici unless `httpClient` is given); in `"memory"` the client's bases are fal's
 * hosts and its transport the in-memory one, which answers nothing else. Either way the layer
 * checks every base of the client it built ({@link checkBases}) and dies with a
 * {@link StrayBase} if one is not the emulator's, so no test can reach a real fal host through a
 * forgotten base. The key is the platform's API-scope test key unless told otherwise.
 *
 * @example
 * ```ts
 * import { Fal } from "@effect-fal/api"
 * import { FalEmulator } from "@effect-fal/testing"
 * import * as Effect from "effect/Effect"
 *
 * const echoed = Fal.run("fal-ai/echo", { hello: "world" }).pipe(
 *   Effect.provide(FalEmulator.layerClient({ transport: "memory" }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export function layerClient(
  options: ClientOptions & { readonly transport: "memory" }
): Layer.Layer<FalClient.FalClient | HttpClient.HttpClient | FalPlatform.FalPlatform>
export function layerClient(
  options?: ClientOptions & { readonly transport?: "loopback" | undefined }
): Layer.Layer<FalClient.FalClient | HttpClient.HttpClient | FalPlatform.FalPlatform | FalEmulator>
export function layerClient(
  options: ClientOptions = {}
):
  | Layer.Layer<FalClient.FalClient | HttpClient.HttpClient | FalPlatform.FalPlatform>
  | Layer.Layer<FalClient.FalClient | HttpClient.HttpClient | FalPlatform.FalPlatform | FalEmulator>
{
  if (options.transport === "memory") {
    return Layer.effect(
      FalClient.FalClient,
      Effect.flatMap(FalClient.make(clientOptions(options, {})), checked({ _tag: "Memory" }))
    ).pipe(Layer.orDie, Layer.provideMerge(FalPlatform.layerClient(options.config)))
  }
  return Layer.unwrapEffect(
    Effect.map(FalEmulator, ({ origin, urls }) =>
      Layer.effect(
        FalClient.FalClient,
        Effect.flatMap(
          FalClient.make(clientOptions(options, {
            run: urls.run,
            queue: urls.queue,
            api: urls.api,
            rest: urls.rest,
            storage: urls.storage
          })),
          checked({ _tag: "Loopback", origin })
        )
      ).pipe(Layer.orDie))
  ).pipe(
    Layer.provideMerge(options.httpClient ?? NodeHttpClient.layerUndici),
    Layer.provideMerge(layer(options.config))
  )
}
