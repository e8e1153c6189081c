/**
 * The fal client service: credentials (`Redacted`), an optional ADMIN credential for payload
 * deletion, the five base URLs, and the application's `HttpClient`, decorated to send
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
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { InvalidConfiguration } from "./FalError.js"
import { withoutAuthorization } from "./internal/authorization.js"
import * as Budget from "./internal/budget.js"
import * as Redact from "./internal/redact.js"
import type * as Retry from "./Retry.js"

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
 * Per-attempt time limits. `headers`: from sending the request until the answer's status and
 * headers arrive (this includes connecting; the transport's own connect timeout still applies
 * inside it). `body`: from the headers until the whole body has been read. An attempt that runs
 * out of time fails with a `TransportError` whose `timeout` names the limit and whose
 * `mayHaveReached` is `true` (the request may have been received).
 *
 * @since 0.2.0
 * @category models
 */
export interface Timeouts {
  readonly headers?: Duration.DurationInput | undefined
  readonly body?: Duration.DurationInput | undefined
}

/**
 * The default limits per operation. A synchronous run answers only when the model has finished,
 * so its `headers` limit is long (15 minutes) to allow long model runs; every other operation is
 * a short request (30 s). The status stream's silence is bounded by its keep-alive watchdog, not
 * by `body`.
 *
 * | operation | headers | body |
 * |---|---|---|
 * | run | 15 min | 60 s |
 * | submit, status, statusStream, result, cancel, delete, deleteLegacy, list, upload.initiate | 30 s | 60 s |
 * | upload.put (a file of up to 90 MB in one PUT) | 15 min | 60 s |
 * | upload.part (a 10 MB part) | 5 min | 60 s |
 * | upload.complete | 60 s | 60 s |
 * | jwks (the webhook keys) | 10 s | 10 s |
 * | tokens.create | 30 s | 60 s |
 * | stream (headers: until the model starts streaming; the body is bounded by the idle limit of `Fal.stream`, not `body`) | 15 min | 60 s |
 *
 * @since 0.2.0
 * @category defaults
 */
export const defaultTimeouts: {
  readonly [K in Retry.Operation]: { readonly headers: Duration.Duration; readonly body: Duration.Duration }
} = {
  run: { headers: Duration.minutes(15), body: Duration.seconds(60) },
  submit: { headers: Duration.seconds(30), body: Duration.seconds(60) },
  status: { headers: Duration.seconds(30), body: Duration.seconds(60) },
  statusStream: { headers: Duration.seconds(30), body: Duration.seconds(60) },
  result: { headers: Duration.seconds(30), body: Duration.seconds(60) },
  cancel: { headers: Duration.seconds(30), body: Duration.seconds(60) },
  delete: { headers: Duration.seconds(30), body: Duration.seconds(60) },
  deleteLegacy: { headers: Duration.seconds(30), body: Duration.seconds(60) },
  list: { headers: Duration.seconds(30), body: Duration.seconds(60) },
  "upload.initiate": { headers: Duration.seconds(30), body: Duration.seconds(60) },
  // a PUT is answered once its bytes are in: up to 90 MB (a part: 10 MB) on the client's link
  "upload.put": { headers: Duration.minutes(15), body: Duration.seconds(60) },
  "upload.part": { headers: Duration.minutes(5), body: Duration.seconds(60) },
  "upload.complete": { headers: Duration.seconds(60), body: Duration.seconds(60) },
  jwks: { headers: Duration.seconds(10), body: Duration.seconds(10) },
  "tokens.create": { headers: Duration.seconds(30), body: Duration.seconds(60) },
  stream: { headers: Duration.minutes(15), body: Duration.seconds(60) }
}

/**
 * The client-wide retry budget (a token bucket shared by every call of the client, in the manner
 * of the AWS SDK's standard retry mode): each retry spends `retryCost` tokens (`timeoutCost`
 * after a timeout), each successful call puts `successRefill` back, up to `capacity`. A retry the
 * bucket cannot pay for is not made: the call fails with its last error.
 *
 * Defaults: capacity 500, retry cost 5, timeout cost 10, success refill 1 (100 retries in a row
 * before the budget stops retrying, replenished by successes).
 *
 * @since 0.2.0
 * @category models
 */
