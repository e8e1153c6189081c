/**
 * Synchronous runs on `fal.run`: one HTTP call that blocks until the model answers; and streaming
 * runs ({@link stream}): the model's partial outputs as they come.
 *
 * @since 0.1.0
 */
import type * as RequestOptions from "@effect-fal/headers/RequestOptions"
import type * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as FalClient from "./FalClient.js"
import type { FalError } from "./FalError.js"
import type * as FalStream from "./FalStream.js"
import * as internal from "./internal/run.js"
import * as internalStream from "./internal/stream.js"
import type * as Retry from "./Retry.js"
import type * as TokenProvider from "./TokenProvider.js"

// -----------------------------------------------------------------------------
// typed endpoints
// -----------------------------------------------------------------------------

// eslint-disable-next-line @typescript-eslint/ban-ts-comment -- kept in the .d.ts; ts-expect-error would fail when installed
/** @ts-ignore `@fal-ai/client` is an optional peer dependency (types only): without it this is `any` */
type FalClientEndpoints = import("@fal-ai/client/endpoints").EndpointTypeMap // eslint-disable-line @typescript-eslint/consistent-type-imports

/**
 * fal's endpoint map when `@fal-ai/client` is installed, else no entry. The key filter keeps the
 * literal ids only: when the import is unresolved it is `any`, whose keys are all strings.
 */
type Detected = {
  readonly [Id in keyof FalClientEndpoints as Id extends string ? string extends Id ? never : Id : never]:
    FalClientEndpoints[Id]
}

/**
 * Endpoints of your own: augment this interface to type a model id that `@fal-ai/client` does not
 * know (or to type ids without installing it). An entry here wins over fal's.
 *
 * @example
 * ```ts
 * declare module "@effect-fal/api/Fal" {
 *   interface Endpoints {
 *     "my-org/captioner": { input: { image_url: string }; output: { caption: string } }
 *   }
 * }
 * ```
 *
 * @since 0.2.0
 * @category endpoints
 */

export interface Endpoints {}

/**
 * Every typed endpoint: {@link Endpoints}, then the `EndpointTypeMap` of `@fal-ai/client/endpoints`
 * when that package is installed (its types only; nothing of it is loaded at run time).
 *
 * @since 0.2.0
 * @category endpoints
 */
export type EndpointMap = Endpoints & Omit<Detected, keyof Endpoints>

/**
 * A typed model id (for autocompletion); any other string is accepted too, untyped.
 *
 * @since 0.2.0
 * @category endpoints
 */
export type EndpointId = keyof EndpointMap & string

/**
 * What {@link run}, `Queue.submit` and `Queue.subscribe` accept for a model id: a typed id
 * autocompletes, any other string is allowed.
 *
 * @since 0.2.0
 * @category endpoints
 */
export type ModelIdInput = EndpointId | (string & {})

/**
 * Accepts a `Uint8Array` too wherever fal's types accept a `Blob` (a file field that `autoUpload`
 * turns into a URL).
 */
type WithBytes<T> = Blob extends T ? T | Uint8Array
  : T extends ReadonlyArray<unknown> | Record<string, unknown> ? { [K in keyof T]: WithBytes<T[K]> }
  : T

/**
 * The input of a model: the endpoint's input type for a typed id (its file fields also accept a
 * `Blob`, `File` or `Uint8Array`), `unknown` for any other id.
 *
 * @since 0.2.0
 * @category endpoints
 */
export type Input<Id extends string> = Id extends EndpointId
  ? EndpointMap[Id] extends { readonly input: infer In } ? WithBytes<In> : unknown
  : unknown

/**
 * The output of a model: the endpoint's output type for a typed id, `unknown` for any other id.
 * An `output` schema given to the call wins.
 *
 * @since 0.2.0
 * @category endpoints
 */
export type Output<Id extends string> = Id extends EndpointId
  ? EndpointMap[Id] extends { readonly output: infer Out } ? Out : unknown
  : unknown

