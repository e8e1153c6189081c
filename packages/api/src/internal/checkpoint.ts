/**
 * The purge checkpoint: its records (`Entry`), their reduction, the in-memory and JSON-lines file
 * stores, and the lock a file store holds while open. `Purge.ts` re-exports what is public; this
 * module imports only types from it.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Os from "node:os"
import type * as Purge from "../Purge.js"

export class CheckpointError extends Schema.TaggedError<CheckpointError>("@effect-fal/api/CheckpointError")(
  "CheckpointError",
  { reason: Schema.String }
) {
  override get message(): string {
    return `Purge checkpoint: ${this.reason}`
  }
}

export class CheckpointLocked extends Schema.TaggedError<CheckpointLocked>("@effect-fal/api/CheckpointLocked")(
  "CheckpointLocked",
  {
    checkpoint: Schema.String,
    lockFile: Schema.String,
    pid: Schema.optional(Schema.Number),
    host: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    const owner = this.pid === undefined
      ? "an unknown process (the lock file is unreadable; remove it if no purge runs)"
      : `process ${this.pid}${this.host === undefined ? "" : ` on ${this.host}`}`
    return `Purge checkpoint ${this.checkpoint} is in use by ${owner}: lock file ${this.lockFile}`
  }
}

export const Entry = Schema.Union(
  /** The first run: its cut-off (ISO) and status filter. */
  Schema.TaggedStruct("Started", { before: Schema.String, status: Schema.optional(Schema.String) }),
  /** A request's payloads are gone (deleted, or found already gone). */
  Schema.TaggedStruct("Done", { endpoint: Schema.String, requestId: Schema.String }),
  /** Every request before this cursor is done: listing resumes here (`null`: the first page). */
  Schema.TaggedStruct("Page", { endpoint: Schema.String, cursor: Schema.NullOr(Schema.String) }),
  /** The endpoint is fully purged. */
  Schema.TaggedStruct("Completed", { endpoint: Schema.String })
)

export const empty: Purge.State = { started: undefined, endpoints: new Map() }

const endpointState = (state: Purge.State, endpoint: string): Purge.EndpointState =>
  state.endpoints.get(endpoint) ?? { cursor: null, completed: false, done: new Set() }

const withEndpoint = (state: Purge.State, endpoint: string, next: Purge.EndpointState): Purge.State => {
  const endpoints = new Map(state.endpoints)
  endpoints.set(endpoint, next)
  return { ...state, endpoints }
}

/**
 * Folds one entry in. `Done` mutates the endpoint's set in place (a reduction owns its state:
 * copying a growing set per entry would make loading quadratic); `Page` starts a fresh set.
 */
export const reduce = (state: Purge.State, entry: Purge.Entry): Purge.State => {
  switch (entry._tag) {
    case "Started":
      return state.started === undefined ? { ...state, started: { before: entry.before, status: entry.status } } : state
    case "Done": {
      const current = endpointState(state, entry.endpoint)
      if (current.done instanceof Set && state.endpoints.has(entry.endpoint)) {
        current.done.add(entry.requestId)
        return state
      }
      return withEndpoint(state, entry.endpoint, { ...current, done: new Set([...current.done, entry.requestId]) })
    }
    case "Page":
      return withEndpoint(state, entry.endpoint, { cursor: entry.cursor, completed: false, done: new Set() })
    case "Completed":
      return withEndpoint(state, entry.endpoint, { ...endpointState(state, entry.endpoint), completed: true })
  }
}

export const memory: Effect.Effect<Purge.Checkpoint> = Effect.map(
  Ref.make<Purge.State>({ started: undefined, endpoints: new Map() }),
  (ref) => ({
    load: Ref.get(ref),
    record: (entry) => Ref.update(ref, (state) => reduce(state, entry))
  })
)

const EntryLine = Schema.parseJson(Entry)
const decodeLine = Schema.decodeUnknownEither(EntryLine)
const encodeLine = Schema.encodeSync(EntryLine)
const encoder = new TextEncoder()

/** Reduces the lines of a file; a torn last line (a crash mid-append) is ignored, any other bad line fails. */
export const parse = (path: string, text: string): Either.Either<Purge.State, CheckpointError> => {
  const lines = text.split("\n")
  let state: Purge.State = { started: undefined, endpoints: new Map() }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim()
    if (line.length === 0) continue
    const entry = decodeLine(line)
    if (Either.isLeft(entry)) {
      if (i === lines.length - 1) break
      return Either.left(new CheckpointError({ reason: `${path} line ${i + 1} is not a checkpoint record` }))
    }
    state = reduce(state, entry.right)
  }
  return Either.right(state)
}

// -----------------------------------------------------------------------------
// the lock
// -----------------------------------------------------------------------------

/** What a lock file holds: its owner. */
const Owner = Schema.parseJson(Schema.Struct({ pid: Schema.Int, host: Schema.String, since: Schema.String }))
const decodeOwner = Schema.decodeUnknownOption(Owner)