export interface RetryBudget {
  readonly capacity?: number | undefined
  readonly retryCost?: number | undefined
  readonly timeoutCost?: number | undefined
  readonly successRefill?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The API key, sent as `Authorization: Key <key>`. Omit it for a keyless client (a browser):
   * its calls carry no `Authorization`, and `Fal.stream` authenticates with a temporary token
   * from the `TokenProvider` service instead.
   */
  readonly key?: Redacted.Redacted<string> | undefined
  /** A key with ADMIN scope, used for payload deletion; without it deletion uses `key`. */
  readonly adminKey?: Redacted.Redacted<string> | undefined
  /** Base URL overrides (tests point them at an emulator). */
  readonly urls?: Partial<Urls> | undefined
  /** Decorates the application's `HttpClient` before fal's authorization is added. */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
  /** The start-timeout header to send; default `X-Fal-Request-Timeout`. */
  readonly startTimeoutHeader?: StartTimeout.HeaderName | undefined
  /** Per-attempt time limits per operation, over {@link defaultTimeouts}. */
  readonly timeouts?: { readonly [K in Retry.Operation]?: Timeouts } | undefined
  /** The client-wide retry budget; `false` turns it off. On by default. */
  readonly retryBudget?: RetryBudget | false | undefined
  /**
   * The largest model input sent, in bytes of JSON; default {@link defaultMaxInputSize}. A larger
   * input fails with a `ValidationError` before anything is sent.
   */
  readonly maxInputSize?: number | undefined
  /**
   * Parts of a multipart upload in flight at once (`Storage.upload`), a whole number from 1;
   * default {@link defaultUploadConcurrency}. A call's own `concurrency` option wins.
   */
  readonly uploadConcurrency?: number | undefined
  /**
   * How `Storage.upload` hands the bytes of a PUT to the `HttpClient`; default `"stream"` for
   * {@link make} and {@link layer}, `"whole"` for {@link makeProxy} and {@link layerProxy}.
   *
   * - `"stream"`: a single PUT's body is a stream of slices, so progress is reported as the
   *   transport reads them; a part cut from a `Blob` is streamed from the Blob.
   * - `"whole"`: every body is a whole value: a `Uint8Array` as it is, a `Blob` (or a part sliced
   *   from it) as the Blob itself, which the transport reads. Browsers need this: their `fetch`
   *   sends a `ReadableStream` body only over HTTP/2 (Chromium) or not at all (Firefox, Safari).
   *   Progress is reported as each PUT completes. A `Blob` body needs a transport that takes one:
   *   `FetchHttpClient` and `NodeHttpClient.layerUndici` do, the `node:http` one
   *   (`NodeHttpClient.layer`) does not.
   *
   * Either way a retried PUT sends the same bytes again, and a multipart upload holds no more
   * than `concurrency` parts of a `Stream` in memory.
   */
  readonly uploadBody?: UploadBody | undefined
}

/**
 * How `Storage.upload` sends the bodies of its PUTs: `"stream"` (streamed, progress as the bytes
 * go) or `"whole"` (whole values: a `Uint8Array` or the `Blob` itself, what a browser's `fetch`
 * takes; progress per completed PUT). See {@link Options.uploadBody}.
 *
 * @since 0.2.0
 * @category models
 */
export type UploadBody = "stream" | "whole"

/**
 * The default largest model input, as JSON: 32 MiB. fal documents no limit for a request body;
 * files belong on its CDN (`Storage.upload`, or a `Blob` in the input, uploaded automatically)
 * and their URLs in the input, so an input this large is almost always a file sent inline by
 * mistake. The emulator of `@effect-fal/testing` answers a larger input with 413.
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultMaxInputSize: number = 32 * 1024 * 1024

/**
 * The default number of parts of a multipart upload in flight at once: 6. fal's own clients send
 * one part at a time; a link's throughput is often per connection, so six parts in flight move
 * up to six times the bytes, for at most six parts (60 MB) held of a `Stream`.
 *
 * @since 0.2.0
 * @category defaults
 */
