/**
 * The fal platform, in memory: models and their runners, the per-endpoint queue with priority,
 * start timeouts and server-side retries, the payload store and the CDN with their retention,
 * API keys with scopes, the idempotency cache, fault injection and a log of every request
 * received. All time is the Effect `Clock`, so `TestClock.adjust` drives queue waits, start
 * timeouts, retention and expiry.
 *
 Its HTTP side is one `HttpApp`, {@link Service.httpApp} (see the `Gateway` module), reached
 * three ways:
 * - {@link layerClient}: an `HttpClient` answering requests addressed to fal's default hosts
 *   (`https://fal.run`, `https://queue.fal.run`, `https://api.fal.ai/v1`,
 *   `https://rest.alpha.fal.ai`, `https://v3.fal.media`, `https://rest.fal.ai`) without sockets,
 *   running the app in the caller's fiber;
 * - `FalEmulator.layer`: the same app over real HTTP on `127.0.0.1`;
 * - your own `HttpServer`: mount `Gateway.httpApp` in it, beside your routes.
 *
 * Built-in demo models (see {@link demoModelIds}): `fal-ai/echo`, `fal-ai/image`, `fal-ai/slow`,
 * `fal-ai/fail`, `fal-ai/validate`.
 *
 * @since 0.1.0
 */
import type * as HeadersModule from "@effect-fal/headers"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Fault from "./Fault.js"
import * as Constants from "./internal/constants.js"
import * as internal from "./internal/platform.js"
import * as Memory from "./internal/transport/memory.js"
import type * as Link from "./Link.js"
import type * as Model from "./Model.js"
import type * as WebhookSigner from "./WebhookSigner.js"

type RequestOptions = HeadersModule.RequestOptions.RequestOptions
type InvalidRequestOptions = HeadersModule.RequestOptions.InvalidRequestOptions

/**
 * The bases of the platform. `storage` is fal's upload service (`https://rest.fal.ai`);
 * `upload` the pre-signed upload origin its initiate answers point at (no key: it refuses one).
 *
 * @since 0.1.0
 * @category models
 */
export type Base = "run" | "queue" | "api" | "rest" | "cdn" | "storage" | "upload"

/**
 * Absolute base URLs, without a trailing slash (the name `@effect-fal/api` gives its own record).
 *
 * @since 0.2.0
 * @category models
 */
export interface Urls {
  readonly run: string
  readonly queue: string
  readonly api: string
  readonly rest: string
  readonly cdn: string
  readonly storage: string
  /** The pre-signed upload origin (`upload_url`s of the storage initiate answers). */
  readonly upload: string
}

/**
 * fal's default base URLs; the in-memory client answers these hosts.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultUrls: Urls = Constants.defaultUrls

/**
 * The keys every platform accepts unless configured otherwise: `user` has API scope, `admin`
 * has ADMIN scope (needed to delete payloads). Send them as `Authorization: Key <key>`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultKeys: { readonly user: string; readonly admin: string } = Constants.defaultKeys

/**
 * @since 0.1.0
 * @category models
 */
export interface ApiKey {
  readonly key: string
  readonly scope: "API" | "ADMIN"
}

