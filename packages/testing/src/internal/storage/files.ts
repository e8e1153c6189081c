import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"

/** An ACL decision (SPEC section 7). */
export type Decision = "hide" | "forbid" | "allow"

export interface InitialAcl {
  readonly default?: Decision
  readonly rules?: ReadonlyArray<{ readonly user: string; readonly decision: Decision }>
}

/** A file as the CDN keeps it. */
export interface CdnFile {
  readonly url: string
  readonly bytes: Uint8Array
  readonly contentType: string
  /** Epoch millis on the Effect clock after which the file is gone for good, or `"never"`. */
  readonly expiresAt: number | "never"
  readonly initialAcl?: InitialAcl | undefined
  /** `"input"` for uploads (kept when a request's payloads are deleted), `"output"` for model outputs. */
  readonly kind: "input" | "output"
}

/**
 * `record` with a `key` computed from `compute` the first time it is read, then kept: an own,
 * enumerable property, so a spread or a deep comparison reads it as any other. The bytes of a
 * multipart upload are given so (the parts joined on first read): a complete answers without
 * copying the whole file (for a 200 MB file, 200 MB of fresh memory, which took the emulator
 * longer than the parts' transfer on an emulated link), and a file nobody reads is never joined.
 */
export const lazily = <A extends object, K extends string, V>(
  record: A,
  key: K,
  compute: () => V
): A & { readonly [P in K]: V } => {
  // once computed, what it was computed from (the parts) is let go
  let state: { readonly compute: () => V } | { readonly value: V } = { compute }
  const get = (): V => {
    if ("compute" in state) state = { value: state.compute() }
    return state.value
  }
  // sound: `defineProperty` answers `record`, which has the property now
  return Object.defineProperty(record, key, { enumerable: true, get }) as A & { readonly [P in K]: V }
}

/**
 * The file store the storage routes write to and the CDN route reads from. The emulator's own
 * CDN store implements it; `layerMemory` is a standalone one.
 */
export interface CdnFilesService {
  readonly put: (file: CdnFile) => Effect.Effect<void>
  /** The file, unless it never existed or its lifecycle ran out on the Effect clock. */
  readonly get: (url: string) => Effect.Effect<Option.Option<CdnFile>>
}

export class CdnFiles extends Context.Tag("@effect-fal/testing/StorageEmulator/CdnFiles")<
  CdnFiles,
  CdnFilesService
>() {}

/** An in-memory store: expired files are dropped when next looked up, so they stay gone. */
export const makeMemory: Effect.Effect<CdnFilesService & { readonly urls: Effect.Effect<ReadonlyArray<string>> }> =
  Effect.map(Ref.make(new Map<string, CdnFile>()), (files) => ({
    put: (file) => Ref.update(files, (map) => new Map(map).set(file.url, file)),
    get: (url) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(files, (map) => {
          const file = map.get(url)
          if (file === undefined) return [Option.none(), map]
          if (file.expiresAt !== "never" && now >= file.expiresAt) {
            const next = new Map(map)
            next.delete(url)
            return [Option.none(), next]
          }
          return [Option.some(file), map]
        })),
    urls: Effect.map(Ref.get(files), (map) => [...map.keys()])
  }))

export const layerMemory: Layer.Layer<CdnFiles> = Layer.effect(CdnFiles, makeMemory)