export const defaultUploadConcurrency: number = 6

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Whether an admin key is configured (payload deletion uses it). */
  readonly hasAdminKey: boolean
  /**
   * Whether calls are authenticated by a key: the client's own, or the proxy's (`layerProxy`). A
   * keyless client's `Fal.stream` uses temporary tokens.
   */
  readonly hasKey: boolean
  /**
   * Removes the client's credentials (each key, its secret half, and `Key <key>`) from a text.
   * Built once with the client; the keys themselves are not exposed.
   */
  readonly redact: (text: string) => string
  /** The effective per-attempt limits of each operation. */
  readonly timeouts: {
    readonly [K in Retry.Operation]: { readonly headers: Duration.Duration; readonly body: Duration.Duration }
  }
  /** The client-wide retry budget, if on. */
  readonly retryBudget: Option.Option<Budget.Budget>
  /** The largest model input sent, in bytes of JSON. */
  readonly maxInputSize: number
  /** Parts of a multipart upload in flight at once, unless a call says otherwise. */
  readonly uploadConcurrency: number
  /** How `Storage.upload` sends the bodies of its PUTs (see {@link Options.uploadBody}). */
  readonly uploadBody: UploadBody
  readonly urls: Urls
  readonly startTimeoutHeader: StartTimeout.HeaderName | undefined
  /**
   * The application's `HttpClient`, through `transformClient`, adding `Authorization` to requests
   * for the five fal bases only (and removing it from any other request).
   */
  readonly httpClient: HttpClient.HttpClient
  /** Whether a URL lies under one of the five fal bases. */
  readonly isFalUrl: (url: string) => boolean
}

/**
 * @since 0.1.0
 * @category tags
 */
export class FalClient extends Context.Tag("@effect-fal/api/FalClient")<FalClient, Service>() {}

/**
 * Which credential a request carries: the admin key is chosen with {@link withAdminCredential};
 * `"none"` sends no `Authorization` at all (a call authenticated otherwise, such as a streaming
 * call with a temporary token in its query).
 *
 * @since 0.1.0
 * @category credentials
 */
export const currentCredential: FiberRef.FiberRef<"key" | "adminKey" | "none"> = globalValue(
  "@effect-fal/api/FalClient/currentCredential",
  () => FiberRef.unsafeMake<"key" | "adminKey" | "none">("key")
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

const ensureRedacted = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> =>
  names.includes("authorization") ? names : [...names, "authorization"]

// eslint-disable-next-line no-control-regex
const controlCharacter = /[\u0000-\u001f\u007f]/

const checkKey = (option: string, key: Redacted.Redacted<string>): Effect.Effect<string, InvalidConfiguration> => {
  const value = Redacted.value(key)
  if (value.length === 0) return Effect.fail(new InvalidConfiguration({ option, reason: "is empty" }))
  if (controlCharacter.test(value)) {
    return Effect.fail(
      new InvalidConfiguration({ option, reason: "contains a control character (CR, LF, ...): it cannot be sent" })
    )
  }
  return Effect.succeed(value)
}

const checkUrl = (option: string, url: string): Effect.Effect<string, InvalidConfiguration> => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return Effect.fail(new InvalidConfiguration({ option, reason: `${JSON.stringify(url)} is not an absolute URL` }))
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return Effect.fail(new InvalidConfiguration({ option, reason: `${JSON.stringify(url)} is not an http(s) URL` }))
  }
  if (parsed.search !== "" || parsed.hash !== "" || parsed.username !== "" || parsed.password !== "") {
    return Effect.fail(
      new InvalidConfiguration({ option, reason: "a base URL carries no query, fragment or credentials" })
    )
  }
  return Effect.succeed(trimSlash(url))
}

