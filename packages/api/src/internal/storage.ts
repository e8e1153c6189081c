import * as InvalidRequestOptions from "@effect-fal/headers/InvalidRequestOptions"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { FalClient, type Service } from "../FalClient.js"
import * as FalError from "../FalError.js"
import type * as Retry from "../Retry.js"
import { withoutAuthorization } from "./authorization.js"
import * as Errors from "./errors.js"
import * as Request from "./request.js"
import * as Lifecycle from "./storageLifecycle.js"

/** Files up to this size go in one PUT; larger ones in parts (SPEC section 8). */
export const singleLimit = 90 * 1024 * 1024
/** The size of a part of a multipart upload (the last one may be shorter). */
export const partSize = 10 * 1024 * 1024
/**
 * Parts in flight at once: one, as fal's clients do. A part of a `Uint8Array` or a `Blob` is
 * streamed from it (and read again for a retry); a part of a caller's `Stream` is held in memory
 * (it may be sent again), so such an upload holds one part.
 */
export const partConcurrency = 1
/** A single PUT's body is handed to the transport in slices of this size (progress is reported per slice). */
const sliceSize = 1024 * 1024

/** Bytes from a `Stream` with their size declared up front (the PUT needs `Content-Length`). */
export interface SizedStream<E, R> {
  readonly stream: Stream.Stream<Uint8Array, E, R>
  readonly size: number
}

export type Data<E, R> = Uint8Array | Blob | SizedStream<E, R>

export interface Progress {
  readonly _tag: "Progress"
  /** Bytes sent so far (of a multipart upload: bytes of the parts fal acknowledged). */
  readonly loaded: number
  readonly total: number
}

export interface Options {
  readonly contentType?: string | undefined
  readonly fileName?: string | undefined
  readonly lifecycle?: Lifecycle.Lifecycle | undefined
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
}

export interface UploadedFile {
  /** The file's CDN URL: what a model input takes. */
  readonly url: string
  readonly contentType: string
  readonly fileName: string
  readonly size: number
  /** How many parts were sent: 0 for a single PUT. */
  readonly parts: number
}

// ---------------------------------------------------------------------------------------------
// validation: everything is checked before the first byte leaves

const token = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
/** `type/subtype` and optional parameters, visible ASCII and spaces only (no CR, LF or other controls). */
const mediaType = new RegExp(`^${token}/${token}(\\s*;[\\x20-\\x7e\\t]*)?$`)

const invalidHeader = (name: string, value: string, reason: string) =>
  InvalidRequestOptions.single({ name, location: "header", value, reason })

const validContentType = (value: string): Either.Either<string, InvalidRequestOptions.InvalidRequestOptions> =>
  mediaType.test(value)
    ? Either.right(value)
    : Either.left(invalidHeader(
      "Content-Type",
      JSON.stringify(value),
      "must be a media type type/subtype in visible ASCII, without CR, LF or other control characters"
    ))

const knownExtensions: Readonly<Record<string, string>> = {
  "octet-stream": "bin",
  "jpeg": "jpg",
  "plain": "txt",
  "svg+xml": "svg",
  "mpeg": "mp3",
  "quicktime": "mov",
  "x-wav": "wav"
}

/** The extension fal's clients derive from a content type: the subtype, without parameters or suffixes. */
export const extension = (contentType: string): string => {
  const subtype = (contentType.split(";")[0].split("/")[1] ?? "").trim().toLowerCase()
  const known = knownExtensions[subtype]
  if (known !== undefined) return known
  const base = subtype.split(/[-+.]/)[0].replace(/[^a-z0-9]/g, "")
  return base.length > 0 ? base : "bin"
}

const isSized = <E, R>(data: Data<E, R>): data is SizedStream<E, R> =>
  !(data instanceof Uint8Array) && !(data instanceof Blob)

interface Plan<E, R> {
  readonly data: Data<E, R>
  readonly size: number
  readonly contentType: string
  readonly fileName: string
  readonly lifecycle: string | undefined
}

