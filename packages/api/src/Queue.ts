/**
 * fal's queue: submit a request, follow its status (polling or Server-Sent Events), fetch its
 * result, cancel it; `subscribe` does it all and cancels the request upstream when the fiber is
 * interrupted. Status, result and cancel address a request by {@link RequestRef}: what `submit`
 * returned, or a model id and a saved request id (to resume later).
 *
 * @since 0.1.0
 */
import type * as RequestOptions from "@effect-fal/headers/RequestOptions"
import type * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type * as Fal from "./Fal.js"
import type * as FalClientModule from "./FalClient.js"
import type { FalClient } from "./FalClient.js"
import type { FalError } from "./FalError.js"
import * as internal from "./internal/queue.js"
import type * as Retry from "./Retry.js"

/**
 * A queued request. `submit` fills the URLs; for a saved id, `{ modelId, requestId }` is enough
 * (status, result and cancel use only the `owner/app` part of the model id). A URL is used only
 * when it points at the configured queue base; otherwise it is rebuilt from the model id.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestRef<Id extends string = string> {
  readonly modelId: Id
  readonly requestId: string
  readonly statusUrl?: string | undefined
  readonly responseUrl?: string | undefined
  readonly cancelUrl?: string | undefined
}

/**
 * What `submit` returned.
 *
 * @since 0.1.0
 * @category models
 */
