/**
 * Deleting a request's stored payloads: its JSON input and output, and the CDN files of its
 * output (the CDN files of its input are kept: other requests may use them). Needs a key with
 * ADMIN scope: the client's admin key when configured, else its key (fal answers `403`,
 * `Forbidden`, when that key lacks the scope).
 *
 * @example
 * ```ts
 * import { Payloads } from "@effect-fal/api"
 * import { Effect } from "effect"
 *
 * const program = Payloads.delete("a1b2c3d4-e5f6-7890-abcd-ef1234567890").pipe(
 *   Effect.tap((deletion) => Effect.log(`deleted ${Payloads.deleted(deletion).length} files`))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type * as FalClient from "./FalClient.js"
import type { FalError } from "./FalError.js"
import * as internal from "./internal/payloads.js"
import * as purgeInternal from "./internal/purge.js"
import type * as Purge from "./Purge.js"
import type * as Requests from "./Requests.js"
import type * as Retry from "./Retry.js"

/**
 * One CDN file of the request's output, and why it could not be deleted, if it could not.
 *
 * @since 0.1.0
 * @category models
 */
export interface LinkResult {
  readonly link: string
  readonly error: Option.Option<string>
}

/**
 * What a deletion did; the same for the v1 and the legacy endpoint.
 *
 * @since 0.1.0
 * @category models
 */
export interface PayloadDeletion {
  readonly requestId: string
  readonly links: ReadonlyArray<LinkResult>
  readonly meta: ResponseMeta.ResponseMeta
  /**
   * fal answered from its idempotency cache (`idempotent-replayed: true`): this answer is the one
   * an earlier call with the same `Idempotency-Key` got, and nothing was deleted now.
   */
  readonly replayed: boolean
}

/**
 * @since 0.1.0
 * @category options
 */
export interface DeleteOptions {
  /**
   * The `Idempotency-Key` (1..255 visible ASCII). Default: a fresh UUID per logical call. The
   * same key is sent on every retried attempt, so fal answers a retry from its cache.
   */
  readonly idempotencyKey?: string | undefined
  readonly retry?: Retry.Override | undefined
  /** Per-attempt limits for this call, over the client's. */
  readonly timeouts?: FalClient.Timeouts | undefined
  /** A bound on the whole call, retries included: past it, `DeadlineExceeded` with the request id. */
  readonly deadline?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category options
 */
export interface DeleteLegacyOptions {
  /**
   * Sent as `Idempotency-Key` on every attempt of this call (default: a fresh UUID). fal does
   * not document that the legacy endpoint honours it, so a failure that may have reached fal is
   * still not retried.
   */
  readonly idempotencyKey?: string | undefined
  readonly retry?: Retry.Override | undefined
  /** Per-attempt limits for this call, over the client's. */
  readonly timeouts?: FalClient.Timeouts | undefined
  /** A bound on the whole call, retries included: past it, `DeadlineExceeded` with the request id. */
  readonly deadline?: Duration.DurationInput | undefined
}

/**
 * Deletes the payloads: `DELETE {api}/models/requests/{requestId}/payloads`. The request id
 * must be a UUID (else `InvalidRequestId`, nothing sent).
 *
 * @since 0.1.0
 * @category deletion
 */
const delete_: (
  requestId: string,
  options?: DeleteOptions
) => Effect.Effect<PayloadDeletion, FalError, FalClient.FalClient> = internal.delete_

export {
  /**
   * Deletes the payloads: `DELETE {api}/models/requests/{requestId}/payloads`. The request id
   * must be a UUID (else `InvalidRequestId`, nothing sent).
   *
   * @since 0.1.0
   * @category deletion
   */
  delete_ as delete
}

/**
 * Deletes the payloads on the older endpoint: `PUT {rest}/requests/delete_io/{requestId}`.
 * Like {@link delete}, every attempt carries the call's one `Idempotency-Key`; since fal does
 * not document that this endpoint honours it, a failure that may have reached fal is not retried.
 *
 * @since 0.1.0
 * @category deletion
 */
export const deleteLegacy: (
  requestId: string,
  options?: DeleteLegacyOptions
) => Effect.Effect<PayloadDeletion, FalError, FalClient.FalClient> = internal.deleteLegacy

/**
 * The links that were deleted.
 *
 * @since 0.1.0
 * @category getters
 */
export const deleted = (self: PayloadDeletion): ReadonlyArray<string> =>
  self.links.filter((link) => link.error._tag === "None").map((link) => link.link)

/**
 * The links that could not be deleted, with the reason.
 *
 * @since 0.1.0
 * @category getters
 */
export const failed = (self: PayloadDeletion): ReadonlyArray<LinkResult> =>
  self.links.filter((link) => link.error._tag === "Some")

/**
 * Deletes the payloads of every request of the endpoints that ended before a cut-off (`before`,
 * or `olderThan` ago), listing the history page by page and deleting with bounded concurrency
 * (default 4). Each request's deletion carries a key derived from its id
 * ({@link Purge.idempotencyKey}), so a retried or resumed purge never deletes twice. `429`s are
 * waited out, not counted as failures. The stream yields one event per page listed and per
 * request (deleted with its CDN results, already gone, failed with its error, or, in a dry run,
 * would delete), then the summary. With a `checkpoint`, progress is recorded as it happens and
 * a later run resumes from it without listing from the start; interrupting the stream stops it
 * between records. Bad options fail before anything is sent.
 *
 * @example
 * ```ts
 * import { Payloads } from "@effect-fal/api"
 * import { Effect, Stream } from "effect"
 *
 * const program = Payloads.purge({ endpoints: ["fal-ai/flux/dev"], olderThan: "1 day" }).pipe(
 *   Stream.runForEach((event) => event._tag === "Summary" ? Effect.log(event.summary) : Effect.void)
 * )
 * ```
 *
 * @since 0.1.0
 * @category deletion
 */
export const purge = (
  options: Purge.PurgeOptions
): Stream.Stream<
  Purge.PurgeEvent,
  FalError | Requests.InvalidListOptions | Purge.InvalidPurgeOptions | Purge.CheckpointError,
  FalClient.FalClient
> => purgeInternal.purge(options)