const duration = (
  option: string,
  input: Duration.DurationInput
): Effect.Effect<Duration.Duration, InvalidConfiguration> => {
  const decoded = Duration.decodeUnknown(input)
  return Option.isSome(decoded) && Duration.greaterThan(decoded.value, Duration.zero)
    ? Effect.succeed(decoded.value)
    : Effect.fail(new InvalidConfiguration({ option, reason: "is not a positive duration" }))
}

const positive = (option: string, value: number | undefined, fallback: number) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Number.isFinite(value) && value >= 0
    ? Effect.succeed(value)
    : Effect.fail(new InvalidConfiguration({ option, reason: "is not a finite number >= 0" }))

/** Where a client's credential comes from: its own keys, or a server proxy that adds them. */
type Credential =
  | { readonly _tag: "Key"; readonly key: string | undefined; readonly adminKey: string | undefined }
  | { readonly _tag: "Proxy"; readonly url: string }

/** The proxy route: an absolute http(s) URL, or a path on the page's origin (`/api/fal/proxy`). */
const checkProxyUrl = (url: string): Effect.Effect<string, InvalidConfiguration> => {
  if (url.startsWith("/") && !url.startsWith("//")) return Effect.succeed(url)
  return checkUrl("url", url).pipe(
    Effect.mapError(() =>
      new InvalidConfiguration({
        option: "url",
        reason: `${JSON.stringify(url)} is neither an absolute http(s) URL nor a path starting with "/"`
      })
    )
  )
}

/** The URL a request is sent to, its query included (the fragment never leaves the client). */
const targetUrl = (request: HttpClientRequest.HttpClientRequest) =>
  Either.match(UrlParams.makeUrl(request.url, request.urlParams, Option.none()), {
    onLeft: (cause) => Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause })),
    onRight: (url) => Effect.succeed(url.toString())
  })

/**
 * The header naming a proxied request's real URL, as fal's clients and proxies spell it.
 *
 * @since 0.2.0
 * @category constants
 */
export const targetUrlHeader = "x-fal-target-url"

const checkUploadBody = (
  value: UploadBody | undefined,
  fallback: UploadBody
): Effect.Effect<UploadBody, InvalidConfiguration> =>
  value === undefined
    ? Effect.succeed(fallback)
    : value === "stream" || value === "whole"
    ? Effect.succeed(value)
    : Effect.fail(
      new InvalidConfiguration({
        option: "uploadBody",
        reason: `${JSON.stringify(String(value).slice(0, 60))} is neither "stream" nor "whole"`
      })
    )