export interface Submitted<Id extends string = string> extends RequestRef<Id> {
  readonly statusUrl: string
  readonly responseUrl: string
  readonly cancelUrl: string
  readonly queuePosition: number | undefined
  readonly meta: ResponseMeta.ResponseMeta
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LogEntry {
  readonly message: string
  readonly timestamp?: string
  readonly level?: string
  readonly source?: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface InQueue {
  readonly status: "IN_QUEUE"
  readonly requestId: string
  readonly queuePosition: number | undefined
  readonly logs: ReadonlyArray<LogEntry>
  readonly meta: ResponseMeta.ResponseMeta
}

/**
 * @since 0.1.0
 * @category models
 */
export interface InProgress {
  readonly status: "IN_PROGRESS"
  readonly requestId: string
  readonly logs: ReadonlyArray<LogEntry>
  readonly meta: ResponseMeta.ResponseMeta
}

/**
 * The request finished; `error` and `errorType` are set when it failed (the result then fails
 * with the matching `FalError`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Completed {
  readonly status: "COMPLETED"
  readonly requestId: string
  readonly logs: ReadonlyArray<LogEntry>
  readonly inferenceTime: Option.Option<Duration.Duration>
  readonly error?: string
  readonly errorType?: string
  readonly meta: ResponseMeta.ResponseMeta
}

/**
 * @since 0.1.0
 * @category models
 */
export type Status = InQueue | InProgress | Completed

/**
 * A queued request's output.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result<A> {
  readonly requestId: string
  readonly data: A
  readonly meta: ResponseMeta.ResponseMeta
}

/**
 * The outcome of a cancellation: requested (a running request may still finish) or too late.
 * An unknown request fails with `NotFound`.
 *
 * @since 0.1.0
 * @category models
 */
export type CancelOutcome =
  | { readonly _tag: "CancellationRequested"; readonly requestId: string; readonly meta: ResponseMeta.ResponseMeta }
  | { readonly _tag: "AlreadyCompleted"; readonly requestId: string; readonly meta: ResponseMeta.ResponseMeta }

/**
 * @since 0.1.0
 * @category options
 */
export interface SubmitOptions extends Limits {
  /** Request controls (start timeout, priority, webhook, max queue length, ...). */
  readonly options?: RequestOptions.RequestOptions | undefined
  readonly retry?: Retry.Override | undefined
  /**
   * Automatic upload (default `true`): every `Blob`, `File` and `Uint8Array` in the input is
   * uploaded to fal's CDN first and sent as its URL (see `Fal.CallOptions.autoUpload`); an upload
   * failure fails the call and nothing is submitted. `false` sends the input as it is.
   */
  readonly autoUpload?: boolean | undefined
}

/**
 * The two time bounds every queue operation takes, as `Fal.run` does.
 *
 * @since 0.1.0
 * @category options
 */
export interface Limits {
  /** Per-attempt limits for this call, over the client's (`FalClient.Options.timeouts`). */
  readonly timeouts?: FalClientModule.Timeouts | undefined
  /**
   * A bound on the whole operation, retries, reconnects and waits included: past it the call
   * fails with `DeadlineExceeded`, carrying the request id when one is known. For `subscribe` and
   * `resume`, the request is then cancelled upstream (unless `cancelOnInterrupt` is `false`).
   */
  readonly deadline?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category options
 */
export interface StatusOptions extends Limits {
  /** Ask for the request's logs (`?logs=1`). Default `true`. */
  readonly logs?: boolean | undefined
  readonly retry?: Retry.Override | undefined
}

/**
 * @since 0.1.0
 * @category options
 */
export interface StreamOptions extends StatusOptions {
  /**
   * The keep-alive watchdog: when nothing arrives, not even a keep-alive comment, for this long,
   * the connection is dropped and reopened (under the retry policy). Default 45 seconds (fal
   * sends a comment every 15 s).
   */
  readonly keepAlive?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category options
 */
export interface ResultOptions extends Limits {
  readonly retry?: Retry.Override | undefined
}

/**
 * @since 0.1.0
 * @category options
 */
export interface CancelOptions extends Limits {
  readonly retry?: Retry.Override | undefined
}

/**
 * How `subscribe` and `resume` follow a request until it completes.
 *
 * @since 0.1.0
 * @category options
 */
export interface FollowOptions<R = never> extends StreamOptions {
  /** `"stream"` (default): the SSE status stream; `"poll"`: `status` every `pollInterval`. */
  readonly mode?: "stream" | "poll" | undefined
  /** Default 500 ms. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Called with every status received; the services it needs are required by the call. */
  readonly onStatus?: ((status: Status) => Effect.Effect<void, never, R>) | undefined
  /** Cancel the request upstream when the fiber is interrupted. Default `true`. */
  readonly cancelOnInterrupt?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category options
 */
export interface SubscribeOptions<R = never, REnqueue = never> extends FollowOptions<R> {
  readonly options?: RequestOptions.RequestOptions | undefined
  /**
   * Called once the request is queued, e.g. to save its id for {@link resume}; the services it
   * needs are required by the call.
   */
  readonly onEnqueue?: ((submitted: Submitted) => Effect.Effect<void, never, REnqueue>) | undefined
  /**
   * Automatic upload (default `true`): every `Blob`, `File` and `Uint8Array` in the input is
   * uploaded to fal's CDN first and sent as its URL (see `Fal.CallOptions.autoUpload`); an upload
   * failure fails the call and nothing is submitted. `false` sends the input as it is.
   */
  readonly autoUpload?: boolean | undefined
}

/**
 * Queues a request: `POST {queue}/{modelId}`. By default it is not retried after a transport
 * failure that may have reached fal (that could create and bill a second job): such a failure
 * is a `TransportError` with `mayHaveReached: true`.
 *
 * @since 0.1.0
 * @category queue
 */
export const submit: <Id extends Fal.ModelIdInput>(
  modelId: Id,
  input: Fal.Input<Id>,
  options?: SubmitOptions
) => Effect.Effect<Submitted<Id>, FalError, FalClient> = internal.submit

/**
 * The request's status once: `GET .../requests/{id}/status`.
 *
 * @since 0.1.0
 * @category queue
 */
export const status: (ref: RequestRef, options?: StatusOptions) => Effect.Effect<Status, FalError, FalClient> =
  internal.status

/**
 * The request's statuses as they change, from the SSE endpoint; ends after `COMPLETED`. A
 * connection that goes silent for `keepAlive` or closes early is reopened under the retry
 * policy.
 *
 * @since 0.1.0
 * @category queue
 */
export const statusStream: (
  ref: RequestRef,
  options?: StreamOptions
) => Stream.Stream<Status, FalError, FalClient> = internal.statusStream

/**
 * The request's output: `GET .../requests/{id}`. A failed request fails with the `FalError` of
 * its status and `error_type`.
 *
 * @since 0.1.0
 * @category queue
 */
export const result: {
  <A, I>(ref: RequestRef, options: ResultOptions & Fal.WithOutput<A, I>): Effect.Effect<Result<A>, FalError, FalClient>
  <Id extends string>(
    ref: RequestRef<Id>,
    options?: ResultOptions
  ): Effect.Effect<Result<Fal.Output<Id>>, FalError, FalClient>
} = internal.result

/**
 * Asks fal to cancel the request: `PUT .../requests/{id}/cancel`.
 *
 * @since 0.1.0
 * @category queue
 */
export const cancel: (ref: RequestRef, options?: CancelOptions) => Effect.Effect<CancelOutcome, FalError, FalClient> =
  internal.cancel

/**
 * Submits, follows the status until it completes, and fetches the result. Interrupting the
 * fiber aborts the HTTP call in flight and cancels the queued request upstream.
 *
 * @example
 * ```ts
 * import { Queue } from "@effect-fal/api"
 * import { Effect } from "effect"
 *
 * const program = Queue.subscribe("fal-ai/flux/dev", { prompt: "a fox" }, {
 *   onStatus: (status) => Effect.log(status.status)
 * }).pipe(Effect.timeout("2 minutes")) // on timeout, the request is cancelled upstream
 * ```
 *
 * @since 0.1.0
 * @category queue
 */
export const subscribe: {
  <Id extends Fal.ModelIdInput, A, I, R = never, REnqueue = never>(
    modelId: Id,
    input: Fal.Input<Id>,
    options: SubscribeOptions<R, REnqueue> & Fal.WithOutput<A, I>
  ): Effect.Effect<Result<A>, FalError, FalClient | R | REnqueue>
  <Id extends Fal.ModelIdInput, R = never, REnqueue = never>(
    modelId: Id,
    input: Fal.Input<Id>,
    options?: SubscribeOptions<R, REnqueue>
  ): Effect.Effect<Result<Fal.Output<Id>>, FalError, FalClient | R | REnqueue>
} = internal.subscribe

/**
 * Follows a request submitted earlier (e.g. by another process, from a saved id) and fetches
 * its result, like the second half of {@link subscribe}.
 *
 * @since 0.1.0
 * @category queue
 */
export const resume: {
  <A, I, R = never>(
    ref: RequestRef,
    options: FollowOptions<R> & ResultOptions & Fal.WithOutput<A, I>
  ): Effect.Effect<Result<A>, FalError, FalClient | R>
  <Id extends string, R = never>(
    ref: RequestRef<Id>,
    options?: FollowOptions<R> & ResultOptions
  ): Effect.Effect<Result<Fal.Output<Id>>, FalError, FalClient | R>
} = internal.resume