const plan = <E, R>(
  data: Data<E, R>,
  options: Options
): Effect.Effect<Plan<E, R>, InvalidRequestOptions.InvalidRequestOptions> =>
  Effect.gen(function*() {
    let size: number
    if (isSized(data)) {
      size = data.size
      if (!Number.isSafeInteger(size) || size <= 0) {
        return yield* invalidHeader(
          "Content-Length",
          String(size),
          "the declared size of a stream must be a whole number of bytes above zero"
        )
      }
    } else {
      size = data instanceof Blob ? data.size : data.byteLength
    }
    const blobType = data instanceof Blob && data.type.length > 0 ? data.type : undefined
    const contentType = yield* validContentType(options.contentType ?? blobType ?? "application/octet-stream")
    const lifecycle = yield* Lifecycle.encode(options.lifecycle)
    const named = options.fileName ?? (data instanceof File && data.name.length > 0 ? data.name : undefined)
    const fileName = named ?? `${yield* Clock.currentTimeMillis}.${extension(contentType)}`
    return { data, size, contentType, fileName, lifecycle }
  })

// ---------------------------------------------------------------------------------------------
// the calls: each goes through the call pipeline (`./request.ts`) as its own operation

/** Upload failures worth another attempt beyond the operation's rule: any 5xx, and a 408. */
const transient = (error: FalError.FalError): boolean =>
  (error._tag === "ServerError" || error._tag === "RequestFailed") &&
  error.status !== undefined && (error.status >= 500 || error.status === 408)

/** Reads and decodes a JSON answer of an upload step. */
const readJson = <A, I>(
  operation: Retry.Operation,
  response: HttpClientResponse.HttpClientResponse,
  schema: Schema.Schema<A, I>
): Effect.Effect<A, FalError.FalError> =>
  Effect.flatMap(
    Request.json(operation, response, undefined),
    (json) => Request.decode(operation, schema, json, { status: response.status })
  )

// ---------------------------------------------------------------------------------------------
// the transfer

const Initiated = Schema.Struct({ upload_url: Schema.String, file_url: Schema.String })

const PartAnswer = Schema.Struct({ partNumber: Schema.Number, etag: Schema.String })

/**
 * The pipeline for the pre-signed upload URLs: the service's, whose client adds `Authorization`
 * for fal's bases, with one more step after it that takes the header off again. A pre-signed URL
 * may well lie under the storage base (the emulator serves both), and it must never see the key.
 */
export const uploadPipeline = (service: Service): Request.Pipeline => ({
  ...service,
  httpClient: HttpClient.mapRequest(service.httpClient, withoutAuthorization)
})

// Memory: the bytes are never copied whole. A `Uint8Array` is sent as views of itself; a `Blob`
// (a file-backed one from `fs.openAsBlob` included) as slices streamed from the Blob, read again
// for a retry; only a caller's `Stream` is buffered, a part at a time, in one buffer used over
// and over: a fresh 10 MB buffer per part lives long enough to be promoted to the old generation
// and piles up as garbage until the next full collection.

/**
 * A failure of the caller's stream (or of reading a Blob) while the transport reads a body. The
 * transport reports it as a failed request; the body keeps the failure itself in a `Ref` so that
 * the upload fails with it, as it was, rather than with a transport error.
 */
type SourceFailures<E> = Ref.Ref<Option.Option<E | FalError.FalError>>

const readFailure = (cause: unknown) =>
  new FalError.TransportError({
    operation: "upload.put",
    mayHaveReached: true,
    description: `reading the Blob failed: ${Errors.clip(String(cause))}`
  })

/** A Blob's bytes as the transport reads them, in the Blob's own chunks; a new read each time it runs. */
const blobBytes = (blob: Blob): Stream.Stream<Uint8Array, FalError.FalError> =>
  Stream.fromReadableStream({ evaluate: () => blob.stream(), onError: readFailure })

