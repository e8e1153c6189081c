/**
 * The fal client service: credentials (`Redacted`), an optional ADMIN credential for payload
 * deletion, the four base URLs, and the application's `HttpClient`, decorated to send
 * `Authorization: Key ...` to fal's bases and to no other host.
 *
 * @example
 * ```ts
 * import { FalClient } from "@effect-fal/api"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * // FAL_KEY (and optionally FAL_ADMIN_KEY, FAL_QUEUE_URL, ...) from the environment
 * const FalLive = FalClient.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
import type * as StartTimeout from "@effect-fal/headers/StartTimeout"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/**
 * fal's five API bases.
 *
 * @since 0.1.0
 * @category models
 */
export interface Urls {
  /** Synchronous runs: `https://fal.run`. */
  readonly run: string
  /** The queue: `https://queue.fal.run`. */
  readonly queue: string
  /** Platform API v1: `https://api.fal.ai/v1`. */
  readonly api: string
  /** Legacy REST (the old payload deletion endpoint): `https://rest.alpha.fal.ai`. */
  readonly rest: string
  /** Storage uploads (initiate; the upload itself goes to a pre-signed URL): `https://rest.fal.ai`. */
  readonly storage: string
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultUrls: Urls = {
  run: "https://fal.run",
  queue: "https://queue.fal.run",
  api: "https://api.fal.ai/v1",
  rest: "https://rest.alpha.fal.ai",
  storage: "https://rest.fal.ai"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The API key, sent as `Authorization: Key <key>`. */
  readonly key: Redacted.Redacted<string>
  /** A key with ADMIN scope, used for payload deletion; without it deletion uses `key`. */
  readonly adminKey?: Redacted.Redacted<string> | undefined
  /** Base URL overrides (tests point them at an emulator). */
  readonly urls?: Partial<Urls> | undefined
  /** Decorates the application's `HttpClient` before fal's authorization is added. */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
  /** The start-timeout header to send; default `X-Fal-Request-Timeout`. */
  readonly startTimeoutHeader?: StartTimeout.HeaderName | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly key: Redacted.Redacted<string>
  readonly adminKey: Option.Option<Redacted.Redacted<string>>
  readonly urls: Urls
  readonly startTimeoutHeader: StartTimeout.HeaderName | undefined
  /**
   * The application's `HttpClient`, through `transformClient`, adding `Authorization` to requests
   * for the four fal bases only (and removing it from any other request).
   */
  readonly httpClient: HttpClient.HttpClient
  /** Whether a URL lies under one of the four fal bases. */
  readonly isFalUrl: (url: string) => boolean
}

/**
 * @since 0.1.0
 * @category tags
 */
export class FalClient extends Context.Tag("@effect-fal/api/FalClient")<FalClient, Service>() {}

/**
 * Which credential a request carries: the admin key is chosen with {@link withAdminCredential}.
 *
 * @since 0.1.0
 * @category credentials
 */
export const currentCredential: FiberRef.FiberRef<"key" | "adminKey"> = globalValue(
  "@effect-fal/api/FalClient/currentCredential",
  () => FiberRef.unsafeMake<"key" | "adminKey">("key")
)

/**
 * Runs an effect whose fal requests carry the admin key when one is configured, else the key.
 *
 * @since 0.1.0
 * @category credentials
 */
export const withAdminCredential = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, currentCredential, "adminKey")

const trimSlash = (url: string): string => url.replace(/\/+$/, "")

const underBase = (base: URL, url: string): boolean => {
  let target: URL
  try {
    target = new URL(url)
  } catch {
    return false
  }
  if (target.origin !== base.origin) return false
  const prefix = base.pathname.replace(/\/+$/, "")
  return prefix === "" || target.pathname === prefix || target.pathname.startsWith(`${prefix}/`)
}

