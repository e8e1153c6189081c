/**
 * Retention: the payload store (30 days unless `X-Fal-Store-IO: 0`), the CDN (files served
 * until their lifecycle expires, then gone for good), the result window of completed requests
 * (the `Idempotency-Key` cache is `idempotency.ts`). Expiry is checked against the Clock when data is read, so
 * `TestClock.adjust` is all it takes to expire something.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as FalPlatform from "../FalPlatform.js"
import type { Job } from "./jobs.js"
import { deleteIn, type Env, getIn, now, setIn } from "./state.js"

// -----------------------------------------------------------------------------
// payloads
// -----------------------------------------------------------------------------

export const storeInput = (env: Env, requestId: string, input: unknown): Effect.Effect<void> =>
  Effect.gen(function*() {
    const at = yield* now
    yield* setIn(env.payloads, requestId, {
      requestId,
      input,
      output: undefined,
      storedAt: at,
      expiresAt: at + Duration.toMillis(env.config.payloadRetention)
    })
  })

export const storeOutput = (env: Env, requestId: string, output: string): Effect.Effect<void> =>
  Ref.update(env.payloads, HashMap.modify(requestId, (payload) => ({ ...payload, output })))

export const payload = (env: Env, requestId: string): Effect.Effect<Option.Option<FalPlatform.StoredPayload>> =>
  Effect.gen(function*() {
    const at = yield* now
    const found = yield* getIn(env.payloads, requestId)
    if (found === undefined) return Option.none()
    if (at >= found.expiresAt) {
      yield* deleteIn(env.payloads, requestId)
      return Option.none()
    }
    return Option.some(found)
  })

export const payloads = (env: Env): Effect.Effect<ReadonlyArray<FalPlatform.StoredPayload>> =>
  Effect.gen(function*() {
    const at = yield* now
    const kept = yield* Ref.updateAndGet(env.payloads, HashMap.filter((p) => at < p.expiresAt))
    return Array.from(HashMap.values(kept))
  })

export const deletePayload = (env: Env, requestId: string): Effect.Effect<void> => deleteIn(env.payloads, requestId)

// -----------------------------------------------------------------------------
// results
// -----------------------------------------------------------------------------

const oneHour = 60 * 60 * 1000
const sixMinutes = 6 * 60 * 1000

/**
 * Whether the result endpoint still answers a completed request: 1 hour after completion
 * (6 minutes for a body of 10 KB or more), longer while its payloads are stored.
 */
export const resultAvailable = (env: Env, job: Job): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    if (job.result === undefined || job.completedAt === undefined || job.payloadsDeleted) return false
    const stored = yield* payload(env, job.id)
    if (Option.isSome(stored) && stored.value.output !== undefined) return true
    const window = job.result.body.length >= 10 * 1024 ? sixMinutes : oneHour
    return (yield* now) < job.completedAt + window
  })

// -----------------------------------------------------------------------------
// CDN
// -----------------------------------------------------------------------------

const randomSegment = (): string => globalThis.crypto.randomUUID().replace(/-/g, "").slice(0, 20)

export const expiryOf = (
  env: Env,
  lifecycle: Duration.DurationInput | "never" | undefined,
  at: number
): number | undefined => {
  const chosen = lifecycle ?? env.config.defaultObjectLifecycle
  return chosen === "never" ? undefined : at + Duration.toMillis(Duration.decode(chosen))
}

export const putFile = (
  env: Env,
  options: {
    readonly cdnBase: string
    readonly fileName: string
    readonly contentType: string
    readonly content: Uint8Array | string
    readonly kind: "input" | "output"
    readonly requestId: string | undefined
    readonly lifecycle: Duration.DurationInput | "never" | undefined
  }
): Effect.Effect<FalPlatform.CdnFile> =>
  Effect.gen(function*() {
    const at = yield* now
    const safeName = options.fileName.replace(/[^A-Za-z0-9._-]/g, "_") || "file"
    const path = `/files/${options.kind === "input" ? "upload" : "output"}/${randomSegment()}/${safeName}`
    const file: FalPlatform.CdnFile = {
      url: `${options.cdnBase}${path}`,
      path,
      contentType: options.contentType,
      content: typeof options.content === "string" ? new TextEncoder().encode(options.content) : options.content,
      kind: options.kind,
      requestId: options.requestId,
      createdAt: at,
      expiresAt: expiryOf(env, options.lifecycle, at)
    }
    yield* setIn(env.files, path, file)
    return file
  })

/** The path of a CDN URL (or the path itself), if it looks like one of ours. */
export const cdnPath = (urlOrPath: string): string | undefined => {
  if (urlOrPath.startsWith("/files/")) return urlOrPath
  const index = urlOrPath.indexOf("/files/")
  return index >= 0 && /^https?:\/\//.test(urlOrPath) ? urlOrPath.slice(index).split(/[?#]/)[0] : undefined
}

export const file = (env: Env, urlOrPath: string): Effect.Effect<Option.Option<FalPlatform.CdnFile>> =>
  Effect.gen(function*() {
    const path = cdnPath(urlOrPath)
    if (path === undefined) return Option.none()
    const found = yield* getIn(env.files, path)
    if (found === undefined) return Option.none()
    if (found.expiresAt !== undefined && (yield* now) >= found.expiresAt) {
      yield* deleteIn(env.files, path)
      return Option.none()
    }
    return Option.some(found)
  })

export const files = (env: Env): Effect.Effect<ReadonlyArray<FalPlatform.CdnFile>> =>
  Effect.gen(function*() {
    const at = yield* now
    const kept = yield* Ref.updateAndGet(
      env.files,
      HashMap.filter((f) => f.expiresAt === undefined || at < f.expiresAt)
    )
    return Array.from(HashMap.values(kept))
  })

export const deleteFile = (env: Env, path: string): Effect.Effect<void> => deleteIn(env.files, path)

/** The CDN files of ours that a JSON value mentions (input files of a request). */
export const mentionedFiles = (env: Env, value: unknown): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    const found: Array<string> = []
    const visit = (v: unknown): void => {
      if (typeof v === "string") {
        if (cdnPath(v) !== undefined) found.push(v)
      } else if (Array.isArray(v)) {
        v.forEach(visit)
      } else if (typeof v === "object" && v !== null) {
        Object.values(v).forEach(visit)
      }
    }
    visit(value)
    const out: Array<string> = []
    for (const url of found) {
      if (Option.isSome(yield* file(env, url))) out.push(url)
    }
    return out
  })

/**
 * Puts a file under the URL (and path) it already has: the storage routes choose their file URLs
 * when an upload is initiated, before the bytes arrive.
 */
export const putFileAt = (env: Env, file: FalPlatform.CdnFile): Effect.Effect<void> => setIn(env.files, file.path, file)
