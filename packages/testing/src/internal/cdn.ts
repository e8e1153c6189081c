/**
 * The CDN: files (model outputs, uploaded inputs) served until their lifecycle expires, then gone
 * for good. Expiry is checked against the Clock when a file is read.
 */
import { ObjectLifecycle } from "@effect-fal/headers"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as FalPlatform from "../FalPlatform.js"
import { deleteIn, type Env, getIn, now, setIn } from "./state.js"

const randomSegment = (): string => globalThis.crypto.randomUUID().replace(/-/g, "").slice(0, 20)

/**
 * The expiration part of a request's lifecycle option (`undefined`: the account default). Its
 * initial ACL does not change how long a file lives.
 */
export const expirationOf = (
  lifecycle: ObjectLifecycle.Input | undefined
): Duration.DurationInput | "never" | undefined => {
  if (lifecycle === undefined) return undefined
  const read = ObjectLifecycle.fromInput(lifecycle)
  return Either.isRight(read) && read.right !== undefined ? ObjectLifecycle.expiration(read.right) : undefined
}

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
export const mentionedFiles = (env: Env, value: unknown): Effect.Effect<ReadonlyArray<string>> => {
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
  return Effect.filter(found, (url) => Effect.map(file(env, url), Option.isSome))
}

/**
 * Puts a file under the URL (and path) it already has: the storage routes choose their file URLs
 * when an upload is initiated, before the bytes arrive.
 */
export const putFileAt = (env: Env, file: FalPlatform.CdnFile): Effect.Effect<void> => setIn(env.files, file.path, file)