/** The request without any `authorization` header (`modify` can only add headers, so it is rebuilt). */
const withoutAuthorization = (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
  Headers.has(request.headers, "authorization")
    ? HttpClientRequest.modify(HttpClientRequest.get(request.url), {
      method: request.method,
      urlParams: request.urlParams,
      headers: Headers.remove(request.headers, "authorization"),
      body: request.body,
      ...(Option.isSome(request.hash) ? { hash: request.hash.value } : {})
    })
    : request

const ensureRedacted = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> =>
  names.includes("authorization") ? names : [...names, "authorization"]

/**
 * Builds the service from options, decorating the `HttpClient` found in the context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const urls: Urls = {
      run: trimSlash(options.urls?.run ?? defaultUrls.run),
      queue: trimSlash(options.urls?.queue ?? defaultUrls.queue),
      api: trimSlash(options.urls?.api ?? defaultUrls.api),
      rest: trimSlash(options.urls?.rest ?? defaultUrls.rest),
      storage: trimSlash(options.urls?.storage ?? defaultUrls.storage)
    }
    const bases = [urls.run, urls.queue, urls.api, urls.rest, urls.storage].map((url) => new URL(url))
    const isFalUrl = (url: string) => bases.some((base) => underBase(base, url))
    const adminKey = Option.fromNullable(options.adminKey)
    // Innermost, next to the transport: whatever `transformClient` adds (a redirect follower
    // re-sends requests below any `mapRequest`), a request leaving fal's bases never carries
    // Authorization. The transport's own span is left out: this client already makes one.
    const transport = yield* HttpClient.HttpClient
    const base = HttpClient.make((request) =>
      Effect.locally(
        transport.execute(isFalUrl(request.url) ? request : withoutAuthorization(request)),
        HttpClient.currentTracerDisabledWhen,
        () => true
      )
    )
    const transformed = options.transformClient === undefined ? base : options.transformClient(base)
    const httpClient = transformed.pipe(
      HttpClient.mapRequestEffect((request) =>
        Effect.map(FiberRef.get(currentCredential), (credential) => {
          const stripped = withoutAuthorization(request)
          if (!isFalUrl(request.url)) return stripped
          const key = credential === "adminKey" ? Option.getOrElse(adminKey, () => options.key) : options.key
          return HttpClientRequest.setHeader(stripped, "authorization", `Key ${Redacted.value(key)}`)
        })
      ),
      HttpClient.transform((effect) => Effect.locallyWith(effect, Headers.currentRedactedNames, ensureRedacted))
    )
    return {
      key: options.key,
      adminKey,
      urls,
      startTimeoutHeader: options.startTimeoutHeader,
      httpClient,
      isFalUrl
    }
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<FalClient, never, HttpClient.HttpClient> =>
  Layer.effect(FalClient, make(options))

/**
 * Reads `FAL_KEY` (required), `FAL_ADMIN_KEY` (optional) and the optional base URL overrides
 * `FAL_RUN_URL`, `FAL_QUEUE_URL`, `FAL_API_URL`, `FAL_REST_URL`, `FAL_STORAGE_URL`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options?: Omit<Options, "key" | "adminKey" | "urls">
): Layer.Layer<FalClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(
    FalClient,
    Effect.gen(function*() {
      const key = yield* Config.redacted("FAL_KEY")
      const adminKey = yield* Config.option(Config.redacted("FAL_ADMIN_KEY"))
      const url = (name: string) =>
        Config.option(Config.url(name)).pipe(Config.map(Option.match({ onNone: () => undefined, onSome: String })))
      const urls = yield* Config.all({
        run: url("FAL_RUN_URL"),
        queue: url("FAL_QUEUE_URL"),
        api: url("FAL_API_URL"),
        rest: url("FAL_REST_URL"),
        storage: url("FAL_STORAGE_URL")
      })
      const overrides: { -readonly [K in keyof Urls]?: string } = {}
      for (const name of ["run", "queue", "api", "rest", "storage"] as const) {
        const value = urls[name]
        if (value !== undefined) overrides[name] = value
      }
      return yield* make({ ...options, key, adminKey: Option.getOrUndefined(adminKey), urls: overrides })
    })
  )
