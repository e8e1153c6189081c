import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Purge from "../Purge.js"
import { CheckpointError, Entry } from "../Purge.js"

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

// built on first use: `Purge.ts` (which defines `Entry`) imports this module
const decodeLine = (line: string) => Schema.decodeUnknownEither(Schema.parseJson(Entry))(line)
const encodeLine = (entry: Purge.Entry) => Schema.encodeSync(Schema.parseJson(Entry))(entry)
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

export const file = (
  path: string
): Effect.Effect<Purge.Checkpoint, CheckpointError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const failed = (what: string) => (error: { readonly message: string }) =>
      new CheckpointError({ reason: `cannot ${what} ${path}: ${error.message}` })
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