const sizeMismatch = (declared: number, produced: string) =>
  invalidHeader("Content-Length", String(declared), `the stream produced ${produced} bytes, not its declared size`)

/** The caller's stream as it is, failing once it produces more or fewer bytes than declared. */
const exactly = <E, R>(source: SizedStream<E, R>): Stream.Stream<Uint8Array, E | FalError.FalError, R> =>
  Stream.suspend(() => {
    let seen = 0
    return source.stream.pipe(
      Stream.mapEffect((chunk) => {
        seen += chunk.byteLength
        return seen > source.size
          ? Effect.fail(sizeMismatch(source.size, `more than ${source.size}`))
          : Effect.succeed(chunk)
      }),
      Stream.concat(
        Stream.suspend(() => seen === source.size ? Stream.empty : Stream.fail(sizeMismatch(source.size, `${seen}`)))
      )
    )
  })

/** The body of a single PUT, streamed; the count of bytes starts again with each attempt. */
const singleBody = <E, R>(
  source: Plan<E, R>,
  options: Options,
  failures: SourceFailures<E>
): Stream.Stream<Uint8Array, E | FalError.FalError, R> => {
  const data = source.data
  const bytes: Stream.Stream<Uint8Array, E | FalError.FalError, R> = data instanceof Uint8Array
    ? Stream.map(
      Stream.range(0, Math.ceil(data.byteLength / sliceSize) - 1, 1),
      (index) => data.subarray(index * sliceSize, Math.min((index + 1) * sliceSize, data.byteLength))
    )
    : data instanceof Blob
    ? blobBytes(data)
    : exactly(data)
  return Stream.suspend(() => {
    let sent = 0
    return bytes.pipe(
      Stream.tap((chunk) => report(options, sent += chunk.byteLength, source.size)),
      Stream.tapError((error) => Ref.set(failures, Option.some(error)))
    )
  })
}

/**
 * Reads a stream a chunk at a time into caller-given buffers: `fill` copies exactly `length`
 * bytes (failing if the stream ends first), `end` checks that nothing is left.
 */
const reader = <E, R>(
  source: SizedStream<E, R>
): Effect.Effect<
  {
    readonly fill: (buffer: Uint8Array) => Effect.Effect<Uint8Array, E | FalError.FalError, R>
    readonly end: Effect.Effect<void, E | FalError.FalError, R>
  },
  never,
  R | Scope.Scope
> =>
  Effect.map(Stream.toPull(source.stream), (pull) => {
    let pending: Chunk.Chunk<Uint8Array> = Chunk.empty()
    let index = 0
    const empty = new Uint8Array(0)
    let carry: Uint8Array = empty
    let seen = 0
    /** The next non-empty piece of the stream, or none at its end. */
    const next: Effect.Effect<Option.Option<Uint8Array>, E | FalError.FalError, R> = Effect.suspend(() => {
      if (carry.byteLength > 0) return Effect.succeedSome(carry)
      if (index < pending.length) {
        carry = Chunk.unsafeGet(pending, index++)
        // let go of the caller's chunks as soon as they are taken
        if (index === pending.length) pending = Chunk.empty()
        seen += carry.byteLength
        return seen > source.size ? Effect.fail(sizeMismatch(source.size, `more than ${source.size}`)) : next
      }
      return Effect.matchEffect(pull, {
        onFailure: Option.match({ onNone: () => Effect.succeedNone, onSome: Effect.fail }),
        onSuccess: (chunk) => {
          pending = chunk
          index = 0
          return next
        }
      })
    })
    const fill = (buffer: Uint8Array) =>
      Effect.gen(function*() {
        let filled = 0
        while (filled < buffer.byteLength) {
          const piece = yield* next
          if (Option.isNone(piece)) return yield* sizeMismatch(source.size, `${seen}`)
          const n = Math.min(buffer.byteLength - filled, piece.value.byteLength)
          buffer.set(piece.value.subarray(0, n), filled)
          // an empty view would still hold the whole chunk
          carry = n < piece.value.byteLength ? piece.value.subarray(n) : empty
          filled += n
        }
        return buffer
      })
    const end = Effect.flatMap(next, (piece) =>
      Option.isNone(piece) ? Effect.void : sizeMismatch(source.size, `more than ${source.size}`))
    return { fill, end }
  })