/**
 * The ids of the built-in demo models.
 *
 * - `fal-ai/echo`: answers its input (any JSON object) as output; 1 billable unit.
 * - `fal-ai/image`: `{ prompt, num_images?, image_url? }`; writes `num_images` PNG files to the
 *   CDN (output files) and answers `{ images: [{ url, content_type, file_name, width, height }], prompt, seed }`.
 *   An `image_url` pointing at a CDN file is recorded as an input file of the request.
 * - `fal-ai/slow`: `{ seconds? }` (default 10); sleeps that long on the Clock, logging each second.
 * - `fal-ai/fail`: `{ error_type?, status?, detail? }`; fails with that `error_type` (default
 *   `runner_server_error`) and its usual status. Transient types are retried by the queue.
 * - `fal-ai/validate`: `{ prompt: non-empty string, steps: integer 1..50 }`; answers `422` with
 *   `detail[]` otherwise, `{ prompt, steps }` when valid.
 *
 * Streaming models (`POST {run}/{id}/stream`; see `Model.makeStreaming`), their delays on the Clock:
 * - `fal-ai/counter`: `{ count? (default 5), delay_ms? (default 100) }`; Server-Sent Events
 *   `{ index, count, done }` for index 1..count, the first at once, then one every `delay_ms`.
 * - `fal-ai/audio`: `{ chunks? (default 4), size? (default 1024), delay_ms? (default 0) }`; a binary
 *   `audio/mpeg` answer: `chunks` chunks of `size` bytes, chunk `i` filled with the byte `i % 256`.
 * - `fal-ai/stream-fail`: `{ after? (default 2), how? ("error" | "cut" | "bad_json", default
 *   "error"), error_type?, detail?, delay_ms? }`; streams `{ index }` `after` times (`delay_ms` apart,
 *   and the failure `delay_ms` after the last), then an
 *   `event: error` (`after: 0`: an ordinary error answer with the error type's usual status), a
 *   cut connection, or a `data:` line that is not JSON.
 *
 * @since 0.1.0
 * @category constants
 */
export const demoModelIds = {
  echo: "fal-ai/echo",
  image: "fal-ai/image",
  slow: "fal-ai/slow",
  fail: "fal-ai/fail",
  validate: "fal-ai/validate",
  counter: "fal-ai/counter",
  audio: "fal-ai/audio",
  streamFail: "fal-ai/stream-fail"
} as const

/**
 * @since 0.1.0
 * @category models
 */
export interface Config {
  /** Accepted keys. Default: {@link defaultKeys}. */
  readonly keys?: ReadonlyArray<ApiKey> | undefined
  /** Models registered besides the demo models. */
  readonly models?: ReadonlyArray<Model.Model> | undefined
  /** Register the demo models. Default `true`. */
  readonly demoModels?: boolean | undefined
  /** Runners per demo model. Default 1. */
  readonly demoRunners?: number | undefined
  /** Server-side attempts in all for a queued request. Default 10. */
  readonly maxAttempts?: number | undefined
  /** How long JSON payloads are stored. Default 30 days. */
  readonly payloadRetention?: Duration.DurationInput | undefined
  /** CDN expiry when a request sends no lifecycle preference ("account setting"). Default never. */
  readonly defaultObjectLifecycle?: Duration.DurationInput | "never" | undefined
  /** SSE keep-alive comment interval. Default 15 seconds. */
  readonly keepAliveInterval?: Duration.DurationInput | undefined
  /** How long an `Idempotency-Key` answer is replayed. Default 10 minutes. */
  readonly idempotencyWindow?: Duration.DurationInput | undefined
  /**
   * The client the platform POSTs webhooks with. Default: the `HttpClient` in the layer's
   * context if any; otherwise deliveries are only recorded (see `webhooks`).
   */
  readonly webhookClient?: HttpClient.HttpClient | undefined
  /**
   * The key webhook deliveries are signed with (SPEC section 9); its public half is served at
   * `{rest}/.well-known/jwks.json`. Default: a key pair generated for this platform.
   */
  readonly webhookKey?: WebhookSigner.PrivateJwk | undefined
  /**
   * A slow link: latency per request, a throughput cap per request body, a loss rate on upload
   * PUTs (see `Link`). Default none.
   */
  readonly link?: Link.Link | undefined
}

/**
 * One HTTP request received by the gateway (an entry of the HTTP request log; a job is a
 * {@link JobRecord}).
 *
 * @since 0.2.0
 * @category models
 */