const build = (
  options: Omit<Options, "key" | "adminKey">,
  credential: Credential,
  defaultUploadBody: UploadBody
): Effect.Effect<Service, InvalidConfiguration, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const urls: Urls = {
      run: yield* checkUrl("urls.run", options.urls?.run ?? defaultUrls.run),
      queue: yield* checkUrl("urls.queue", options.urls?.queue ?? defaultUrls.queue),
      api: yield* checkUrl("urls.api", options.urls?.api ?? defaultUrls.api),
      rest: yield* checkUrl("urls.rest", options.urls?.rest ?? defaultUrls.rest),
      storage: yield* checkUrl("urls.storage", options.urls?.storage ?? defaultUrls.storage)
    }
    const timeouts: { -readonly [K in Retry.Operation]: Service["timeouts"][K] } = { ...defaultTimeouts }
    for (const operation of Object.keys(defaultTimeouts) as Array<Retry.Operation>) {
      const override = options.timeouts?.[operation]
      if (override === undefined) continue
      timeouts[operation] = {
        headers: override.headers === undefined
          ? defaultTimeouts[operation].headers
          : yield* duration(`timeouts.${operation}.headers`, override.headers),
        body: override.body === undefined
          ? defaultTimeouts[operation].body
          : yield* duration(`timeouts.${operation}.body`, override.body)
      }
    }
    const budgetOptions = options.retryBudget
    const retryBudget = budgetOptions === false ? Option.none() : Option.some(Budget.make({
      capacity: yield* positive("retryBudget.capacity", budgetOptions?.capacity, Budget.defaults.capacity),
      retryCost: yield* positive("retryBudget.retryCost", budgetOptions?.retryCost, Budget.defaults.retryCost),
      timeoutCost: yield* positive("retryBudget.timeoutCost", budgetOptions?.timeoutCost, Budget.defaults.timeoutCost),
      successRefill: yield* positive(
        "retryBudget.successRefill",
        budgetOptions?.successRefill,
        Budget.defaults.successRefill
      )
    }))
    const bases = [urls.run, urls.queue, urls.api, urls.rest, urls.storage].map((url) => new URL(url))
    // Fast path for the URLs this library builds (`{base}/...` with plain segments): a string
    // prefix test instead of parsing the URL for each base on every request. Anything unusual
    // (dot segments, escapes, backslashes, credentials) is parsed as before.
    const prefixes = bases.map((base) => `${base.origin}${base.pathname.replace(/\/+$/, "")}/`)
    const plain = (rest: string) => !/[\\%@]|(^|\/)\.\.?(\/|$|\?|#)/.test(rest)
    const isFalUrl = (url: string) => {
      for (const prefix of prefixes) {
        if (url.startsWith(prefix) && plain(url.slice(prefix.length))) return true
      }
      return bases.some((base) => underBase(base, url))
    }
    // The header values are built once: a request only picks one.
    const keyHeader = credential._tag === "Key" && credential.key !== undefined ? `Key ${credential.key}` : undefined
    const adminHeader = credential._tag === "Key" && credential.adminKey !== undefined
      ? `Key ${credential.adminKey}`
      : keyHeader
    // Innermost, next to the transport: whatever `transformClient` adds (a redirect follower
    // re-sends requests below any `mapRequest`), a request leaving fal's bases never carries
    // Authorization.
    const transport = yield* HttpClient.HttpClient
    const inner = options.transformClient === undefined
      ? transport
      : options.transformClient(
        HttpClient.make((request) => transport.execute(isFalUrl(request.url) ? request : withoutAuthorization(request)))
      )
    // Outermost: the credential of the fiber on fal's URLs (none elsewhere). The platform's own
    // `http.client` span is off: it ends with the response, whose request holds the key; the
    // pipeline makes its own. `authorization` stays among the redacted header names.
    const authorize = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.map(FiberRef.get(currentCredential), (which) => {
        const stripped = withoutAuthorization(request)
        const header = which === "none" ? undefined : which === "adminKey" ? adminHeader : keyHeader
        return isFalUrl(request.url) && header !== undefined
          ? HttpClientRequest.setHeader(stripped, "authorization", header)
          : stripped
      })
    // Through a proxy: a request for fal's bases goes to the proxy with its real URL in
    // `x-fal-target-url` and no credential (the proxy adds it); anything else (the pre-signed
    // storage URLs) goes where it points, without one either.
    const throughProxy = (proxyUrl: string) => (request: HttpClientRequest.HttpClientRequest) => {
      const stripped = withoutAuthorization(request)
      if (!isFalUrl(request.url)) return Effect.succeed(stripped)
      return Effect.map(targetUrl(stripped), (target) =>
        HttpClientRequest.modify(HttpClientRequest.get(proxyUrl), {
          method: stripped.method,
          headers: Headers.set(stripped.headers, targetUrlHeader, target),
          body: stripped.body
        }))
    }
    const httpClient: HttpClient.HttpClient = inner.pipe(
      HttpClient.mapRequestEffect(credential._tag === "Key" ? authorize : throughProxy(credential.url)),
      HttpClient.withTracerDisabledWhen(() => true),
      HttpClient.transformResponse(Effect.locallyWith(Headers.currentRedactedNames, ensureRedacted))
    )
    return {
      hasAdminKey: credential._tag === "Key" && credential.adminKey !== undefined,
      hasKey: credential._tag === "Proxy" || credential.key !== undefined,
      redact: Redact.make(
        credential._tag === "Proxy"
          ? []
          : [credential.key, credential.adminKey].filter((key): key is string => key !== undefined)
      ),
      timeouts,
      retryBudget,
      maxInputSize: yield* positive("maxInputSize", options.maxInputSize, defaultMaxInputSize),
      uploadConcurrency: options.uploadConcurrency === undefined
        ? defaultUploadConcurrency
        : Number.isSafeInteger(options.uploadConcurrency) && options.uploadConcurrency >= 1
        ? options.uploadConcurrency
        : yield* new InvalidConfiguration({ option: "uploadConcurrency", reason: "is not a whole number >= 1" }),
      uploadBody: yield* checkUploadBody(options.uploadBody, defaultUploadBody),
      urls,
      startTimeoutHeader: options.startTimeoutHeader,
      httpClient,
      isFalUrl
    }
  })