/** Whether a process of this host runs with this pid (`EPERM`: it runs, as another user). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return typeof error === "object" && error !== null && "code" in error && error.code === "EPERM"
  }
}

/**
 * Takes `<path>.lock`, created exclusively (`O_EXCL`) with this process's pid and host. A lock
 * whose pid is not alive on this host is stale: it is removed (if it still holds what was read)
 * and taken. Any other lock fails with {@link CheckpointLocked}, or, with `waitForLock`, is
 * tried again every 100 ms (on the Effect clock) until that long has passed. Released (removed,
 * if still ours) when the scope closes.
 */
export const takeLock = (
  path: string,
  options?: { readonly waitForLock?: Duration.DurationInput | undefined }
): Effect.Effect<void, CheckpointError | CheckpointLocked, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const lockFile = `${path}.lock`
    const host = Os.hostname()
    const mine = JSON.stringify({
      pid: process.pid,
      host,
      since: new Date(yield* Effect.clockWith((c) => c.currentTimeMillis)).toISOString()
    })
    const failed = (what: string) => (error: { readonly message: string }) =>
      new CheckpointError({ reason: `cannot ${what} the lock ${lockFile}: ${error.message}` })
    const create = fs.writeFileString(lockFile, mine, { flag: "wx" }).pipe(
      Effect.as(true),
      Effect.catchIf(
        (error) => error._tag === "SystemError" && error.reason === "AlreadyExists",
        () => Effect.succeed(false)
      ),
      Effect.mapError(failed("create"))
    )
    const attempt: Effect.Effect<void, CheckpointError | CheckpointLocked> = Effect.gen(function*() {
      if (yield* create) return
      const text = yield* fs.readFileString(lockFile).pipe(
        // gone meanwhile: its owner released it
        Effect.catchIf(
          (error) => error._tag === "SystemError" && error.reason === "NotFound",
          () => Effect.succeed("")
        ),
        Effect.mapError(failed("read"))
      )
      const owner = decodeOwner(text)
      if (Option.isSome(owner) && owner.value.host === host && !alive(owner.value.pid)) {
        // stale: its process is gone. Removed only if it still holds what was read, then taken
        // exclusively again: of two takers, one creates the new lock.
        const again = yield* Effect.orElseSucceed(fs.readFileString(lockFile), () => "")
        if (again === text) yield* Effect.ignore(fs.remove(lockFile))
        if (yield* create) return
      } else if (text === "" && !(yield* fs.exists(lockFile).pipe(Effect.orElseSucceed(() => true)))) {
        if (yield* create) return
      }
      return yield* new CheckpointLocked({
        checkpoint: path,
        lockFile,
        ...(Option.isSome(owner) ? { pid: owner.value.pid, host: owner.value.host } : {})
      })
    })
    const wait = options?.waitForLock
    yield* Effect.acquireRelease(
      wait === undefined ? attempt : attempt.pipe(
        Effect.retry({
          schedule: Schedule.spaced("100 millis").pipe(Schedule.upTo(Duration.decode(wait))),
          while: (error) => error._tag === "CheckpointLocked"
        })
      ),
      // released only if still ours (never another process's lock)
      () =>
        fs.readFileString(lockFile).pipe(
          Effect.flatMap((text) => text === mine ? fs.remove(lockFile) : Effect.void),
          Effect.ignore
        )
    )
  })

export const file = (
  path: string,
  options?: { readonly waitForLock?: Duration.DurationInput | undefined }
): Effect.Effect<Purge.Checkpoint, CheckpointError | CheckpointLocked, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const failed = (what: string) => (error: { readonly message: string }) =>
      new CheckpointError({ reason: `cannot ${what} ${path}: ${error.message}` })
    yield* takeLock(path, options)
    const exists = yield* Effect.mapError(fs.exists(path), failed("read"))
    const text = exists ? yield* Effect.mapError(fs.readFileString(path), failed("read")) : ""
    const initial = yield* parse(path, text)
    const state = yield* Ref.make(initial)
    // a torn last line (a crash mid-append) is cut off, so the next record starts on its own line
    if (text.length > 0 && !text.endsWith("\n")) {
      const whole = encoder.encode(text.slice(0, text.lastIndexOf("\n") + 1)).length
      yield* Effect.mapError(fs.truncate(path, whole), failed("repair"))
    }
    const handle = yield* Effect.mapError(fs.open(path, { flag: "a" }), failed("open"))
    // appends are serialised: concurrent deletions record one whole line at a time
    const lock = yield* Effect.makeSemaphore(1)
    return {
      load: Ref.get(state),
      record: (entry) =>
        lock.withPermits(1)(
          handle.writeAll(encoder.encode(`${encodeLine(entry)}\n`)).pipe(
            Effect.mapError(failed("write")),
            Effect.zipRight(Ref.update(state, (current) => reduce(current, entry))),
            Effect.uninterruptible
          )
        )
    }
  })