export interface HttpLogEntry {
  /** The id answered in `x-fal-request-id`. */
  readonly id: string
  readonly method: string
  /** The URL as received. */
  readonly url: string
  readonly base: Base
  /** The path relative to its base, starting with `/`. */
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  /** Header names lower-cased; `authorization` is redacted to `Key <redacted>`. */
  readonly headers: Readonly<Record<string, string>>
  /**
   * What authenticated the request: an API key (`user`, `admin`), a temporary token (`token`:
   * `fal_jwt_token` in the query without an `Authorization` header, or `Authorization: Bearer`;
   * checked by the route, since a token is valid for its apps only), or nothing usable.
   */
  readonly auth: "user" | "admin" | "token" | "unknown" | "missing"
  /** The platform headers and query parameters, decoded with `RequestOptions.fromWire`. */
  readonly options: Either.Either<RequestOptions, InvalidRequestOptions>
  readonly body: string
  /** `Clock` time in milliseconds. */
  readonly receivedAt: number
  /**
   * The status answered, `"reset"` for a destroyed connection (a reset fault, a PUT lost by the
   * link model), `"aborted"` for a request its client gave up on before the answer (the
   * connection closed, or the in-memory caller interrupted), `"pending"` while in flight.
   */
  readonly status: number | "reset" | "aborted" | "pending"
  /** The injected fault that hit this request, if one did (see `Fault`). */
  readonly fault?: Fault.Fault | undefined
}

/**
 * What happened on the realtime WebSocket (`{run}/{owner}/{app}/realtime`), in order: a
 * connection opened (its token is never recorded), a frame received (`input` is the decoded
 * input, `undefined` if the frame could not be decoded), a connection closed (its close code,
 * 1001 when the server stopped it).
 *
 * @since 0.2.0
 * @category models
 */
export type RealtimeEvent =
  | {
    readonly _tag: "Connected"
    /** The connection's id (the gateway id of its upgrade request). */
    readonly connection: string
    readonly app: string
    /** The path after the app, e.g. `/realtime`. */
    readonly path: string
    readonly maxBuffering: string | undefined
    readonly at: number
  }
  | {
    readonly _tag: "Message"
    readonly connection: string
    /** 0 for the connection's first frame. */
    readonly seq: number
    readonly kind: "binary" | "text"
    readonly input: unknown
    readonly at: number
  }
  | {
    readonly _tag: "Closed"
    readonly connection: string
    readonly code: number
    readonly reason: string
    readonly at: number
  }

/**
 * A job: the state of a model request known to the queue (queued or sync).
 *
 * @since 0.2.0
 * @category models
 */
export interface JobRecord {
  readonly id: string
  readonly modelId: string
  /** `owner/app` (with a `workflows/`/`comfy/` namespace when present). */
  readonly app: string
  readonly mode: "queue" | "sync"
  readonly status: "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED"
  readonly options: RequestOptions
  readonly input: unknown
  readonly attempts: number
  readonly servedFrom: string | undefined
  readonly submittedAt: number
  readonly startedAt: number | undefined
  readonly completedAt: number | undefined
  readonly cancelled: boolean
  /** The answer of the result endpoint once completed. */
  readonly result: ResultRecord | undefined
  readonly logs: ReadonlyArray<LogEntry>
  /** CDN URLs referenced by the input. */
  readonly inputFiles: ReadonlyArray<string>
  /** CDN URLs written by the model. */
  readonly outputFiles: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ResultRecord {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** The body's text, as sent by the result endpoint. */
  readonly body: string
  readonly error: string | undefined
  readonly errorType: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LogEntry {
  readonly message: string
  readonly timestamp: string
  readonly level?: string
  readonly source?: string
}

/**
 * A request's stored JSON payloads.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredPayload {
  readonly requestId: string
  readonly input: unknown
  /** The output (or error body) as sent, once completed. */
  readonly output: string | undefined
  readonly storedAt: number
  readonly expiresAt: number
}

/**
 * A file on the CDN.
 *
 * @since 0.1.0
 * @category models
 */
export interface CdnFile {
  readonly url: string
  /** Path under the CDN base, e.g. `/files/monkey/3f2a…/image-0.png`. */
  readonly path: string
  readonly contentType: string
  readonly content: Uint8Array
  /** `input`: uploaded (by {@link Service.uploadFile}); `output`: written by a request. */
  readonly kind: "input" | "output"
  readonly requestId: string | undefined
  readonly createdAt: number
  /** `undefined`: never expires. */
  readonly expiresAt: number | undefined
}

/**
 * One webhook POST attempt.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookDelivery {
  readonly requestId: string
  readonly url: string
  readonly body: unknown
  /** The signed `X-Fal-Webhook-*` headers of this try (each try is signed afresh). */
  readonly headers: WebhookSigner.SignedHeaders
  readonly attempt: number
  readonly at: number
  /** The receiver's status, `"error"` on a transport failure, `"recorded"` without a client. */
  readonly outcome: number | "error" | "recorded"
}

