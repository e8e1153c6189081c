/**
 * Receiving fal's webhooks safely. {@link verify} checks a delivery exactly as SPEC section 9
 * says, over the raw body bytes and before any JSON parsing: the four `X-Fal-Webhook-*` headers,
 * the timestamp within 300 seconds of now (either way, on the Effect `Clock`), and the Ed25519
 * signature against every key of the JWKS ({@link WebhookKeys}); only then is the body decoded
 * into a typed {@link WebhookEvent}. {@link handler} turns that into an `HttpApp` answering 2xx,
 * 4xx for rejected deliveries and 5xx when the user's effect fails (so fal delivers again), with
 * a duplicate guard keyed by request id ({@link WebhookDeduplication}).
 *
 * @example
 * ```ts
 * import { Webhooks, WebhookKeys } from "@effect-fal/api"
 * import { HttpRouter } from "@effect/platform"
 * import { Effect, Schema } from "effect"
 *
 * const Output = Schema.Struct({ images: Schema.Array(Schema.Struct({ url: Schema.String })) })
 *
 * const router = HttpRouter.empty.pipe(
 *   HttpRouter.post(
 *     "/fal/webhook",
 *     Webhooks.handler((event) =>
 *       event._tag === "Ok" ? Effect.log(`${event.requestId}: ${event.payload.images.length} image(s)`) : Effect.void, {
 *       payload: Output
 *     })
 *   )
 * )
 * // provide WebhookKeys.layer() (and an HttpClient) where the server runs
 * ```
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Headers from "@effect/platform/Headers"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as internal from "./internal/webhooks.js"
import { WebhookKeys } from "./WebhookKeys.js"

/**
 * The four delivery headers (lower-cased, as `@effect/platform` `Headers` stores them).
 *
 * @since 0.1.0
 * @category constants
 */
export const headerNames = internal.headerNames

/**
 * How far, in seconds, a delivery's timestamp may be from now, either way: 300.
 *
 * @since 0.1.0
 * @category constants
 */
export const toleranceSeconds: number = internal.toleranceSeconds

/**
 * The largest delivery body read by default, in bytes: 64 MiB. fal documents no size limit for
 * its webhook deliveries. Their payload is the model's output, whose files are normally CDN URLs
 * (a few KB); the largest come from outputs inlined as data URIs (`sync_mode`), megabytes to tens
 * of megabytes for media. Change it with `maxBodySize` in {@link handler}'s and {@link verify}'s
 * options; a larger body is rejected with `BodyTooLarge` (413).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxBodySize: number = internal.defaultMaxBodySize

// --- errors ---------------------------------------------------------------------------------------

/**
 * Which check a delivery failed:
 * - `MissingHeader`: one of the four `X-Fal-Webhook-*` headers is absent;
 * - `InvalidTimestamp`: the timestamp is not Unix seconds;
 * - `StaleTimestamp` / `FutureTimestamp`: more than 300 s behind / ahead of now;
 * - `MalformedSignature`: the signature is not the hex of 64 bytes;
 * - `BodyTooLarge`: the body is larger than the limit (`maxBodySize`, by default
 *   {@link defaultMaxBodySize}), by its `content-length` or by the bytes read so far;
 * - `NoKeyVerifies`: no JWKS key verifies the signature (also after a refetch, when one was allowed);
 * - `KeysUnavailable`: no JWKS could be had and none is cached (fails closed);
 * - `UnreadableBody`: the request body could not be read;
 * - `InvalidBody`: the (authentic) body is not a fal delivery;
 * - `InvalidPayload`: the (authentic) payload does not match the Schema given for it.
 *
 * @since 0.1.0
 * @category errors
 */
export type RejectionReason = internal.Reason

/**
 * A delivery that is not accepted. `detail` says what was wrong, never a key, a signature or a
 * body value.
 *
 * @since 0.1.0
 * @category errors
 */
export class WebhookRejected extends Schema.TaggedError<WebhookRejected>("@effect-fal/api/WebhookRejected")(
  "WebhookRejected",
  { reason: Schema.Literal(...internal.reasons), detail: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `webhook rejected (${this.reason}): ${this.detail}`
  }
}

const reject = (reason: RejectionReason, detail: string) => new WebhookRejected({ reason, detail })

/**
 * The status {@link handler} answers a rejection with: 503 when the keys are unavailable (not
 * the delivery's fault: fal will deliver again), 401 when the signature or the timestamp does not
 * hold, 413 when the body is too large, 400 otherwise.
 *
 * @since 0.1.0
 * @category handler
 */
export const statusOf = (reason: RejectionReason): number => {
  switch (reason) {
    case "KeysUnavailable":
      return 503
    case "StaleTimestamp":
    case "FutureTimestamp":
    case "NoKeyVerifies":
      return 401
    case "BodyTooLarge":
      return 413
    default:
      return 400
  }
}

