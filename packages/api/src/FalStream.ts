/**
 * Streaming endpoints (SPEC section 11): `POST {run}/{model id}/stream` answers a model's partial
 * outputs as they are produced. {@link FalStream} is the handle `Fal.stream` gives once the answer's
 * headers are in: the request id and the response metadata at once, then the partial outputs
 * (`events`) or, for a binary answer, its bytes (`bytes`).
 *
 * Why a scoped handle rather than a bare `Stream`: the request id and `ResponseMeta` are known
 * before the first partial output (to log, to store, to cancel by), a binary answer is a
 * different type of stream than an event stream, and the scope says how long the connection may
 * live: closing it aborts the request. `Fal.streamEvents` and `Fal.streamBytes` give the bare
 * `Stream` when the handle is not needed.
 *
 * Rules (see `docs/streaming.md`):
 * - The POST is sent again only when it cannot have been read (a refused connection) or on a `429`
 *   (`Retry.isStreamRetryable`). A stream that breaks is an error carrying the request id, never
 *   a new POST: there is no resume, and a second POST would run (and bill) the model again.
 * - The silence between two chunks is bounded by `idleTimeout` (default 15 s, as fal's client);
 *   past it the stream fails with a `TransportError` whose `timeout` is `"body"`.
 * - A line that is not JSON is a `DecodeError`; an `event: error` is a `RequestFailed` with fal's
 *   `detail` and `error_type`; a cut connection is a `TransportError`.
 *
 * @since 0.2.0
 */
import type * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import type * as Duration from "effect/Duration"
import type * as Stream from "effect/Stream"
import type * as Fal from "./Fal.js"
import type { FalError } from "./FalError.js"
import * as internal from "./internal/stream.js"

/**
 * An open streaming call.
 *
 * @since 0.2.0
 * @category models
 */
export interface FalStream<A> {
  /** The request id (`x-fal-request-id`), known from the answer's headers. */
  readonly requestId: string | undefined
  /** The answer's headers, decoded. */
  readonly meta: ResponseMeta.ResponseMeta
  /** The answer's content type: `text/event-stream`, or a binary type such as `audio/mpeg`. */
  readonly contentType: string
  /** Whether the answer is an event stream (read `events`) rather than a binary one (read `bytes`). */
  readonly isEventStream: boolean
  /**
   * The partial outputs, one per event, decoded as the call asked (the endpoint's output type, or
   * its `output` schema); the last one is the final output. Fails with a `DecodeError` on a binary
   * answer. Read it within the handle's scope, once.
   */
  readonly events: Stream.Stream<A, FalError>
  /** The answer's bytes as they arrive (an event stream's raw text too). Read it within the scope, once. */
  readonly bytes: Stream.Stream<Uint8Array, FalError>
}

/**
 * Options of a streaming call: those of `Fal.run` (request options, retry, per-attempt limits,
 * automatic upload) but `deadline`, plus the idle limit and how to authenticate.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options extends Omit<Fal.CallOptions, "deadline"> {
  /**
   * The longest silence between two chunks of the answer (a keep-alive comment counts); default
   * {@link defaultIdleTimeout}. `Duration.infinity` for none.
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
}

/**
 * How a streaming call authenticates: `"key"` (the default) sends the `FalClient`'s key;
 * `"token"` asks the `TokenProvider` for a temporary token for the model's app and sends it as the
 * query parameter `fal_jwt_token`, with no `Authorization` header (fal's client mode).
 *
 * @since 0.2.0
 * @category models
 */
export interface WithToken {
  readonly auth: "token"
}

/**
 * The default idle limit between two chunks: 15 seconds, as fal's client.
 *
 * @since 0.2.0
 * @category defaults
 */
export const defaultIdleTimeout: Duration.Duration = internal.defaultIdleTimeout