const report = (options: Options, loaded: number, total: number): Effect.Effect<void> =>
  options.onProgress === undefined ? Effect.void : options.onProgress({ _tag: "Progress", loaded, total })

const initiate = <E, R>(
  service: Service,
  source: Plan<E, R>,
  multipart: boolean
): Effect.Effect<typeof Initiated.Type, FalError.FalError> => {
  const step = multipart ? "initiate-multipart" : "initiate"
  // A repeated initiate only opens another upload session, left unused: safe to retry.
  return Request.execute(service, {
    operation: "upload.initiate",
    request: HttpClientRequest.post(`${service.urls.storage}/storage/upload/${step}`).pipe(
      HttpClientRequest.setUrlParam("storage_type", "fal-cdn-v3"),
      HttpClientRequest.bodyUnsafeJson({ content_type: source.contentType, file_name: source.fileName }),
      source.lifecycle === undefined
        ? (request) => request
        : HttpClientRequest.setHeader(Lifecycle.headerName, source.lifecycle)
    ),
    retryAlso: transient,
    onResponse: (response) => readJson("upload.initiate", response, Initiated)
  }).pipe(
    Effect.filterOrFail(
      (answer) => URL.canParse(answer.upload_url),
      (answer) =>
        new FalError.DecodeError({
          operation: "upload.initiate",
          description: `upload_url is not a URL: ${JSON.stringify(Errors.clip(answer.upload_url, 120))}`
        })
    )
  )
}

const uploaded = <E, R>(source: Plan<E, R>, url: string, parts: number): UploadedFile => ({
  url,
  contentType: source.contentType,
  fileName: source.fileName,
  size: source.size,
  parts
})

/** A failure of the caller's source, recorded by its body, in place of the transport error it caused. */
const orSourceFailure = <A, E>(
  failures: SourceFailures<E>,
  effect: Effect.Effect<A, FalError.FalError>
): Effect.Effect<A, E | FalError.FalError> =>
  Effect.catchAll(
    effect,
    (error) =>
      Effect.flatMap(Ref.get(failures), Option.match({ onNone: () => Effect.fail(error), onSome: Effect.fail }))
  )

const single = <E, R>(
  service: Service,
  source: Plan<E, R>,
  options: Options
): Effect.Effect<UploadedFile, E | FalError.FalError, R> =>
  Effect.gen(function*() {
    const initiated = yield* initiate(service, source, false)
    const failures: SourceFailures<E> = yield* Ref.make(Option.none<E | FalError.FalError>())
    const context = yield* Effect.context<R>()
    const body = HttpBody.stream(
      Stream.provideContext(singleBody(source, options, failures), context),
      source.contentType,
      source.size
    )
    // A `Uint8Array` or a `Blob` can be read again, so the PUT is retried (the signed URL takes
    // the same bytes again, an answer lost after they were stored included); a caller's stream cannot.
    yield* orSourceFailure(
      failures,
      Request.execute(uploadPipeline(service), {
        operation: "upload.put",
        request: HttpClientRequest.put(initiated.upload_url).pipe(HttpClientRequest.setBody(body)),
        retry: isSized(source.data) ? false : undefined,
        retryAlso: transient,
        onResponse: (response) =>
          Effect.asVoid(Effect.mapError(response.text, (error) => Errors.transport("upload.put", error, undefined)))
      })
    )
    if (source.size === 0) yield* report(options, 0, 0)
    return uploaded(source, initiated.file_url, 0)
  })