// --- events ---------------------------------------------------------------------------------------

/**
 * The request completed and its output, decoded when a Schema was given, is `payload`.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookOk<A = unknown> {
  readonly _tag: "Ok"
  readonly requestId: string
  readonly gatewayRequestId: string
  readonly payload: A
}

/**
 * The request failed: `error` is fal's text, `payload` the error detail (for instance the
 * model's validation errors), as sent.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookError {
  readonly _tag: "Error"
  readonly requestId: string
  readonly gatewayRequestId: string
  readonly error?: string
  readonly payload: unknown
  readonly payloadError?: string
}

/**
 * The request completed but its output was not JSON: fal sends `payload: null` and says why in
 * `payload_error`.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookPayloadError {
  readonly _tag: "PayloadError"
  readonly requestId: string
  readonly gatewayRequestId: string
  readonly payloadError: string
}

/**
 * @since 0.1.0
 * @category models
 */
export type WebhookEvent<A = unknown> = WebhookOk<A> | WebhookError | WebhookPayloadError

// --- verify ---------------------------------------------------------------------------------------

/**
 * A delivery given as its parts: the headers and the raw body bytes (a string is taken as its
 * UTF-8 bytes; pass the bytes when you have them).
 *
 * @since 0.1.0
 * @category models
 */
export interface Delivery {
  readonly headers: Headers.Input
  readonly body: Uint8Array | string
}

/**
 * How much of a request body is read.
 *
 * @since 0.1.0
 * @category options
 */
export interface BodyOptions {
  /**
   * The largest body accepted, in bytes (a number, or a `FileSystem.Size` such as
   * `FileSystem.MiB(16)`). Default {@link defaultMaxBodySize}. A larger body is rejected with
   * `BodyTooLarge` as soon as its `content-length`, or the bytes read so far, pass it; the rest
   * is not read.
   */
  readonly maxBodySize?: FileSystem.SizeInput | undefined
}

/**
 * @since 0.1.0
 * @category options
 */
export interface VerifyOptions<A, I, R> extends BodyOptions {
  /** Decodes the `payload` of `Ok` events. */
  readonly payload: Schema.Schema<A, I, R>
}

const verifySignature = (signed: internal.Signed) =>
  Effect.gen(function*() {
    const keys = yield* WebhookKeys
    const current = yield* Effect.mapError(keys.current, (error) => reject("KeysUnavailable", error.detail))
    if (internal.verifiesWithAny(signed, current)) return
    // No cached key verifies: fal may have rotated its key. One refetch, rate-limited by the service.
    const fresh = yield* Effect.either(keys.refresh)
    if (Either.isRight(fresh) && internal.verifiesWithAny(signed, fresh.right)) return
    return yield* reject("NoKeyVerifies", "no key of the JWKS verifies the signature")
  })

const decodeEvent = <A, I, R>(
  body: Uint8Array,
  payload: Schema.Schema<A, I, R>
): Effect.Effect<WebhookEvent<A>, WebhookRejected, R> =>
  Effect.gen(function*() {
    const text = yield* Effect.try({
      try: () => internal.utf8.decode(body),
      catch: () => reject("InvalidBody", "the body is not UTF-8")
    })
    const wire = internal.decodeWire(text)
    if (Either.isLeft(wire)) {
      return yield* reject("InvalidBody", `the body is not a fal delivery (${internal.issuePaths(wire.left)})`)
    }
    const { error, gateway_request_id, payload_error, request_id, status } = wire.right
    const raw = wire.right.payload ?? null
    const ids = { requestId: request_id, gatewayRequestId: gateway_request_id }
    if (status === "ERROR") {
      const event: WebhookError = {
        _tag: "Error",
        ...ids,
        payload: raw,
        ...(typeof error === "string" ? { error } : {}),
        ...(typeof payload_error === "string" ? { payloadError: payload_error } : {})
      }
      return event
    }
    if (typeof payload_error === "string" && raw === null) {
      const event: WebhookPayloadError = { _tag: "PayloadError", ...ids, payloadError: payload_error }
      return event
    }
    const decoded = yield* Effect.mapError(
      Schema.decodeUnknown(payload)(raw),
      (error) => reject("InvalidPayload", `the payload does not match its Schema (${internal.issuePaths(error)})`)
    )
    const event: WebhookOk<A> = { _tag: "Ok", ...ids, payload: decoded }
    return event
  })

