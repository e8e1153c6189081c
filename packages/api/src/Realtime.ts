/**
 * fal's realtime WebSocket (SPEC section 12): {@link connect} opens a connection to an app for the
 * life of a `Scope`; {@link RealtimeConnection.send} sends inputs (throttled, latest wins) and
 * {@link RealtimeConnection.results} streams the outputs.
 *
 * Requirements: a `FalClient` (its `run` base gives the WebSocket URL), a `TokenProvider` (the
 * temporary token in the URL; the key itself never goes on the socket), and `@effect/platform`'s
 * `Socket.WebSocketConstructor`: `NodeSocket.layerWebSocketConstructor` on Node (Node 20 has no
 * global `WebSocket`), `Socket.layerWebSocketConstructorGlobal` in browsers, Deno, Bun and Node 22.
 *
 * @example
 * ```ts
 * import { Realtime } from "@effect-fal/api"
 * import * as Effect from "effect/Effect"
 * import * as Stream from "effect/Stream"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const connection = yield* Realtime.connect("fal-ai/fast-lcm-diffusion")
 *     yield* connection.send({ prompt: "a cat" }, { requestId: "frame-1" })
 *     const first = yield* Stream.runHead(connection.results)
 *     return first
 *   })
 * )
 * ```
 *
 * @since 0.2.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as FalClient from "./FalClient.js"
import type * as FalError from "./FalError.js"
import * as internal from "./internal/realtime.js"
import type { TokenProvider } from "./TokenProvider.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Options<O, I, OE = unknown, IE = unknown> {
  /**
   * Encodes each input before it is sent (its encoded side goes on the wire). Without it an
   * input is sent as it is; it must be an object.
   */
  readonly input?: Schema.Schema<I, IE> | undefined
  /** Decodes each output; an output it rejects arrives as a `DecodeError` element. Default: `unknown`. */
  readonly output?: Schema.Schema<O, OE> | undefined
  /** `"msgpack"` (default: binary frames) or `"json"` (text frames, answered as text). */
  readonly encoding?: "msgpack" | "json" | undefined
  /**
   * At most one frame per interval; an input sent while one waits replaces it (latest wins).
   * Default 128 milliseconds, as fal's client; `0` sends every input.
   */
  readonly throttle?: Duration.DurationInput | undefined
  /** The server's `max_buffering` (1 to 60), checked before connecting. */
  readonly maxBuffering?: number | undefined
  /** The path after `owner/app`; default the app id's own sub-path, else `/realtime`. */
  readonly path?: string | undefined
  /**
   * How often, and how soon, a connection refused for its token is opened again with a fresh
   * token. Default: 3 more times, 250 ms apart doubling. A connection that has answered at least
   * once and is then refused (its token expired) reconnects at once, the count starting again.
   */
  readonly reconnect?: Schedule.Schedule<unknown, FalError.FalError> | undefined
  /** How long a WebSocket may take to open. Default 10 seconds. */
  readonly openTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.2.0
 * @category models
 */
export interface SendOptions {
  /** Sent as the input's `request_id`; the output that answers it carries it back. */
  readonly requestId?: string | undefined
}

/**
 * One answer of the server: the output, and the `request_id` it carries, if any.
 *
 * @since 0.2.0
 * @category models
 */
export interface Output<O> {
  readonly requestId: string | undefined
  readonly output: O
}

/**
 * An answer that is an error of one input, not of the connection: an `x-fal-error` frame (a
 * `RequestFailed` whose `errorType` is fal's `error` and `detail` its `reason`), or a frame that
 * could not be decoded (a `DecodeError`). The connection goes on.
 *
 * @since 0.2.0
 * @category models
 */
export type ErrorFrame = FalError.RequestFailed | FalError.DecodeError

/**
 * @since 0.2.0
 * @category models
 */
export interface RealtimeConnection<O, I> {
  /** `owner/app`. */
  readonly app: string
  /**
   * Queues an input and returns at once: it is sent when the throttle allows, unless a newer
   * input replaces it first. An input that cannot be encoded (the `input` Schema rejects it, not
   * an object, not representable as MessagePack or JSON) fails with a `ValidationError`; nothing
   * is sent.
   */
  readonly send: (input: I, options?: SendOptions) => Effect.Effect<void, FalError.ValidationError>
  /**
   * The answers, in order, each an `Either`: `Right` an output, `Left` an {@link ErrorFrame} (one
   * bad input does not end the stream). The stream fails with a `FalError` when the connection
   * does (a close other than a normal one, a token refused again and again, a failing token
   * provider) and ends when the server closes normally or the scope closes. Read it from one
   * fiber: each answer is delivered once.
   */
  readonly results: Stream.Stream<Either.Either<Output<O>, ErrorFrame>, FalError.FalError>
}

/**
 * Opens a realtime connection to an app (`owner/app`, or `owner/app/path` for another path) for
 * the life of the scope; closing the scope closes the socket. The first token is fetched before
 * it returns (a provider failure fails `connect`); the socket opens in the background and an
 * input sent meanwhile waits for it. Bad options (`maxBuffering` outside 1..60, a `throttle` or
 * `openTimeout` that is not a duration, a malformed app id or path) fail before anything is
 * fetched or opened.
 *
 * The token is refreshed at 90% of its lifetime (on the `Clock`) for the next connection. When
 * the server refuses the token (fal's unauthorized message, or a close with code 1008), the
 * connection is opened again with a fresh token and the input it left unanswered is sent again
 * (unless a newer one waits). The URL, which carries the token, is in no error, log or span.
 *
 * @since 0.2.0
 * @category constructors
 */
export const connect: <O = unknown, I = Readonly<Record<string, unknown>>, OE = unknown, IE = unknown>(
  app: string,
  options?: Options<O, I, OE, IE>
) => Effect.Effect<
  RealtimeConnection<O, I>,
  FalError.FalError | FalError.InvalidConfiguration,
  Scope.Scope | FalClient.FalClient | TokenProvider | Socket.WebSocketConstructor
> = internal.connect
