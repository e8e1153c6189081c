import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { FalClient } from "../FalClient.js"
import type * as FalError from "../FalError.js"
import type * as Payloads from "../Payloads.js"
import * as Purge from "../Purge.js"
import type * as Requests from "../Requests.js"
import * as PayloadsInternal from "./payloads.js"
import * as Request from "./request.js"
import * as RequestsInternal from "./requests.js"

type PurgeError = FalError.FalError | Requests.InvalidListOptions | Purge.InvalidPurgeOptions | Purge.CheckpointError

interface Plan {
  readonly endpoints: ReadonlyArray<string>
  readonly cutoff: DateTime.Utc
  readonly after: DateTime.Utc
  readonly status: Requests.Status | undefined
  readonly concurrency: number
  readonly dryRun: boolean
  readonly checkpoint: Purge.Checkpoint | undefined
}

const invalid = (option: string, reason: string) => Effect.fail(new Purge.InvalidPurgeOptions({ option, reason }))

const instant = (option: string, input: DateTime.DateTime.Input) =>
  Option.match(DateTime.make(input), {
    onNone: () => invalid(option, "not a valid date-time"),
    onSome: (date) => Effect.succeed(DateTime.toUtc(date))
  })

const negative = (input: Duration.DurationInput): boolean =>
  typeof input === "number" || typeof input === "bigint"
    ? input < 0
    : typeof input === "string"
    ? /^\s*-/.test(input)
    : Array.isArray(input) && input.some((part) => part < 0)

/** Checks every option before anything is sent; the cut-off of `olderThan` is taken on the Effect clock. */
const plan = (options: Purge.PurgeOptions): Effect.Effect<Plan, PurgeError> =>
  Effect.gen(function*() {
    if (options.endpoints.length === 0) return yield* invalid("endpoints", "at least one endpoint is required")
    for (const endpoint of options.endpoints) yield* Request.modelId(endpoint)
    if ((options.before === undefined) === (options.olderThan === undefined)) {
      return yield* invalid("before", "give exactly one of before and olderThan")
    }
    let cutoff: DateTime.Utc
    if (options.olderThan !== undefined) {
      const age = Duration.decodeUnknown(options.olderThan)
      // `Duration` clamps a negative input to zero: the sign is checked on the input itself
      if (Option.isNone(age) || !Duration.isFinite(age.value) || negative(options.olderThan)) {
        return yield* invalid("olderThan", "must be a non-negative, finite duration (0 means everything ended so far)")
      }
      const now = yield* Clock.currentTimeMillis
      cutoff = DateTime.unsafeMake(now - Duration.toMillis(age.value))
    } else {
      cutoff = yield* instant("before", options.before ?? 0)
    }
    const after = yield* instant("after", options.after ?? 0)
    if (DateTime.lessThan(cutoff, after)) return yield* invalid("before", "is before after")
    const status = options.status
    if (status !== undefined && status !== "success" && status !== "error" && status !== "user_error") {
      return yield* invalid("status", `${JSON.stringify(status)} is not one of success, error, user_error`)
    }
    const concurrency = options.concurrency ?? 4
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      return yield* invalid("concurrency", "must be an integer in 1..64")
    }
    return {
      endpoints: options.endpoints,
      cutoff,
      after,
      status,
      concurrency,
      dryRun: options.dryRun === true,
      checkpoint: options.checkpoint
    }
  })

interface Counters {
  listed: number
  deleted: number
  alreadyGone: number
  filesRemoved: number
  filesFailed: number
  failures: number
  skipped: number
  wouldDelete: number
}

/**
 * A deletion that removed nothing now: fal replayed an earlier call's answer (an earlier purge
 * with the same key), or every file was already gone.
 */
const nothingLeft = (deletion: Payloads.PayloadDeletion) =>
  deletion.replayed ||
  (deletion.links.length > 0 &&
    deletion.links.every((link) => Option.exists(link.error, (error) => /not found/i.test(error))))

/**
 * Deletes one request's payloads; a `404`, a replayed answer or files all gone mean already
 * gone; other failures are outcomes too.
 */
const deleteOne = (
  endpointId: string,
  requestId: string
): Effect.Effect<Purge.PurgeEvent, never, FalClient> =>
  RequestsInternal.waitOutRateLimits(
    PayloadsInternal.delete_(requestId, { idempotencyKey: Purge.idempotencyKey(requestId) })
  )
    .pipe(
      Effect.map((deletion): Purge.PurgeEvent =>
        nothingLeft(deletion)
          ? { _tag: "AlreadyGone", endpointId, requestId }
          : { _tag: "Deleted", endpointId, requestId, deletion }
      ),
      Effect.catchAll((error): Effect.Effect<Purge.PurgeEvent> =>
        Effect.succeed(
          error._tag === "NotFound"
            ? { _tag: "AlreadyGone", endpointId, requestId }
            : { _tag: "Failed", endpointId, requestId, error }
        )
      )
    )