const verifyWith = <A, I, R>(
  request: HttpServerRequest.HttpServerRequest | Delivery,
  payload: Schema.Schema<A, I, R>,
  maxBodySize: FileSystem.SizeInput | undefined
): Effect.Effect<WebhookEvent<A>, WebhookRejected, WebhookKeys | R> =>
  Effect.gen(function*() {
    // Everything that needs no body first: a delivery failing it is answered with its body unread.
    const checked = yield* internal.checkHeaders(internal.headersOf(request), reject)
    yield* Effect.annotateCurrentSpan("fal.request_id", checked.requestId)
    const body = yield* internal.readBody(request, internal.maxBodySizeOf(maxBodySize), reject)
    yield* verifySignature(internal.signedMessage(checked, body))
    return yield* decodeEvent(body, payload)
  }).pipe(Effect.withSpan("Webhooks.verify"))

/**
 * Verifies a delivery and only then decodes it. Takes an `HttpServerRequest` or
 * `{ headers, body }`. First what needs no body (the four headers, the timestamp window, the
 * signature's shape); then the body, at most `maxBodySize` bytes (default
 * {@link defaultMaxBodySize}); then the signature over the raw body bytes.
 *
 * @since 0.1.0
 * @category verification
 */
export function verify<A, I, R>(
  request: HttpServerRequest.HttpServerRequest | Delivery,
  options: VerifyOptions<A, I, R>
): Effect.Effect<WebhookEvent<A>, WebhookRejected, WebhookKeys | R>
export function verify(
  request: HttpServerRequest.HttpServerRequest | Delivery,
  options?: BodyOptions
): Effect.Effect<WebhookEvent, WebhookRejected, WebhookKeys>
export function verify<A, I, R>(
  request: HttpServerRequest.HttpServerRequest | Delivery,
  options?: BodyOptions & Partial<VerifyOptions<A, I, R>>
): Effect.Effect<WebhookEvent<A> | WebhookEvent, WebhookRejected, WebhookKeys | R> {
  const payload = options?.payload
  return payload === undefined
    ? verifyWith(request, Schema.Unknown, options?.maxBodySize)
    : verifyWith(request, payload, options?.maxBodySize)
}

// --- deduplication --------------------------------------------------------------------------------

/**
 * What a claim found: the id is new (and now claimed), being handled right now by another
 * delivery, or already handled.
 *
 * @since 0.1.0
 * @category deduplication
 */
export type Claim = "claimed" | "inProgress" | "done"

/**
 * Deliveries come at least once: the handler claims a request id before running the user's
 * effect, marks it done when the effect succeeds, and releases it when the effect fails (so the
 * redelivery runs it again).
 *
 * @since 0.1.0
 * @category deduplication
 */
export interface Deduplication {
  /** Claims the id when it is neither being handled nor handled yet. */
  readonly claim: (requestId: string) => Effect.Effect<Claim>
  /** The id was handled: later deliveries are duplicates. */
  readonly complete: (requestId: string) => Effect.Effect<void>
  /** Forgets a claim (the handling failed). */
  readonly release: (requestId: string) => Effect.Effect<void>
}

/**
 * The duplicate guard {@link handler} uses; without one in context, each handler keeps an
 * in-memory guard of its own (see {@link makeMemoryDeduplication}). Back it with a shared store
 * (a database, Redis) when several processes receive deliveries.
 *
 * @since 0.1.0
 * @category deduplication
 */
export class WebhookDeduplication
  extends Context.Tag("@effect-fal/api/WebhookDeduplication")<WebhookDeduplication, Deduplication>()
{}

/**
 * The default window of the in-memory guard: 3 hours, longer than fal's redelivery span (up to 10
 * tries over 2 hours).
 *
 * @since 0.1.0
 * @category deduplication
 */
export const defaultDeduplicationWindow: Duration.Duration = Duration.hours(3)

/**
 * An in-memory guard: a request id claimed or completed within `window` (on the Effect `Clock`)
 * is not claimed again. A claim whose handler never finished also expires after `window`.
 *
 * @since 0.1.0
 * @category deduplication
 */
export const unsafeMakeMemoryDeduplication = (
  window: Duration.DurationInput = defaultDeduplicationWindow
): Deduplication => {
  const windowMillis = Duration.toMillis(window)
  // Entries are (re)inserted with `now + window`, so insertion order is expiry order and pruning
  // stops at the first live entry.
  const entries = new Map<string, { readonly state: "inProgress" | "done"; readonly expiresAt: number }>()
  const set = (requestId: string, state: "inProgress" | "done", now: number) => {
    entries.delete(requestId)
    entries.set(requestId, { state, expiresAt: now + windowMillis })
  }
  return WebhookDeduplication.of({
    claim: (requestId) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync((): Claim => {
          for (const [id, { expiresAt }] of entries) {
            if (expiresAt > now) break
            entries.delete(id)
          }
          const entry = entries.get(requestId)
          if (entry !== undefined) return entry.state
          set(requestId, "inProgress", now)
          return "claimed"
        })),
    complete: (requestId) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => set(requestId, "done", now))),
    release: (requestId) => Effect.sync(() => void entries.delete(requestId))
  })
}