/**
 * A temporary token issued by `POST {rest}/tokens/` (SPEC section 12).
 *
 * @since 0.2.0
 * @category models
 */
export interface IssuedToken {
  /** The token (JWT-shaped; its third part is random, not a signature: tokens are checked by lookup). */
  readonly token: string
  /** The `allowed_apps` it was issued for: `owner/app` ids, or bare app names (any owner). */
  readonly apps: ReadonlyArray<string>
  /** `Clock` time in milliseconds. */
  readonly issuedAt: number
  /** `Clock` time in milliseconds; the token is refused from this instant on. */
  readonly expiresAt: number
}

/**
 * A token checked for an app: `valid`, `expired` (on the platform's Clock), `wrong_app` (issued
 * for other apps), or `unknown` (never issued by this platform).
 *
 * @since 0.2.0
 * @category models
 */
export type TokenCheck = "valid" | "expired" | "wrong_app" | "unknown"

/**
 * One call to a streaming endpoint (`POST {run}/{id}/stream`) and how it ended: `completed`,
 * `failed` (an error answer, or an `event: error` mid-stream), `cut` (the connection was cut), or
 * `cancelled` (the caller closed the connection, interrupting the model's stream).
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamRecord {
  /** The request id answered in `x-fal-request-id`. */
  readonly requestId: string
  readonly modelId: string
  readonly contentType: string
  /** How the call authenticated: an API key, or a temporary token. */
  readonly auth: "key" | "token"
  /** Partial outputs (SSE) or byte chunks (binary) sent, once ended. */
  readonly chunks: number
  readonly outcome: "streaming" | "completed" | "failed" | "cut" | "cancelled"
  /** `Clock` time in milliseconds. */
  readonly startedAt: number
  readonly endedAt: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The configured keys. */
  readonly keys: ReadonlyArray<ApiKey>
  /** Registers (or replaces) a model. */
  readonly register: (model: Model.Model) => Effect.Effect<void>
  /** The registered model ids. */
  readonly models: Effect.Effect<ReadonlyArray<string>>
  /** The HTTP request log: every HTTP request received so far, oldest first. */
  readonly httpLog: Effect.Effect<ReadonlyArray<HttpLogEntry>>
  /** Every realtime WebSocket event so far (connections, frames received, closes), in order. */
  readonly realtimeLog: Effect.Effect<ReadonlyArray<RealtimeEvent>>
  /** Waits until the realtime log holds an event matching `predicate`. */
  readonly awaitRealtimeLog: (predicate: (event: RealtimeEvent) => boolean) => Effect.Effect<RealtimeEvent>
  /** Forgets the HTTP request log. */
  readonly clearHttpLog: Effect.Effect<void>
  /** Waits until the HTTP request log holds an entry matching `predicate` (any status). */
  readonly awaitHttpLog: (predicate: (entry: HttpLogEntry) => boolean) => Effect.Effect<HttpLogEntry>
  /** Makes the next `times` (default 1) matching requests fail. */
  readonly injectFault: (injection: Fault.Injection) => Effect.Effect<void>
  /** Removes every pending fault. */
  readonly clearFaults: Effect.Effect<void>
  /** A job (queued or sync request) by its request id. */
  readonly job: (requestId: string) => Effect.Effect<Option.Option<JobRecord>>
  /** Waits until the job reaches `status` (default `COMPLETED`). */
  readonly awaitStatus: (
    requestId: string,
    status?: JobRecord["status"]
  ) => Effect.Effect<JobRecord>
  /** The payloads currently stored (expired ones are gone). */
  readonly payloads: Effect.Effect<ReadonlyArray<StoredPayload>>
  /** The CDN files currently served (expired and deleted ones are gone). */
  readonly files: Effect.Effect<ReadonlyArray<CdnFile>>
  /** A CDN file by URL or path, if still served. */
  readonly file: (urlOrPath: string) => Effect.Effect<Option.Option<CdnFile>>
  /**
   * A test shortcut: puts an input file on the CDN directly, as if a user had uploaded it, and
   * returns its URL on the given CDN base (default `https://v3.fal.media`). Real uploads go
   * through the `storage` and `upload` bases (`Storage.upload` in `@effect-fal/api`, or
   * `fal.storage.upload`).
   */
  readonly uploadFile: (
    file: Model.FileInput,
    options?: { readonly lifecycle?: Duration.DurationInput | "never"; readonly cdnBase?: string }
  ) => Effect.Effect<string>
  /** Every webhook POST attempt. */
  readonly webhooks: Effect.Effect<ReadonlyArray<WebhookDelivery>>
  /**
   * Signs the webhook deliveries; its JWKS is served at `{rest}/.well-known/jwks.json`. Rotate
   * the key in tests with `rotate()` (the new key signs, the old one stays listed) and
   * `retire()` (the old one leaves the JWKS).
   */
  readonly webhookSigner: WebhookSigner.Service
  /** The temporary tokens issued so far (expired ones included). */
  readonly tokens: Effect.Effect<ReadonlyArray<IssuedToken>>
  /**
   * Issues a token as `POST {rest}/tokens/` does (a test shortcut): for `apps` (`owner/app` ids or
   * bare app names), living `expirationSeconds` (default 120) on the platform's Clock.
   */
  readonly issueToken: (
    apps: ReadonlyArray<string>,
    options?: { readonly expirationSeconds?: number | undefined }
  ) => Effect.Effect<IssuedToken>
  /**
   * Checks a token for the app of a model id (`owner/app[/path]`; the sub-path is ignored), on the
   * platform's Clock. The streaming route uses it for `fal_jwt_token`.
   */
  readonly validateToken: (token: string, modelId: string) => Effect.Effect<TokenCheck>
  /** The calls to streaming endpoints so far, oldest first. */
  readonly streams: Effect.Effect<ReadonlyArray<StreamRecord>>
  /** Waits until the streaming call with this request id has ended, and answers how. */
  readonly awaitStreamEnd: (requestId: string) => Effect.Effect<StreamRecord>
  /**
   * The gateway bound to this platform: every base under its path prefix (`/run`, `/queue`,
   * `/api/v1`, `/rest`, `/cdn`, `/storage`). Both transports serve it; mount it in your own
   * `HttpServer` or router (see `Gateway`). A reset fault fails it with `Fault.ConnectionReset`.
   */
  readonly httpApp: HttpApp.Default<Fault.ConnectionReset>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class FalPlatform extends Context.Tag("@effect-fal/testing/FalPlatform")<FalPlatform, Service>() {}

