/**
 * Bulk payload deletion ({@link Payloads.purge}): its options, its per-request outcomes and
 * summary, and the checkpoint that makes it resumable. A checkpoint records, per endpoint, where
 * listing resumes (the cursor of the first page not fully done) and each request id done since,
 * plus the cut-off of the first run (so `olderThan` means the same instant on resume). The
 * default store is a JSON-lines file (one record per line, appended; a torn last line from a
 * crash is ignored); an in-memory one serves tests and single runs.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { FalError } from "./FalError.js"
import * as internal from "./internal/checkpoint.js"
import type * as Payloads from "./Payloads.js"
import type * as Requests from "./Requests.js"

/**
 * @since 0.1.0
 * @category options
 */
export interface PurgeOptions {
  /** The endpoints to purge, e.g. `["fal-ai/flux/dev"]`; at least one. */
  readonly endpoints: ReadonlyArray<string>
  /** Purge requests that ended before this instant. Exactly one of `before` and `olderThan`. */
  readonly before?: DateTime.DateTime.Input | undefined
  /** Purge requests that ended longer ago than this (non-negative: `0` purges everything ended so far). */
  readonly olderThan?: Duration.DurationInput | undefined
  /** Only requests that ended at or after this instant (default: the Unix epoch, i.e. all). */
  readonly after?: DateTime.DateTime.Input | undefined
  readonly status?: Requests.Status | undefined
  /** Deletions in flight at once, 1..64 (default 4). */
  readonly concurrency?: number | undefined
  /** List only: every request that would be deleted is reported, nothing is deleted or recorded. */
  readonly dryRun?: boolean | undefined
  /** Where progress is recorded and resumed from (default: none, every run starts afresh). */
  readonly checkpoint?: Checkpoint | undefined
}

/**
 * What the purge did with one request, or a page listed, or (last) the summary.
 *
 * @since 0.1.0
 * @category models
 */
export type PurgeEvent =
  | { readonly _tag: "Listed"; readonly endpointId: string; readonly count: number }
  | {
    readonly _tag: "Deleted"
    readonly endpointId: string
    readonly requestId: string
    readonly deletion: Payloads.PayloadDeletion
  }
  | { readonly _tag: "AlreadyGone"; readonly endpointId: string; readonly requestId: string }
  | { readonly _tag: "Failed"; readonly endpointId: string; readonly requestId: string; readonly error: FalError }
  | { readonly _tag: "WouldDelete"; readonly endpointId: string; readonly record: Requests.RequestRecord }
  | { readonly _tag: "Summary"; readonly summary: PurgeSummary }

/**
 * @since 0.1.0
 * @category models
 */
export interface PurgeSummary {
  /** Requests ended before this instant were purged. */
  readonly cutoff: DateTime.Utc
  /** Requests listed in this run. */
  readonly listed: number
  readonly deleted: number
  /** Answered `404`: nothing left to delete. */
  readonly alreadyGone: number
  /** Output CDN files deleted. */
  readonly filesRemoved: number
  /** Output CDN files the platform could not delete. */
  readonly filesFailed: number
  readonly failures: number
  /** Listed again but done in an earlier run (from the checkpoint). */
  readonly skipped: number
  /** Dry run only. */
  readonly wouldDelete: number
}

/**
 * Bad purge options, or a checkpoint written by a different purge. Nothing was sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPurgeOptions extends Schema.TaggedError<InvalidPurgeOptions>(
  "@effect-fal/api/InvalidPurgeOptions"
)("InvalidPurgeOptions", { option: Schema.String, reason: Schema.String }) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Invalid purge option ${this.option}: ${this.reason}`
  }
}

/**
 * The checkpoint could not be read or written.
 *
 * @since 0.1.0
 * @category errors
 */
export const CheckpointError: typeof internal.CheckpointError = internal.CheckpointError

/**
 * @since 0.1.0
 * @category errors
 */
export type CheckpointError = internal.CheckpointError

