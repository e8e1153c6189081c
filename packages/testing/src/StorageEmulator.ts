/**
 * fal's storage protocol (SPEC section 8) as `@effect/platform` routers: `initiate` and
 * `initiate-multipart` at the storage base, a pre-signed upload origin (single PUT, part PUTs
 * answering `{partNumber, etag}`, `complete`) and a CDN route serving what was uploaded. The
 * routers write to a {@link CdnFiles} store; uploaded files are input files, kept until their
 * lifecycle runs out on the Effect clock.
 *
 * @example
 * ```ts
 * import { StorageEmulator } from "@effect-fal/testing"
 * import * as HttpRouter from "@effect/platform/HttpRouter"
 * import { Effect, Layer } from "effect"
 *
 * const app = Effect.map(StorageEmulator.make, (routers) => HttpRouter.concatAll(routers.storage, routers.upload, routers.cdn))
 * const stores = Layer.merge(
 *   StorageEmulator.layerMemory,
 *   StorageEmulator.layerConfig({ uploadBase: "http://127.0.0.1:8080", cdnBase: "http://127.0.0.1:8080" })
 * )
 * ```
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as files from "./internal/storage/files.js"
import * as router from "./internal/storage/router.js"

/**
 * @since 0.2.0
 * @category models
 */
export type Decision = files.Decision

/**
 * @since 0.2.0
 * @category models
 */
export interface InitialAcl extends files.InitialAcl {}

/**
 * A file as the CDN keeps it: bytes, content type, expiry on the Effect clock, initial ACL, and
 * whether it is an input (an upload) or a model output.
 *
 * @since 0.2.0
 * @category models
 */
export interface CdnFile extends files.CdnFile {}

/**
 * The store the routers write uploads to and the CDN route reads from.
 *
 * @since 0.2.0
 * @category models
 */
export interface CdnFilesService extends files.CdnFilesService {}

export {
  /**
   * The file store service: `put` a file under its URL, `get` it while its lifecycle lasts.
   *
   * @since 0.2.0
   * @category tags
   */
  CdnFiles
} from "./internal/storage/files.js"

/**
 * An in-memory `CdnFiles`: a file whose lifecycle ran out is gone for good.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory: Layer.Layer<files.CdnFiles> = files.layerMemory

/**
 * An in-memory store, with the list of the URLs it holds (expired files included until looked up).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<
  CdnFilesService & { readonly urls: Effect.Effect<ReadonlyArray<string>> }
> = files.makeMemory

/**
 * Where the routes are served (to build upload and file URLs) and how initiate checks keys.
 *
 * @since 0.2.0
 * @category models
 */
export interface StorageConfigService extends router.StorageConfigService {}

export {
  /**
   * Where the routes are served and how initiate checks keys.
   *
   * @since 0.2.0
   * @category tags
   */
  StorageConfig
} from "./internal/storage/router.js"

/**
 * The config as a layer; `authorize` defaults to accepting any `Authorization: Key <non-empty>`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (config: {
  readonly uploadBase: string
  readonly cdnBase: string
  readonly authorize?: StorageConfigService["authorize"] | undefined
}): Layer.Layer<router.StorageConfig> =>
  Layer.succeed(router.StorageConfig, {
    uploadBase: config.uploadBase.replace(/\/+$/, ""),
    cdnBase: config.cdnBase.replace(/\/+$/, ""),
    authorize: config.authorize ??
      ((authorization) => Effect.succeed(authorization !== undefined && /^Key \S+$/.test(authorization)))
  })

/**
 * The three routers, sharing their upload sessions: `storage` (mount at the storage base),
 * `upload` (the pre-signed origin, `config.uploadBase`) and `cdn` (`config.cdnBase`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = router.make

/**
 * Reads an `X-Fal-Object-Lifecycle` value: its expiration and initial ACL, or why it is rejected.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseLifecycle = router.parseLifecycle