const count = (counters: Counters, event: Purge.PurgeEvent): void => {
  switch (event._tag) {
    case "Deleted": {
      counters.deleted++
      const removed = event.deletion.links.filter((link) => link.error._tag === "None").length
      counters.filesRemoved += removed
      counters.filesFailed += event.deletion.links.length - removed
      return
    }
    case "AlreadyGone":
      counters.alreadyGone++
      return
    case "Failed":
      counters.failures++
      return
    case "WouldDelete":
      counters.wouldDelete++
      return
    case "Listed":
      counters.listed += event.count
      return
    case "Summary":
      return
  }
}

const record = (checkpoint: Purge.Checkpoint | undefined, entry: Purge.Entry) =>
  checkpoint === undefined ? Effect.void : checkpoint.record(entry)

/** One endpoint: its pages in order, each page's deletions concurrent, the page recorded once all are done. */
const endpointStream = (
  config: Plan,
  endpointId: string,
  state: Purge.State,
  counters: Counters
): Stream.Stream<Purge.PurgeEvent, PurgeError, FalClient> => {
  const resume = state.endpoints.get(endpointId)
  if (resume?.completed === true) return Stream.empty
  const done = resume?.done ?? new Set<string>()
  const checkpoint = config.dryRun ? undefined : config.checkpoint
  // once a page keeps a failure, later pages no longer move the resume cursor (the failed
  // request must be listed again next run); their done ids are still recorded
  let stuck = false
  const pages = RequestsInternal.pages({
    endpointId,
    start: config.after,
    end: config.cutoff,
    status: config.status,
    pageSize: 100,
    ...(resume?.cursor == null ? {} : { cursor: resume.cursor })
  })
  return Stream.flatMap(pages, ({ page }) => {
    let pageFailed = false
    const todo = page.items.filter((item) => {
      if (!done.has(item.requestId)) return true
      counters.skipped++
      return false
    })
    const outcomes = Stream.fromIterable(todo).pipe(
      Stream.mapEffect(
        (item) =>
          config.dryRun
            ? Effect.succeed<Purge.PurgeEvent>({ _tag: "WouldDelete", endpointId, record: item })
            // the deletion may be interrupted; once it answered, its outcome is counted and
            // recorded without interruption: no request is ever half-recorded
            : Effect.uninterruptibleMask((restore) =>
              Effect.tap(restore(deleteOne(endpointId, item.requestId)), (event) =>
                event._tag === "Failed"
                  ? Effect.sync(() => {
                    pageFailed = true
                  })
                  : record(checkpoint, { _tag: "Done", endpoint: endpointId, requestId: item.requestId }))
            ),
        { concurrency: config.concurrency, unordered: true }
      ),
      Stream.tap((event) => Effect.sync(() => count(counters, event)))
    )
    const finish = Effect.suspend(() => {
      if (pageFailed) stuck = true
      if (stuck) return Effect.void
      const last = !(page.hasMore && page.nextCursor !== null)
      return record(
        checkpoint,
        last
          ? { _tag: "Completed", endpoint: endpointId }
          : { _tag: "Page", endpoint: endpointId, cursor: page.nextCursor }
      )
    })
    const listed: Purge.PurgeEvent = { _tag: "Listed", endpointId, count: page.items.length }
    return Stream.make(listed).pipe(
      Stream.tap((event) => Effect.sync(() => count(counters, event))),
      Stream.concat(outcomes),
      Stream.concat(Stream.execute(finish))
    )
  })
}

export const purge = (
  options: Purge.PurgeOptions
): Stream.Stream<Purge.PurgeEvent, PurgeError, FalClient> =>
  Stream.unwrap(Effect.gen(function*() {
    const planned = yield* plan(options)
    const state = planned.checkpoint === undefined ? Purge.empty : yield* planned.checkpoint.load
    let config = planned
    if (state.started !== undefined) {
      // a resumed purge keeps the first run's cut-off: `olderThan` must not move it
      if (state.started.status !== planned.status) {
        return yield* invalid(
          "checkpoint",
          `it belongs to a purge with status ${state.started.status ?? "(any)"}, not ${planned.status ?? "(any)"}`
        )
      }
      config = { ...planned, cutoff: yield* instant("checkpoint", state.started.before) }
    } else if (!planned.dryRun) {
      yield* record(planned.checkpoint, {
        _tag: "Started",
        before: DateTime.formatIso(planned.cutoff),
        ...(planned.status === undefined ? {} : { status: planned.status })
      })
    }
    const counters = yield* Effect.sync((): Counters => ({
      listed: 0,
      deleted: 0,
      alreadyGone: 0,
      filesRemoved: 0,
      filesFailed: 0,
      failures: 0,
      skipped: 0,
      wouldDelete: 0
    }))
    const summary = Effect.sync((): Purge.PurgeEvent => ({
      _tag: "Summary",
      summary: { cutoff: config.cutoff, ...counters }
    }))
    return Stream.fromIterable(config.endpoints).pipe(
      Stream.flatMap((endpointId) => endpointStream(config, endpointId, state, counters)),
      Stream.concat(Stream.fromEffect(summary))
    )
  }))