/**
 * Options of a call that sends input to a model.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOptions {
  /** Request controls: encoded with `@effect-fal/headers`, rejected before sending when invalid. */
  readonly options?: RequestOptions.RequestOptions | undefined
  /** Replaces the operation's default retry schedule; `false` for one attempt. */
  readonly retry?: Retry.Override | undefined
  /** Per-attempt limits for this call, over the client's (`FalClient.Options.timeouts`). */
  readonly timeouts?: FalClient.Timeouts | undefined
  /**
   * A bound on the whole call, retries and their delays included: past it the call fails with
   * `DeadlineExceeded` (carrying the request id when one is known).
   */
  readonly deadline?: Duration.DurationInput | undefined
  /**
   * Automatic upload (default `true`): every `Blob`, `File` and `Uint8Array` in the input
   * (arrays and plain objects, recursively) is uploaded to fal's CDN first (`Storage.uploadInput`)
   * and sent as its URL; an upload failure fails the call and nothing is sent. `false` sends the
   * input as it is.
   */
  readonly autoUpload?: boolean | undefined
}

/**
 * A call that decodes the model's JSON output with a `Schema`.
 *
 * @since 0.1.0
 * @category models
 */
export interface WithOutput<A, I> {
  /** Decodes the model's JSON output; without it the output is `unknown`. A mismatch is a `DecodeError`. */
  readonly output: Schema.Schema<A, I>
}

/**
 * A model's output with what fal said about the request.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result<A> {
  /** The request id (`x-fal-request-id`). */
  readonly requestId: string | undefined
  /** The decoded output. */
  readonly data: A
  /** The response headers: billable units, runner, hints, ... */
  readonly meta: ResponseMeta.ResponseMeta
}

/**
 * Runs a model synchronously: `POST {run}/{modelId}` with `input` as JSON.
 *
 * By default it is retried on rate limits, gateway errors and transient `error_type`s, but not
 * after a transport failure that may have reached fal (a second run is a second billed job).
 * The answer comes only when the model has finished, so the default limit for the headers is
 * 15 minutes (`FalClient.defaultTimeouts`); set `timeouts` or `deadline` for a shorter bound.
 * `webhookUrl` and `maxQueueLength` are queue parameters and fail with `InvalidRequestOptions`.
 *
 * @example
 * ```ts
 * import { Fal } from "@effect-fal/api"
 * import { RequestOptions } from "@effect-fal/headers"
 * import { Schema } from "effect"
 *
 * const Output = Schema.Struct({ images: Schema.Array(Schema.Struct({ url: Schema.String })) })
 *
 * const program = Fal.run("fal-ai/fast-sdxl", { prompt: "a lighthouse" }, {
 *   options: RequestOptions.make({ startTimeout: "30 seconds", storeIO: false }),
 *   output: Output
 * })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run: {
  <Id extends ModelIdInput, A, I>(
    modelId: Id,
    input: Input<Id>,
    options: CallOptions & WithOutput<A, I>
  ): Effect.Effect<Result<A>, FalError, FalClient.FalClient>
  <Id extends ModelIdInput>(
    modelId: Id,
    input: Input<Id>,
    options?: CallOptions
  ): Effect.Effect<Result<Output<Id>>, FalError, FalClient.FalClient>
} = internal.run

/**
 * Runs a model on its streaming endpoint, `POST {run}/{modelId}/stream`, and gives the open call
 * once the answer's headers are in: its request id and metadata at once, then its partial outputs
 * as a `Stream` (`events`; the last one is the final output), or the bytes of a binary answer
 * (`bytes`). Closing the scope aborts the request; so does interrupting the stream.
 *
 * Input, options, request controls and the automatic upload of files are those of {@link run}, and
 * are checked before anything is sent. The POST is sent again only when it cannot have been read
 * (a refused connection) or on a `429`; a stream that breaks fails (with the request id), and is
 * never sent again. `idleTimeout` (default 15 s) bounds the silence between chunks. With
 * `auth: "token"` the call carries a temporary token from the `TokenProvider` as
 * `fal_jwt_token` instead of the key.
 *
 * @example
 * ```ts
 * import { Fal } from "@effect-fal/api"
 * import { Console, Effect, Schema, Stream } from "effect"
 *
 * const Partial = Schema.Struct({ output: Schema.String })
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const call = yield* Fal.stream("fal-ai/any-llm", { prompt: "a haiku" }, { output: Partial })
 *     yield* Console.log(`request ${call.requestId}`)
 *     yield* Stream.runForEach(call.events, (partial) => Console.log(partial.output))
 *   })
 * )
 * ```
 *
 * @since 0.2.0
 * @category streaming
 */