/**
 * Builds the service from options, decorating the `HttpClient` found in the context. A key with a
 * control character or an unusable base URL fails here, as an `InvalidConfiguration`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, InvalidConfiguration, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const key = options.key === undefined ? undefined : yield* checkKey("key", options.key)
    const adminKey = options.adminKey === undefined ? undefined : yield* checkKey("adminKey", options.adminKey)
    const { adminKey: _admin, key: _key, ...rest } = options
    return yield* build(rest, { _tag: "Key", key, adminKey }, "stream")
  })

/**
 * Options of {@link layerProxy}: the proxy's route instead of a key; the rest as in {@link Options}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProxyOptions extends Omit<Options, "key" | "adminKey"> {
  /**
   * The route of the application's proxy (`FalProxy.httpApp` of this package, or fal's
   * `@fal-ai/server-proxy`): an absolute http(s) URL, or in a browser a path on the page's origin
   * such as `/api/fal/proxy`.
   */
  readonly url: string
}

/**
 * Builds a client without a key that sends every call for fal's bases to a proxy (SPEC section
 * 13): the request goes to `url` with its real URL in `x-fal-target-url` and no `Authorization`;
 * the proxy checks it, adds the key and relays the answer. The bytes of a storage upload go
 * straight to the pre-signed URL the initiate call answered, which needs no key and no proxy.
 * The client has no admin key (`hasAdminKey` is `false`). Its uploads send whole bodies
 * (`uploadBody: "whole"` unless the options say otherwise), which a browser's `fetch` takes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeProxy = (options: ProxyOptions): Effect.Effect<Service, InvalidConfiguration, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const url = yield* checkProxyUrl(options.url)
    const { url: _url, ...rest } = options
    return yield* build(rest, { _tag: "Proxy", url }, "whole")
  })

/**
 * A `FalClient` for browsers: no key, every call through the application's proxy (see
 * {@link makeProxy}). The rest of the library works unchanged on it.
 *
 * @example
 * ```ts
 * import { Fal, FalClient } from "@effect-fal/api"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect, Layer } from "effect"
 *
 * const FalBrowser = FalClient.layerProxy({ url: "/api/fal/proxy" }).pipe(Layer.provide(FetchHttpClient.layer))
 *
 * const image = Fal.run("fal-ai/flux/dev", { prompt: "a lighthouse" }).pipe(Effect.provide(FalBrowser))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerProxy = (
  options: ProxyOptions
): Layer.Layer<FalClient, InvalidConfiguration, HttpClient.HttpClient> => Layer.effect(FalClient, makeProxy(options))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<FalClient, InvalidConfiguration, HttpClient.HttpClient> =>
  Layer.effect(FalClient, make(options))

/**
 * {@link layerConfig}'s options: the key, the admin key and the base URLs as `Config` values
 * (read when the layer is built), the rest as in {@link Options}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConfigOptions extends Omit<Options, "key" | "adminKey" | "urls"> {
  /** Default `Config.redacted("FAL_KEY")`. */
  readonly key?: Config.Config<Redacted.Redacted<string>> | undefined
  /** Default `Config.option(Config.redacted("FAL_ADMIN_KEY"))`. */
  readonly adminKey?: Config.Config<Option.Option<Redacted.Redacted<string>>> | undefined
  /** Default: the optional URLs `FAL_RUN_URL`, `FAL_QUEUE_URL`, `FAL_API_URL`, `FAL_REST_URL`, `FAL_STORAGE_URL`. */
  readonly urls?: Config.Config<Partial<Urls>> | undefined
}