/**
 * Builds a platform in the current scope (its runner fibers live there).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (config?: Config) => Effect.Effect<Service, never, Scope.Scope> = internal.make

/**
 * The platform as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config?: Config): Layer.Layer<FalPlatform> => Layer.scoped(FalPlatform, make(config))

/**
 * Only the transport: an `HttpClient` answering requests to fal's default hosts from the platform
 * in context (its {@link Service.httpApp}, run in the caller's fiber, so a `TestClock` drives it),
 * without sockets. Any other host fails with a transport `RequestError`; so does a connection
 * reset fault. {@link layerClient} is this plus a fresh platform.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient, never, FalPlatform> = Layer.effect(
  HttpClient.HttpClient,
  Effect.map(FalPlatform, (platform) => Memory.make(platform.httpApp))
)

/**
 * A fresh platform and an `HttpClient` served by it: what a test of fal-calling code provides.
 *
 * @example
 * ```ts
 * import { FalPlatform } from "@effect-fal/testing"
 * import { HttpBody, HttpClient } from "@effect/platform"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   const response = yield* client.post("https://fal.run/fal-ai/echo", {
 *     headers: { authorization: `Key ${FalPlatform.defaultKeys.user}` },
 *     body: HttpBody.unsafeJson({ hello: "world" })
 *   })
 *   return yield* response.json // { hello: "world" }
 * }).pipe(Effect.scoped, Effect.provide(FalPlatform.layerClient()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (config?: Config): Layer.Layer<HttpClient.HttpClient | FalPlatform> =>
  Layer.provideMerge(layerHttpClient, layer(config))
