/**
 * Uploads to fal's CDN (SPEC section 8): the bytes a model takes as a file URL. `upload` sends a
 * `Uint8Array`, a `Blob`/`File` or a `Stream` of bytes (of a declared size or not), with its
 * lifecycle (expiration and initial ACL), and answers the file's URL. Files up to 90 MB go in one
 * PUT, larger ones (and streams longer than a part, or of unknown length) in 10 MB parts, 6 in
 * flight at once by default, each retried; interrupting the upload aborts every part in flight
 * and completes nothing. The bytes go to a pre-signed URL and never carry `Authorization`.
 *
 * @example
 * ```ts
 * import { Storage } from "@effect-fal/api"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const file = yield* Storage.upload(new Blob(["hello"], { type: "text/plain" }), {
 *     lifecycle: { expiration: "1 hour" }
 *   })
 *   return file.url
 * })
 * ```
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Mailbox from "effect/Mailbox"
import * as Stream from "effect/Stream"
import type { FalClient } from "./FalClient.js"
import type * as FalError from "./FalError.js"
import * as internal from "./internal/storage.js"
import type * as Lifecycle from "./internal/storageLifecycle.js"
import * as internalInput from "./internal/uploadInput.js"

/**
 * Bytes from a `Stream`, with their size declared up front (above zero). Producing more or
 * fewer bytes than declared fails the upload with `InvalidRequestOptions` and completes nothing.
 *
 * @since 0.2.0
 * @category models
 */
export interface SizedStream<E = never, R = never> extends internal.SizedStream<E, R> {}

/**
 * What `upload` sends: a `Uint8Array`, a `Blob` (or `File`), a {@link SizedStream}, or a bare
 * `Stream` of bytes of unknown length (sent in parts until it ends; it must produce 1 byte or
 * more).
 *
 * @since 0.2.0
 * @category models
 */
export type Data<E = never, R = never> = Uint8Array | Blob | SizedStream<E, R> | Stream.Stream<Uint8Array, E, R>

/**
 * An ACL decision for a user: `hide`, `forbid` or `allow`.
 *
 * @since 0.2.0
 * @category models
 */
export type Decision = Lifecycle.Decision

/**
 * The file's initial access control list: a default decision and per-user rules.
 *
 * @since 0.2.0
 * @category models
 */
export interface InitialAcl extends Lifecycle.InitialAcl {}

/**
 * How long the file is kept (`expiration`: whole seconds, 0 or more, or `"never"`) and who may
 * read it (`initialAcl`). Sent as the `X-Fal-Object-Lifecycle` header of the initiate request.
 *
 * @since 0.2.0
 * @category models
 */
export interface ObjectLifecycle extends Lifecycle.Lifecycle {}

/**
 * Bytes sent so far (`loaded`) of `total` (`undefined` for a `Stream` of unknown length). For a
 * single PUT, counted as the transport reads the body (a PUT sent again counts from where the
 * first got, never backwards), or with whole bodies (`FalClient`'s `uploadBody: "whole"`, the
 * default of `layerProxy`) the whole file once the PUT is answered; for a multipart upload, the bytes of the parts fal acknowledged,
 * in the order they were acknowledged. Events never go backwards; the last one is the file's size.
 *
 * @since 0.2.0
 * @category models
 */
export interface Progress extends internal.Progress {}

/**
 * `contentType`, `fileName`, `lifecycle`, `onProgress`, and `concurrency`: the parts of a
 * multipart upload in flight at once (a whole number from 1; default the client's
 * `uploadConcurrency`, 6). A `Stream` is read ahead into at most `concurrency` part buffers.
 *
 * @since 0.2.0
 * @category models
 */
export interface UploadOptions extends internal.Options {}

/**
 * The uploaded file.
 *
 * @since 0.2.0
 * @category models
 */
export interface UploadedFile extends internal.UploadedFile {}

/**
 * The last event of {@link uploadWithProgress}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Uploaded {
  readonly _tag: "Uploaded"
  readonly file: UploadedFile
}

/**
 * Files up to this size (90 MB) go in one PUT; larger ones in parts.
 *
 * @since 0.2.0
 * @category constants
 */
export const singleLimit: number = internal.singleLimit

/**
 * The size of a multipart upload's parts (10 MB; the last one may be shorter).
 *
 * @since 0.2.0
 * @category constants
 */
export const partSize: number = internal.partSize

/**
 * Parts of a multipart upload in flight at once by default (6); `FalClient`'s
 * `uploadConcurrency` and an upload's `concurrency` override it.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultConcurrency: number = internal.defaultConcurrency

/**
 * Uploads a file to fal's CDN and answers its URL. The content type defaults to the `Blob`'s
 * type, else `application/octet-stream`; the file name to the `File`'s name, else
 * `<timestamp>.<extension of the content type>`. A bad content type (CR, LF, not
 * `type/subtype`), a stream's size below 1 or a lifecycle below zero fails with
 * `InvalidRequestOptions`, a `concurrency` that is not a whole number from 1 with
 * `ValidationError`, before anything is sent; so does a `Stream` that yields no bytes (it is read
 * up to its first bytes before the upload is initiated). The PUT bodies are streamed or whole
 * values as the client's `uploadBody` says.
 *
 * @since 0.2.0
 * @category uploads
 */
export const upload: <E = never, R = never>(
  data: Data<E, R>,
  options?: UploadOptions
) => Effect.Effect<UploadedFile, E | FalError.FalError, FalClient | R> = internal.upload

/**
 * {@link upload} as a `Stream` of progress events ending with the uploaded file. Ending the
 * stream early interrupts the upload.
 *
 * @since 0.2.0
 * @category uploads
 */
export const uploadWithProgress = <E = never, R = never>(
  data: Data<E, R>,
  options?: Omit<UploadOptions, "onProgress">
): Stream.Stream<Progress | Uploaded, E | FalError.FalError, FalClient | R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<Progress | Uploaded, E | FalError.FalError>()
    yield* internal.upload(data, { ...options, onProgress: (progress) => Effect.asVoid(mailbox.offer(progress)) }).pipe(
      Effect.flatMap((file) => mailbox.offer({ _tag: "Uploaded", file })),
      Mailbox.into(mailbox),
      Effect.forkScoped
    )
    return Mailbox.toStream(mailbox)
  }))

/**
 * An input with its files uploaded: every `Blob`, `File` and `Uint8Array` is a URL.
 *
 * @since 0.2.0
 * @category models
 */
export type UploadedInput<I> = internalInput.Uploaded<I>

/**
 * @since 0.2.0
 * @category models
 */
export interface UploadInputOptions extends internalInput.Options {}

/**
 * Walks a model input (arrays and plain objects, recursively), uploads every `Blob`, `File` and
 * `Uint8Array` in it (each distinct value once, `concurrency` at a time, default 4) and answers
 * the input with their URLs in their place. What fal's clients do before a run or a submit.
 *
 * @since 0.2.0
 * @category uploads
 */
export const uploadInput: <I>(
  input: I,
  options?: UploadInputOptions
) => Effect.Effect<UploadedInput<I>, FalError.FalError, FalClient> = internalInput.uploadInput