/**
 * @since 0.1.0
 * @category deduplication
 */
export const makeMemoryDeduplication = (window?: Duration.DurationInput): Effect.Effect<Deduplication> =>
  Effect.sync(() => unsafeMakeMemoryDeduplication(window))

/**
 * @since 0.1.0
 * @category deduplication
 */
export const layerMemoryDeduplication = (window?: Duration.DurationInput): Layer.Layer<WebhookDeduplication> =>
  Layer.effect(WebhookDeduplication, makeMemoryDeduplication(window))

// --- handler --------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category handler
 */
export interface HandlerOptions extends BodyOptions {
  /** The window of the handler's own in-memory guard (when no `WebhookDeduplication` is provided). */
  readonly deduplicationWindow?: Duration.DurationInput | undefined
}

const json = (status: number, body: Record<string, string | boolean>) => HttpServerResponse.unsafeJson(body, { status })

interface Settled<E> {
  readonly claim: Claim
  readonly exit: Exit.Exit<unknown, E>
}

const handle = <A, E, R, RP>(
  onEvent: (event: WebhookEvent<A>) => Effect.Effect<unknown, E, R>,
  verifyRequest: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<WebhookEvent<A>, WebhookRejected, RP>,
  options: HandlerOptions | undefined
): HttpApp.Default<never, R | RP> => {
  const ownGuard = unsafeMakeMemoryDeduplication(options?.deduplicationWindow)
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const verified = yield* Effect.either(verifyRequest(request))
    if (Either.isLeft(verified)) {
      const { detail, reason } = verified.left
      yield* Effect.logWarning(`webhook rejected (${reason}): ${detail}`)
      return json(statusOf(reason), { error: reason, detail })
    }
    const event = verified.right
    const guard = Option.getOrElse(yield* Effect.serviceOption(WebhookDeduplication), () => ownGuard)
    // Claim and settle without a gap an interruption (a client hanging up) could fall into: a claim
    // is always completed or released.
    const outcome = yield* Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(guard.claim(event.requestId), (claim): Effect.Effect<Settled<E>, never, R> =>
        claim === "claimed"
          ? restore(onEvent(event)).pipe(
            Effect.onExit((exit) =>
              Exit.isSuccess(exit) ? guard.complete(event.requestId) : guard.release(event.requestId)
            ),
            Effect.exit,
            Effect.map((exit) => ({ claim, exit }))
          )
          : Effect.succeed({ claim, exit: Exit.void }))
    )
    if (outcome.claim === "done") return json(200, { received: true, duplicate: true })
    // Another copy is being handled now: not 2xx, so that fal tries again should that one fail.
    if (outcome.claim === "inProgress") return json(409, { error: "InProgress" })
    if (Exit.isFailure(outcome.exit)) {
      yield* Effect.logError(`webhook ${event.requestId}: the receiver failed`, outcome.exit.cause)
      return json(500, { error: "ReceiverFailed" })
    }
    return json(200, { received: true, duplicate: false })
  })
}

/**
 * An `HttpApp` receiving fal's deliveries: verifies and decodes ({@link verify}), skips
 * duplicates (answering 2xx), runs `onEvent`, and answers 200; a rejected delivery gets
 * {@link statusOf} its reason, a failing `onEvent` gets 500 so fal delivers again, and a copy
 * arriving while another is being handled gets 409 (fal tries it again later). The
 * requirements of `onEvent` flow into the app's.
 *
 * @since 0.1.0
 * @category handler
 */
export function handler<E, R>(
  onEvent: (event: WebhookEvent) => Effect.Effect<unknown, E, R>,
  options?: HandlerOptions
): HttpApp.Default<never, R | WebhookKeys>
export function handler<A, I, RP, E, R>(
  onEvent: (event: WebhookEvent<A>) => Effect.Effect<unknown, E, R>,
  options: HandlerOptions & VerifyOptions<A, I, RP>
): HttpApp.Default<never, R | RP | WebhookKeys>
export function handler<A, I, RP, E, R>(
  onEvent: (event: WebhookEvent<A>) => Effect.Effect<unknown, E, R>,
  options?: HandlerOptions & Partial<VerifyOptions<A, I, RP>>
): HttpApp.Default<never, R | RP | WebhookKeys> {
  const payload = options?.payload
  return payload === undefined
    // The first signature: `A` is `unknown`, and `Schema.Unknown` decodes exactly that. TypeScript
    // cannot tie the absent Schema to `A` inside an overloaded implementation, hence this one cast.
    ? handle(
      onEvent,
      (request) => verifyWith(request, Schema.Unknown as Schema.Schema<A>, options?.maxBodySize),
      options
    )
    : handle(onEvent, (request) => verifyWith(request, payload, options?.maxBodySize), options)
}