const multipart = <E, R>(
  service: Service,
  source: Plan<E, R>,
  options: Options
): Effect.Effect<UploadedFile, E | FalError.FalError, R> =>
  Effect.gen(function*() {
    const initiated = yield* initiate(service, source, true)
    const pipeline = uploadPipeline(service)
    const target = new URL(initiated.upload_url)
    const at = (suffix: string) => `${target.origin}${target.pathname}/${suffix}${target.search}`
    const loaded = yield* Ref.make(0)
    const count = Math.ceil(source.size / partSize)
    const length = (number: number) => Math.min(partSize, source.size - (number - 1) * partSize)
    /** Sends a part (again after a transient failure: `body` is read anew each time) and reports it. */
    const sendPart = (number: number, body: HttpBody.HttpBody) =>
      Request.execute(pipeline, {
        operation: "upload.part",
        request: HttpClientRequest.put(at(String(number))).pipe(HttpClientRequest.setBody(body)),
        retryAlso: transient,
        onResponse: (response) =>
          readJson("upload.part", response, PartAnswer).pipe(
            Effect.filterOrFail(
              (answer) => answer.partNumber === number,
              (answer) =>
                new FalError.DecodeError({
                  operation: "upload.part",
                  description: `the answer is for part ${answer.partNumber}, not ${number}`
                })
            )
          )
      }).pipe(
        Effect.tap(() =>
          Ref.updateAndGet(loaded, (n) => n + length(number)).pipe(
            Effect.flatMap((sent) => report(options, sent, source.size))
          )
        )
      )
    const data = source.data
    const numbers = Array.from({ length: count }, (_, index) => index + 1)
    /** A part of a `Uint8Array` is a view of it; a part of a `Blob` a slice, streamed. */
    const sliceBody = (whole: Uint8Array | Blob, number: number) => {
      const start = (number - 1) * partSize
      const end = start + length(number)
      return whole instanceof Uint8Array
        ? HttpBody.uint8Array(whole.subarray(start, end), "application/octet-stream")
        : HttpBody.stream(blobBytes(whole.slice(start, end)), "application/octet-stream", end - start)
    }
    const answers = !isSized(data)
      ? yield* Effect.forEach(numbers, (number) => sendPart(number, sliceBody(data, number)), {
        concurrency: partConcurrency
      })
      : yield* Effect.scoped(Effect.gen(function*() {
        const read = yield* reader(data)
        // One buffer, filled again once its part is acknowledged (a retry sends it as it is).
        const buffer = new Uint8Array(partSize)
        const out: Array<typeof PartAnswer.Type> = []
        for (const number of numbers) {
          const bytes = yield* read.fill(buffer.subarray(0, length(number)))
          out.push(yield* sendPart(number, HttpBody.uint8Array(bytes, "application/octet-stream")))
        }
        yield* read.end
        return out
      }))
    const list = answers.map((answer) => ({ partNumber: answer.partNumber, etag: answer.etag }))
    // Completing twice names the same parts: a complete whose answer was lost is sent again.
    yield* Request.execute(pipeline, {
      operation: "upload.complete",
      request: HttpClientRequest.post(at("complete")).pipe(HttpClientRequest.bodyUnsafeJson({ parts: list })),
      retryAlso: transient,
      onResponse: (response) =>
        Effect.asVoid(Effect.mapError(response.text, (error) => Errors.transport("upload.complete", error, undefined)))
    })
    return uploaded(source, initiated.file_url, list.length)
  })

/** `Storage.upload`: validate everything, initiate, send the bytes, return the CDN URL. */
export const upload = Effect.fn("fal.storage.upload", { kind: "client" })(<E = never, R = never>(
  data: Data<E, R>,
  options: Options = {}
): Effect.Effect<UploadedFile, E | FalError.FalError, FalClient | R> =>
  Effect.gen(function*() {
    const source = yield* plan(data, options)
    const service = yield* FalClient
    return yield* (source.size > singleLimit ? multipart(service, source, options) : single(service, source, options))
  })
)
