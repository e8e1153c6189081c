import type * as RequestOptions from "@effect-fal/headers/RequestOptions"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { FalClient, type Service } from "../FalClient.js"
import * as FalError from "../FalError.js"
import * as Errors from "./errors.js"
import * as Request from "./request.js"
import * as Storage from "./storage.js"

/** What an input becomes once its files are uploaded: every `Blob`, `File` or `Uint8Array` is a URL. */
export type Uploaded<T> = T extends Blob | Uint8Array ? string
  : T extends ReadonlyArray<unknown> ? { -readonly [K in keyof T]: Uploaded<T[K]> }
  : T extends object ? { -readonly [K in keyof T]: Uploaded<T[K]> }
  : T

export interface Options {
  /** Uploads in flight at once; default 4. */
  readonly concurrency?: number | undefined
  /** Options for each upload (a `Blob`'s own type and a `File`'s name still apply). */
  readonly upload?: Omit<Storage.Options, "contentType" | "fileName" | "onProgress"> | undefined
}

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null) return false
  const proto: unknown = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const isFile = (u: unknown): u is Blob | Uint8Array => u instanceof Blob || u instanceof Uint8Array

/** Whether an input holds a `Blob`, `File` or `Uint8Array` anywhere (arrays and plain objects). */
const holdsFiles = (value: unknown, visiting: Set<object> = new Set()): boolean => {
  if (isFile(value)) return true
  if (!(Array.isArray(value) || isPlainObject(value)) || visiting.has(value)) return false
  visiting.add(value)
  const found = (Array.isArray(value) ? value : Object.values(value)).some((item) => holdsFiles(item, visiting))
  visiting.delete(value)
  return found
}

/**
 * Walks a model input (arrays and plain objects, recursively), uploads every `Blob`, `File` and
 * `Uint8Array` it finds (each distinct value once, at most `concurrency` at a time) and returns
 * the input with their URLs in their place. Other values, class instances included, are kept as
 * they are; an input without files is returned unchanged. If one upload fails the others are
 * interrupted and the failure is returned.
 */
export const uploadInput = <I>(
  input: I,
  options: Options = {}
): Effect.Effect<Uploaded<I>, FalError.FalError, FalClient> =>
  Effect.suspend(() => {
    const found = new Set<Blob | Uint8Array>()
    const visiting = new Set<object>()
    const collect = (value: unknown): void => {
      if (isFile(value)) {
        found.add(value)
      } else if (Array.isArray(value) || isPlainObject(value)) {
        if (visiting.has(value)) return
        visiting.add(value)
        for (const item of Array.isArray(value) ? value : Object.values(value)) collect(item)
        visiting.delete(value)
      }
    }
    try {
      collect(input)
    } catch (error) {
      return Effect.fail(unreadable(error))
    }
    if (found.size === 0) return Effect.succeed(input as Uploaded<I>)
    return Effect.forEach(
      found,
      (file) => Effect.map(Storage.upload(file, options.upload ?? {}), (uploaded) => [file, uploaded.url] as const),
      { concurrency: options.concurrency ?? 4 }
    ).pipe(Effect.flatMap((pairs) => {
      const urls = new Map<unknown, string>(pairs)
      const replace = (value: unknown): unknown => {
        const url = urls.get(value)
        if (url !== undefined) return url
        if (typeof value === "object" && value !== null && visiting.has(value)) return value
        if (Array.isArray(value)) {
          visiting.add(value)
          const out = value.map(replace)
          visiting.delete(value)
          return out
        }
        if (isPlainObject(value)) {
          visiting.add(value)
          const out: Record<string, unknown> = {}
          for (const [key, item] of Object.entries(value)) out[key] = replace(item)
          visiting.delete(value)
          return out
        }
        return value
      }
      // The walk above replaced exactly the values `Uploaded<I>` maps to strings.
      return Effect.try({ try: () => replace(input) as Uploaded<I>, catch: unreadable })
    }))
  })

/**
 * Automatic upload, the step `Fal.run` and `Queue.submit` (hence `subscribe`) take before they
 * serialise an input: its files are uploaded and replaced by their URLs, unless the call says
 * `autoUpload: false`. The model id and the request options are checked first, so that a call
 * refused anyway uploads nothing; an upload failure fails the call before it is sent. An input
 * that cannot be walked (a getter or a `Proxy` trap that throws, nesting too deep for the stack)
 * is a `ValidationError`, as it would be when serialised: nothing is sent.
 */
export const auto = (
  service: Service,
  modelId: string,
  input: unknown,
  options: {
    readonly autoUpload?: boolean | undefined
    readonly options?: RequestOptions.RequestOptions | undefined
  } | undefined
): Effect.Effect<unknown, FalError.FalError> =>
  options?.autoUpload === false ? Effect.succeed(input) : Effect.suspend(() => {
    let found: boolean
    try {
      found = holdsFiles(input)
    } catch (error) {
      return Effect.fail(unreadable(error))
    }
    return !found ? Effect.succeed(input) : Request.modelId(modelId).pipe(
      Effect.zipRight(Either.match(Request.wire(service, options?.options), {
        onLeft: Effect.fail,
        onRight: Effect.succeed
      })),
      Effect.zipRight(uploadInput(input)),
      Effect.provideService(FalClient, service),
      Effect.withSpan("fal.storage.uploadInput", { captureStackTrace: false })
    )
  })

/** Why an input could not be walked, as the `ValidationError` serialising it would give. */
export const unreadable = (error: unknown): FalError.ValidationError =>
  new FalError.ValidationError({
    issues: [
      new FalError.ValidationIssue({
        loc: ["body"],
        msg: `the input cannot be read: ${
          error instanceof RangeError
            ? "it is nested too deeply"
            : Errors.clip(error instanceof Error ? error.message : String(error), 200)
        }`,
        type: "json"
      })
    ]
  })