/**
 * The base URL overrides read from `FAL_RUN_URL`, `FAL_QUEUE_URL`, `FAL_API_URL`, `FAL_REST_URL`
 * and `FAL_STORAGE_URL`, each optional (a set value must be a URL).
 *
 * @since 0.2.0
 * @category layers
 */
export const urlsConfig: Config.Config<Partial<Urls>> = Config.all({
  run: Config.option(Config.url("FAL_RUN_URL")),
  queue: Config.option(Config.url("FAL_QUEUE_URL")),
  api: Config.option(Config.url("FAL_API_URL")),
  rest: Config.option(Config.url("FAL_REST_URL")),
  storage: Config.option(Config.url("FAL_STORAGE_URL"))
}).pipe(Config.map((urls) => {
  const overrides: { -readonly [K in keyof Urls]?: string } = {}
  for (const name of ["run", "queue", "api", "rest", "storage"] as const) {
    const value = urls[name]
    if (Option.isSome(value)) overrides[name] = String(value.value)
  }
  return overrides
}))

/** The first problem a `ConfigError` names: where, and what. */
const firstProblem = (
  error: ConfigError.ConfigError
): { readonly path: string; readonly missing: boolean; readonly message: string } => {
  switch (error._op) {
    case "And":
    case "Or":
      return firstProblem(error.left)
    case "MissingData":
      return { path: error.path.join("."), missing: true, message: error.message }
    case "InvalidData":
    case "SourceUnavailable":
    case "Unsupported":
      return { path: error.path.join("."), missing: false, message: error.message }
  }
}

/**
 * A configuration value that is missing or unusable, as an `InvalidConfiguration` naming it and
 * what to do (the message of a `Config.redacted` value never holds the value).
 */
const fromConfigError = (error: ConfigError.ConfigError): InvalidConfiguration => {
  const problem = firstProblem(error)
  return new InvalidConfiguration({
    option: problem.path,
    reason: problem.missing
      ? problem.path === "FAL_KEY"
        ? "is not set: set FAL_KEY to your fal API key, or pass `key` to FalClient.layer"
        : "is not set: set it in the environment, or pass the value to FalClient.layer"
      : `is not usable: ${problem.message}`
  })
}

/**
 * A client configured from `Config` values: by default `FAL_KEY` (required), `FAL_ADMIN_KEY`
 * (optional) and the optional base URL overrides of {@link urlsConfig}. Each can be replaced
 * by a `Config` of your own, like `OpenAiClient.layerConfig` of `@effect/ai-openai`.
 *
 * @example
 * ```ts
 * import { FalClient } from "@effect-fal/api"
 * import { Config } from "effect"
 *
 * const FalLive = FalClient.layerConfig({
 *   key: Config.redacted("MY_FAL_KEY"),
 *   urls: Config.succeed({ queue: "http://127.0.0.1:8080/queue" })
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options?: ConfigOptions
): Layer.Layer<FalClient, InvalidConfiguration, HttpClient.HttpClient> =>
  Layer.effect(
    FalClient,
    Effect.gen(function*() {
      const { adminKey, key, urls, ...rest } = options ?? {}
      const values = yield* Config.all({
        key: key ?? Config.redacted("FAL_KEY"),
        adminKey: adminKey ?? Config.option(Config.redacted("FAL_ADMIN_KEY")),
        urls: urls ?? urlsConfig
      }).pipe(Effect.mapError(fromConfigError))
      return yield* make({
        ...rest,
        key: values.key,
        adminKey: Option.getOrUndefined(values.adminKey),
        urls: values.urls
      })
    })
  )