/**
 * Another purge holds the checkpoint: its lock file (`<checkpoint>.lock`) names a process alive
 * on this host (or on another host, which cannot be checked). Carries the checkpoint's path, the
 * lock file's and, when the lock file is readable, the owner's `pid` and `host`. Nothing was sent.
 *
 * @since 0.2.0
 * @category errors
 */
export const CheckpointLocked: typeof internal.CheckpointLocked = internal.CheckpointLocked

/**
 * @since 0.2.0
 * @category errors
 */
export type CheckpointLocked = internal.CheckpointLocked

/**
 * One record of a checkpoint: `Started` (the first run's cut-off and status filter), `Done` (a
 * request's payloads are gone), `Page` (listing resumes at this cursor), `Completed` (the
 * endpoint is fully purged).
 *
 * @since 0.1.0
 * @category models
 */
export const Entry: typeof internal.Entry = internal.Entry

/**
 * @since 0.1.0
 * @category models
 */
export type Entry = typeof Entry.Type

/**
 * What a checkpoint knows: the reduction of its entries. Per endpoint, only the ids done since
 * its last `Page` are kept, so the state stays as small as one page window.
 *
 * @since 0.1.0
 * @category models
 */
export interface State {
  readonly started: { readonly before: string; readonly status: string | undefined } | undefined
  readonly endpoints: ReadonlyMap<string, EndpointState>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface EndpointState {
  readonly cursor: string | null
  readonly completed: boolean
  readonly done: ReadonlySet<string>
}

/**
 * A checkpoint store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Checkpoint {
  readonly load: Effect.Effect<State, CheckpointError>
  /** Appends one entry; once it succeeded the entry survives a crash (file store). */
  readonly record: (entry: Entry) => Effect.Effect<void, CheckpointError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class PurgeCheckpoint extends Context.Tag("@effect-fal/api/PurgeCheckpoint")<PurgeCheckpoint, Checkpoint>() {}

/**
 * The state after one more entry.
 *
 * @since 0.1.0
 * @category utils
 */
export const reduce: (state: State, entry: Entry) => State = internal.reduce

/**
 * The state of no entries.
 *
 * @since 0.1.0
 * @category constants
 */
export const empty: State = internal.empty

/**
 * A checkpoint kept in memory (lost with the process).
 *
 * @since 0.1.0
 * @category constructors
 */
export const memory: Effect.Effect<Checkpoint> = internal.memory

/**
 * @since 0.2.0
 * @category options
 */
export interface FileOptions {
  /**
   * When another purge holds the checkpoint, try again (every 100 ms) for up to this long before
   * failing with {@link CheckpointLocked}. Default: fail at once.
   */
  readonly waitForLock?: Duration.DurationInput | undefined
}

/**
 * A checkpoint in a JSON-lines file, created if missing and appended to; held open for the scope.
 *
 * While open it holds a lock, `<path>.lock`, created exclusively with this process's pid and host
 * and removed when the scope closes (after success, failure or interruption). A second purge on
 * a locked checkpoint fails with {@link CheckpointLocked} (or waits, `waitForLock`); a lock left
 * by a process no longer alive on this host is taken over.
 *
 * @since 0.1.0
 * @category constructors
 */
export const file = (
  path: string,
  options?: FileOptions
): Effect.Effect<Checkpoint, CheckpointError | CheckpointLocked, FileSystem.FileSystem | Scope.Scope> =>
  internal.file(path, options)

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<PurgeCheckpoint> = Layer.effect(PurgeCheckpoint, memory)

/**
 * @since 0.1.0
 * @category layers
 */
export const layerFile = (
  path: string,
  options?: FileOptions
): Layer.Layer<PurgeCheckpoint, CheckpointError | CheckpointLocked, FileSystem.FileSystem> =>
  Layer.scoped(PurgeCheckpoint, file(path, options))

/**
 * The deterministic `Idempotency-Key` of a request's deletion: a retried or resumed purge sends
 * the same key, so fal answers from its cache rather than deleting twice.
 *
 * @since 0.1.0
 * @category utils
 */
export const idempotencyKey = (requestId: string): string => `effect-fal-purge-${requestId.toLowerCase()}`