export const stream: {
  <Id extends ModelIdInput, A, I>(
    modelId: Id,
    input: Input<Id>,
    options: FalStream.Options & WithOutput<A, I> & FalStream.WithToken
  ): Effect.Effect<FalStream.FalStream<A>, FalError, FalClient.FalClient | TokenProvider.TokenProvider | Scope.Scope>
  <Id extends ModelIdInput, A, I>(
    modelId: Id,
    input: Input<Id>,
    options: FalStream.Options & WithOutput<A, I> & { readonly auth?: "key" | undefined }
  ): Effect.Effect<FalStream.FalStream<A>, FalError, FalClient.FalClient | Scope.Scope>
  <Id extends ModelIdInput>(
    modelId: Id,
    input: Input<Id>,
    options: FalStream.Options & FalStream.WithToken
  ): Effect.Effect<
    FalStream.FalStream<Output<Id>>,
    FalError,
    FalClient.FalClient | TokenProvider.TokenProvider | Scope.Scope
  >
  <Id extends ModelIdInput>(
    modelId: Id,
    input: Input<Id>,
    options?: FalStream.Options & { readonly auth?: "key" | undefined }
  ): Effect.Effect<FalStream.FalStream<Output<Id>>, FalError, FalClient.FalClient | Scope.Scope>
} = internalStream.open

/**
 * The partial outputs of a streaming run as a bare `Stream` ({@link stream}'s `events`, the call
 * opened when the stream runs and closed when it ends). A binary answer fails with a `DecodeError`:
 * use {@link streamBytes}.
 *
 * @example
 * ```ts
 * import { Fal } from "@effect-fal/api"
 * import { Schema, Stream } from "effect"
 *
 * const Partial = Schema.Struct({ output: Schema.String })
 * const lastOutput = Fal.streamEvents("fal-ai/any-llm", { prompt: "a haiku" }, { output: Partial }).pipe(
 *   Stream.runLast
 * )
 * ```
 *
 * @since 0.2.0
 * @category streaming
 */
export const streamEvents: {
  <Id extends ModelIdInput, A, I>(
    modelId: Id,
    input: Input<Id>,
    options: FalStream.Options & WithOutput<A, I> & FalStream.WithToken
  ): Stream.Stream<A, FalError, FalClient.FalClient | TokenProvider.TokenProvider>
  <Id extends ModelIdInput, A, I>(
    modelId: Id,
    input: Input<Id>,
    options: FalStream.Options & WithOutput<A, I> & { readonly auth?: "key" | undefined }
  ): Stream.Stream<A, FalError, FalClient.FalClient>
  <Id extends ModelIdInput>(
    modelId: Id,
    input: Input<Id>,
    options: FalStream.Options & FalStream.WithToken
  ): Stream.Stream<Output<Id>, FalError, FalClient.FalClient | TokenProvider.TokenProvider>
  <Id extends ModelIdInput>(
    modelId: Id,
    input: Input<Id>,
    options?: FalStream.Options & { readonly auth?: "key" | undefined }
  ): Stream.Stream<Output<Id>, FalError, FalClient.FalClient>
} = (modelId: string, input: unknown, options?: FalStream.Options & { readonly auth?: "key" | "token" | undefined }) =>
  Stream.unwrapScoped(Effect.map(internalStream.open(modelId, input, options), (call) => call.events))

/**
 * The bytes of a streaming run's answer as a bare `Stream` (a binary answer, such as audio; an
 * event stream's raw text too), the call opened when the stream runs and closed when it ends.
 *
 * @since 0.2.0
 * @category streaming
 */
export const streamBytes: {
  <Id extends ModelIdInput>(
    modelId: Id,
    input: Input<Id>,
    options: FalStream.Options & FalStream.WithToken
  ): Stream.Stream<Uint8Array, FalError, FalClient.FalClient | TokenProvider.TokenProvider>
  <Id extends ModelIdInput>(
    modelId: Id,
    input: Input<Id>,
    options?: FalStream.Options & { readonly auth?: "key" | undefined }
  ): Stream.Stream<Uint8Array, FalError, FalClient.FalClient>
} = (modelId: string, input: unknown, options?: FalStream.Options & { readonly auth?: "key" | "token" | undefined }) =>
  Stream.unwrapScoped(Effect.map(internalStream.open(modelId, input, options), (call) => call.bytes))
