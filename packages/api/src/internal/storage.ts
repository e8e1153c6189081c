import * as InvalidRequestOptions from "@effect-fal/headers/InvalidRequestOptions"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as SynchronizedRef from "effect/SynchronizedRef"
import { defaultUploadConcurrency, FalClient, type Service } from "../FalClient.js"
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
 * Parts in flight at once unless the call (`concurrency`) or the client (`uploadConcurrency`)
 * says otherwise. fal's own clients send one part at a time; on a link whose throughput is per
 * connection, six parts in flight move six times the bytes.
 */
export const defaultConcurrency = defaultUploadConcurrency
/** A single PUT's body is handed to the transport in slices of this size (progress is reported per slice). */
const sliceSize = 1024 * 1024

/** Bytes from a `Stream` with their size declared up front (the PUT needs `Content-Length`). */
export interface SizedStream<E, R> {
  readonly stream: Stream.Stream<Uint8Array, E, R>
  readonly size: number
}

export type Data<E, R> = Uint8Array | Blob | SizedStream<E, R> | Stream.Stream<Uint8Array, E, R>

export interface Progress {
  readonly _tag: "Progress"
  /** Bytes sent so far (of a multipart upload: bytes of the parts fal acknowledged). Never decreases. */
  readonly loaded: number
  /** The file's size; `undefined` for a `Stream` of unknown length. */
  readonly total: number | undefined
}

export interface Options {
  readonly contentType?: string | undefined
  readonly fileName?: string | undefined
  readonly lifecycle?: Lifecycle.Lifecycle | undefined
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
  /** Parts of a multipart upload in flight at once; default: the client's `uploadConcurrency` (6). */
  readonly concurrency?: number | undefined
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

const isStream = <E, R>(data: Data<E, R>): data is Stream.Stream<Uint8Array, E, R> =>
  Predicate.hasProperty(data, Stream.StreamTypeId)

/** The bytes to send: an array or a Blob (read again for a retry), or a caller's stream (read once). */
type Source<E, R> =
  | { readonly _tag: "Bytes"; readonly data: Uint8Array | Blob; readonly size: number }
  | {
    readonly _tag: "Stream"
    readonly stream: Stream.Stream<Uint8Array, E, R>
    /** `undefined`: not known before the stream ends. */
    readonly size: number | undefined
  }

interface Plan<E, R> {
  readonly source: Source<E, R>
  readonly contentType: string
  readonly fileName: string
  readonly lifecycle: string | undefined
  readonly concurrency: number
}

/** A whole number of parts in flight, 1 or more. */
export const validConcurrency = (value: number): boolean => Number.isSafeInteger(value) && value >= 1

const invalidConcurrency = (value: number) =>
  new FalError.ValidationError({
    issues: [
      new FalError.ValidationIssue({
        loc: ["options", "concurrency"],
        msg: `concurrency must be a whole number of parts in flight, 1 or more, not ${value}`,
        type: "value_error"
      })
    ]
  })

const plan = <E, R>(
  data: Data<E, R>,
  options: Options,
  clientConcurrency: number
): Effect.Effect<Plan<E, R>, InvalidRequestOptions.InvalidRequestOptions | FalError.ValidationError> =>
  Effect.gen(function*() {
    let source: Source<E, R>
    if (data instanceof Uint8Array || data instanceof Blob) {
      source = { _tag: "Bytes", data, size: data instanceof Blob ? data.size : data.byteLength }
    } else if (isStream(data)) {
      source = { _tag: "Stream", stream: data, size: undefined }
    } else {
      if (!Number.isSafeInteger(data.size) || data.size <= 0) {
        return yield* invalidHeader(
          "Content-Length",
          String(data.size),
          "the declared size of a stream must be a whole number of bytes above zero"
        )
      }
      source = { _tag: "Stream", stream: data.stream, size: data.size }
    }
    const concurrency = options.concurrency ?? clientConcurrency
    if (!validConcurrency(concurrency)) return yield* invalidConcurrency(concurrency)
    const blobType = data instanceof Blob && data.type.length > 0 ? data.type : undefined
    const contentType = yield* validContentType(options.contentType ?? blobType ?? "application/octet-stream")
    const lifecycle = yield* Lifecycle.encode(options.lifecycle)
    const named = options.fileName ?? (data instanceof File && data.name.length > 0 ? data.name : undefined)
    const fileName = named ?? `${yield* Clock.currentTimeMillis}.${extension(contentType)}`
    return { source, contentType, fileName, lifecycle, concurrency }
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

// Memory: the bytes are never copied whole. A `Uint8Array` is sent as views of itself. A part
// must be kept until fal acknowledged it (it may be sent again): a `Blob` (a file-backed one from
// `fs.openAsBlob` included) is read a part at a time, each from its own slice, and a stream front
// to back, into at most `concurrency` part buffers, each filled again once its part is
// acknowledged (a fresh 10 MB buffer per part lives long enough to be promoted to the old
// generation and piles up as garbage until the next full collection). A part's body is streamed
// from its buffer as the buffer fills, told of new bytes a slice (1 MB) at a time: streamed in
// the source's own 64 KiB chunks, a part cost a fiber step per chunk on its way to the socket.
// With `uploadBody: "whole"` a Blob's single PUT or part is the Blob (or a slice of it) itself,
// which the transport reads (a browser's `fetch` sends a `ReadableStream` body only over HTTP/2,
// if at all), and a stream's part is sent once full.

/**
 * A failure of reading a Blob while the transport reads a body. The transport reports it as a
 * failed request; the body keeps the failure itself in a `Ref` so that the upload fails with it,
 * as it was, rather than with a transport error.
 */
type SourceFailures = Ref.Ref<Option.Option<FalError.FalError>>

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

/** Progress, reported in order and never backwards, whatever the number of parts in flight. */
interface Reporter {
  /** Adds acknowledged bytes. */
  readonly add: (bytes: number) => Effect.Effect<void>
  /** Raises the count to `bytes` if it is below (a retried PUT counts its body again from 0). */
  readonly atLeast: (bytes: number) => Effect.Effect<void>
}

const reporter = (options: Options, total: number | undefined): Effect.Effect<Reporter> =>
  Effect.map(SynchronizedRef.make(0), (loaded) => {
    const report = (next: number) =>
      options.onProgress === undefined
        ? Effect.succeed(next)
        : Effect.as(options.onProgress({ _tag: "Progress", loaded: next, total }), next)
    return {
      add: (bytes) => SynchronizedRef.updateEffect(loaded, (before) => report(before + bytes)),
      atLeast: (bytes) =>
        SynchronizedRef.updateEffect(loaded, (before) => bytes > before ? report(bytes) : Effect.succeed(before))
    }
  })

/**
 * A PUT's body as a whole value (`uploadBody: "whole"`): a `Uint8Array` as it is, a `Blob` as
 * itself in a raw body, which `fetch` (and undici) read from the Blob without a copy here.
 */
const wholeBody = (bytes: Uint8Array | Blob, contentType: string): HttpBody.HttpBody =>
  bytes instanceof Uint8Array
    ? HttpBody.uint8Array(bytes, contentType)
    : HttpBody.raw(bytes, { contentType, contentLength: bytes.size })

/** The body of a single PUT, streamed; the count of bytes starts again with each attempt. */
const singleBody = (
  data: Uint8Array | Blob,
  progress: Reporter,
  failures: SourceFailures
): Stream.Stream<Uint8Array, FalError.FalError> => {
  const bytes: Stream.Stream<Uint8Array, FalError.FalError> = data instanceof Uint8Array
    ? Stream.map(
      Stream.range(0, Math.ceil(data.byteLength / sliceSize) - 1, 1),
      (index) => data.subarray(index * sliceSize, Math.min((index + 1) * sliceSize, data.byteLength))
    )
    : blobBytes(data)
  return Stream.suspend(() => {
    let sent = 0
    return bytes.pipe(
      Stream.tap((chunk) => progress.atLeast(sent += chunk.byteLength)),
      Stream.tapError((error) => Ref.set(failures, Option.some(error)))
    )
  })
}

/**
 * Reads a stream a chunk at a time into caller-given buffers: `fill` copies bytes until the
 * buffer is full or the stream ends and answers how many; `end` checks that nothing is left. A
 * declared size is enforced as the bytes come (more fails at once).
 */
const reader = <E, R>(
  stream: Stream.Stream<Uint8Array, E, R>,
  declared: number | undefined
): Effect.Effect<
  {
    readonly fill: (
      buffer: Uint8Array,
      progress?: (filled: number) => Effect.Effect<void>
    ) => Effect.Effect<number, E | FalError.FalError, R>
    readonly end: Effect.Effect<void, E | FalError.FalError, R>
    /** Whether the stream holds a byte: reads up to its first non-empty chunk and keeps it for `fill`. */
    readonly nonEmpty: Effect.Effect<boolean, E | FalError.FalError, R>
    readonly seen: () => number
  },
  never,
  R | Scope.Scope
> =>
  Effect.map(Stream.toPull(stream), (pull) => {
    let pending: Chunk.Chunk<Uint8Array> = Chunk.empty()
    let index = 0
    const empty = new Uint8Array(0)
    let carry: Uint8Array = empty
    let seen = 0
    const tooLong = () =>
      declared !== undefined && seen > declared
        ? Effect.fail(sizeMismatch(declared, `more than ${declared}`))
        : undefined
    /** The next non-empty piece of the stream, or none at its end. */
    const next: Effect.Effect<Option.Option<Uint8Array>, E | FalError.FalError, R> = Effect.suspend(() => {
      if (carry.byteLength > 0) return Effect.succeedSome(carry)
      if (index < pending.length) {
        carry = Chunk.unsafeGet(pending, index++)
        // let go of the caller's chunks as soon as they are taken
        if (index === pending.length) pending = Chunk.empty()
        seen += carry.byteLength
        return tooLong() ?? next
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
    const fill = (buffer: Uint8Array, progress?: (filled: number) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        let filled = 0
        while (filled < buffer.byteLength) {
          const piece = yield* next
          if (Option.isNone(piece)) break
          const n = Math.min(buffer.byteLength - filled, piece.value.byteLength)
          buffer.set(piece.value.subarray(0, n), filled)
          // an empty view would still hold the whole chunk
          carry = n < piece.value.byteLength ? piece.value.subarray(n) : empty
          filled += n
          if (progress !== undefined) yield* progress(filled)
        }
        return filled
      })
    const end = Effect.flatMap(next, (piece) =>
      Option.isNone(piece) || declared === undefined ? Effect.void : sizeMismatch(declared, `more than ${declared}`))
    return {
      fill,
      end,
      nonEmpty: Effect.map(next, Option.isSome),
      seen: () =>
        seen
    }
  })

/**
 * A part to send: its number and size, the body of one PUT of it (read again for each), `filled`
 * (done once its bytes are all in its buffer, failed if they could not be read) and how to give
 * its buffer back.
 */
interface Part<E> {
  readonly number: number
  readonly size: number
  readonly body: HttpBody.HttpBody
  /** Fails as the reading did if the part's bytes could not all be read. */
  readonly filled: Effect.Effect<void, E>
  readonly release: Effect.Effect<void>
}

/**
 * The parts of a `Uint8Array` (views of it) or, with `uploadBody: "whole"`, of a `Blob` (slices,
 * which the transport reads): nothing is copied.
 */
const bytesParts = (data: Uint8Array | Blob, size: number): Stream.Stream<Part<never>> =>
  Stream.map(Stream.range(1, Math.ceil(size / partSize)), (number) => {
    const start = (number - 1) * partSize
    const end = Math.min(start + partSize, size)
    return {
      number,
      size: end - start,
      body: partBody(data instanceof Uint8Array ? data.subarray(start, end) : data.slice(start, end)),
      filled: Effect.void,
      release: Effect.void
    }
  })

const emptyStream = invalidHeader("Content-Length", "0", "the stream produced no bytes: a file holds 1 byte or more")

/**
 * The body of a part whose buffer is still being filled: its first PUT streams the bytes as they
 * come in (`filled` counts them; each pull takes whatever arrived since the last one, as one
 * view of the buffer), a PUT sent again waits until the buffer is full and sends it whole.
 */
const fillingBody = <E>(
  bytes: Uint8Array,
  filled: SubscriptionRef.SubscriptionRef<number>,
  done: Deferred.Deferred<void, E>
): HttpBody.HttpBody => {
  let sent = false
  return HttpBody.stream(
    Stream.suspend(() => {
      // a failed reading fails the part itself (see `multipart`), not its body: this waits
      if (sent) return Stream.fromEffect(Effect.as(Effect.catchAll(Deferred.await(done), () => Effect.never), bytes))
      sent = true
      return filled.changes.pipe(
        Stream.mapChunks((counts) => Chunk.takeRight(counts, 1)),
        Stream.takeUntil((count) => count >= bytes.byteLength),
        Stream.mapAccum(0, (from, to) => [to, bytes.subarray(from, to)]),
        Stream.filter((view) => view.byteLength > 0)
      )
    }),
    "application/octet-stream",
    bytes.byteLength
  )
}

/** At most `buffers` part buffers, made as needed: `take` waits while every one is out. */
const pool = (buffers: number) =>
  Effect.map(Queue.bounded<Uint8Array>(buffers), (free) => {
    let allocated = 0
    return {
      take: Effect.flatMap(Queue.poll(free), (reused) =>
        Option.isSome(reused)
          ? Effect.succeed(reused.value)
          : allocated < buffers
          ? Effect.sync(() => {
            allocated += 1
            return new Uint8Array(partSize)
          })
          : Queue.take(free)),
      // never blocks: no more than `buffers` buffers exist
      give: (buffer: Uint8Array) => Effect.asVoid(Queue.offer(free, buffer))
    }
  })

/**
 * A part handed on before its bytes are read: `fill` reads them into `bytes`, telling its body
 * ({@link fillingBody}) of new bytes a slice (1 MB) at a time, and completes `filled` (or fails
 * it as the reading failed).
 */
const livePart = <E, R>(
  number: number,
  bytes: Uint8Array,
  release: Effect.Effect<void>,
  read: (bytes: Uint8Array, progress: (filled: number) => Effect.Effect<void>) => Effect.Effect<void, E, R>
): Effect.Effect<{ readonly part: Part<E>; readonly fill: Effect.Effect<void, E, R> }> =>
  Effect.gen(function*() {
    const filled = yield* SubscriptionRef.make(0)
    const done = yield* Deferred.make<void, E>()
    let told = 0
    const tell = (count: number) =>
      count - told >= sliceSize || count === bytes.byteLength
        ? Effect.suspend(() => {
          told = count
          return SubscriptionRef.set(filled, count)
        })
        : Effect.void
    return {
      part: {
        number,
        size: bytes.byteLength,
        body: fillingBody(bytes, filled, done),
        filled: Deferred.await(done),
        release
      },
      fill: Effect.zipRight(Effect.intoDeferred(read(bytes, tell), done), Deferred.await(done))
    }
  })

/**
 * The parts of a caller's stream, read into at most `buffers` part buffers: a part's buffer goes
 * back to the pool once the part is acknowledged and the stream is not read while every buffer
 * is out. The stream is read front to back by one fiber, a part after the other, into the
 * parts' buffers. With `live` (a declared size, so every part's size is known before its bytes)
 * a part is handed on as soon as it has its buffer and its first PUT streams the bytes as they
 * are read ({@link fillingBody}): the next part's reading and this part's sending overlap, and a
 * part sent again goes whole. Otherwise (a stream of unknown length, whose last part's size is
 * known only at its end, or whole bodies) a part is handed on full. A declared size must be met
 * exactly; without one, the parts go on until the stream ends (the last one shorter). The stream
 * is read up to its first bytes before this answers, so that a stream without any fails before
 * the upload is initiated; the reading lasts as long as the scope.
 */
const streamParts = <E, R>(
  stream: Stream.Stream<Uint8Array, E, R>,
  size: number | undefined,
  buffers: number,
  live: boolean
): Effect.Effect<
  Stream.Stream<Part<E | FalError.FalError>, E | FalError.FalError>,
  E | FalError.FalError,
  R | Scope.Scope
> =>
  Effect.gen(function*() {
    const read = yield* reader(stream, size)
    if (!(yield* read.nonEmpty)) return yield* (size === undefined ? emptyStream : sizeMismatch(size, "0"))
    const buffer = yield* pool(buffers)
    // one part waiting to be taken: the others are in flight or not read yet
    const parts = yield* Mailbox.make<Part<E | FalError.FalError>, E | FalError.FalError>(1)
    const fillAll = Effect.gen(function*() {
      for (let number = 1;; number++) {
        const want = size === undefined ? partSize : Math.min(partSize, size - (number - 1) * partSize)
        if (want <= 0) return yield* read.end
        const whole = yield* buffer.take
        const release = buffer.give(whole)
        if (live && size !== undefined) {
          const { fill, part } = yield* livePart(
            number,
            whole.subarray(0, want),
            release,
            (bytes, progress): Effect.Effect<void, E | FalError.FalError, R> =>
              Effect.flatMap(
                read.fill(bytes, progress),
                (count) => count < want ? sizeMismatch(size, `${read.seen()}`) : Effect.void
              )
          )
          yield* parts.offer(part)
          yield* fill
          continue
        }
        const count = yield* read.fill(whole.subarray(0, want))
        if (count < want && size !== undefined) return yield* sizeMismatch(size, `${read.seen()}`)
        if (count === 0) return yield* (number === 1 ? emptyStream : Effect.void)
        const bytes = whole.subarray(0, count)
        yield* parts.offer({ number, size: count, body: partBody(bytes), filled: Effect.void, release })
        if (count < want) return
      }
    })
    yield* Effect.forkScoped(Mailbox.into(fillAll, parts))
    return Mailbox.toStream(parts)
  })

/**
 * The parts of a `Blob` (`uploadBody: "stream"`), each read from its own slice into a part
 * buffer while it is sent ({@link livePart}): the parts in flight are read at once, not one
 * after the other as a stream's. At most `buffers` buffers; each part's reading lasts as long
 * as the scope.
 */
const blobParts = (
  blob: Blob,
  buffers: number
): Effect.Effect<Stream.Stream<Part<FalError.FalError>>, never, Scope.Scope> =>
  Effect.zipWith(
    pool(buffers),
    Effect.scope,
    (buffer, scope) =>
      Stream.mapEffect(Stream.range(1, Math.ceil(blob.size / partSize)), (number) =>
        Effect.gen(function*() {
          const start = (number - 1) * partSize
          const end = Math.min(start + partSize, blob.size)
          const whole = yield* buffer.take
          const { fill, part } = yield* livePart(
            number,
            whole.subarray(0, end - start),
            buffer.give(whole),
            (bytes, progress): Effect.Effect<void, FalError.FalError> =>
              Effect.scoped(Effect.flatMap(reader(blobBytes(blob.slice(start, end)), bytes.byteLength), (read) =>
                Effect.flatMap(
                  read.fill(bytes, progress),
                  (count) =>
                    count < bytes.byteLength
                      ? readFailure(`the Blob ended after ${start + count} of its ${blob.size} bytes`)
                      : Effect.void
                )))
          )
          yield* Effect.forkIn(fill, scope)
          return part
        }))
  )

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

const uploaded = <E, R>(source: Plan<E, R>, url: string, size: number, parts: number): UploadedFile => ({
  url,
  contentType: source.contentType,
  fileName: source.fileName,
  size,
  parts
})

/** A failure of reading a Blob, recorded by its body, in place of the transport error it caused. */
const orSourceFailure = <A>(
  failures: SourceFailures,
  effect: Effect.Effect<A, FalError.FalError>
): Effect.Effect<A, FalError.FalError> =>
  Effect.catchAll(
    effect,
    (error) =>
      Effect.flatMap(Ref.get(failures), Option.match({ onNone: () => Effect.fail(error), onSome: Effect.fail }))
  )

/**
 * One PUT of bytes that can be read again (a `Uint8Array`, a `Blob`, or a short stream read
 * into memory first), so a PUT that fails transiently is sent again with the same bytes: the
 * signed URL takes them again, an answer lost after they were stored included.
 */
const single = <E, R>(
  service: Service,
  source: Plan<E, R>,
  data: Uint8Array | Blob,
  options: Options
): Effect.Effect<UploadedFile, FalError.FalError> =>
  Effect.gen(function*() {
    const size = data instanceof Blob ? data.size : data.byteLength
    const initiated = yield* initiate(service, source, false)
    const failures: SourceFailures = yield* Ref.make(Option.none<FalError.FalError>())
    const progress = yield* reporter(options, size)
    const whole = service.uploadBody === "whole"
    const body = whole
      ? wholeBody(data, source.contentType)
      : HttpBody.stream(singleBody(data, progress, failures), source.contentType, size)
    yield* orSourceFailure(
      failures,
      Request.execute(uploadPipeline(service), {
        operation: "upload.put",
        request: HttpClientRequest.put(initiated.upload_url).pipe(HttpClientRequest.setBody(body)),
        retryAlso: transient,
        onResponse: (response) =>
          Effect.asVoid(Effect.mapError(response.text, (error) => Errors.transport("upload.put", error, undefined)))
      })
    )
    // a whole body is reported once it is stored
    if (whole && size > 0) yield* progress.atLeast(size)
    if (size === 0 && options.onProgress !== undefined) {
      yield* options.onProgress({ _tag: "Progress", loaded: 0, total: 0 })
    }
    return uploaded(source, initiated.file_url, size, 0)
  })

/** A stream of a declared size small enough for one part, read whole before anything is sent. */
const readWhole = <E, R>(
  stream: Stream.Stream<Uint8Array, E, R>,
  size: number
): Effect.Effect<Uint8Array, E | FalError.FalError, R> =>
  Effect.scoped(Effect.gen(function*() {
    const read = yield* reader(stream, size)
    const bytes = new Uint8Array(size)
    const filled = yield* read.fill(bytes)
    if (filled < size) return yield* sizeMismatch(size, `${filled}`)
    yield* read.end
    return bytes
  }))

/** A part's body: its buffer, or its slice of a Blob (`uploadBody: "whole"`), as a whole value. */
const partBody = (bytes: Uint8Array | Blob): HttpBody.HttpBody => wholeBody(bytes, "application/octet-stream")

/**
 * A multipart upload: `concurrency` parts in flight (`Stream.mapEffect` keeps their order, so the
 * complete lists them as numbered), each its own `upload.part` call with its own retries.
 * Interrupting it interrupts every part in flight (their requests are aborted) and sends nothing
 * more: no complete, so fal keeps no file.
 */
const multipart = <E, R>(
  service: Service,
  source: Plan<E, R>,
  options: Options,
  parts: Stream.Stream<Part<E | FalError.FalError>, E | FalError.FalError, R>
): Effect.Effect<UploadedFile, E | FalError.FalError, R> =>
  Effect.gen(function*() {
    const initiated = yield* initiate(service, source, true)
    const pipeline = uploadPipeline(service)
    const target = new URL(initiated.upload_url)
    const at = (suffix: string) => `${target.origin}${target.pathname}/${suffix}${target.search}`
    const progress = yield* reporter(options, source.source.size)
    /** Sends a part (again after a transient failure: its body is read anew each time) and reports it. */
    const sendPart = (part: Part<E | FalError.FalError>) =>
      Request.execute(pipeline, {
        operation: "upload.part",
        request: HttpClientRequest.put(at(String(part.number))).pipe(HttpClientRequest.setBody(part.body)),
        retryAlso: transient,
        onResponse: (response) =>
          readJson("upload.part", response, PartAnswer).pipe(
            Effect.filterOrFail(
              (answer) => answer.partNumber === part.number,
              (answer) =>
                new FalError.DecodeError({
                  operation: "upload.part",
                  description: `the answer is for part ${answer.partNumber}, not ${part.number}`
                })
            )
          )
      }).pipe(
        // a part whose bytes could not all be read fails as the reading did, its PUT aborted
        // (a race: `Effect.zipLeft` with `concurrent` left the PUT running inside its timeouts)
        Effect.raceFirst(Effect.zipRight(part.filled, Effect.never)),
        Effect.tap(() => progress.add(part.size)),
        // its buffer goes back once it is acknowledged and its bytes all read; a part that
        // failed fails the upload, and its buffer with it
        Effect.tap(() => Effect.zipRight(part.filled, part.release)),
        Effect.map((answer) => ({ partNumber: answer.partNumber, etag: answer.etag, size: part.size }))
      )
    const answers = Chunk.toReadonlyArray(
      yield* Stream.runCollect(Stream.mapEffect(parts, sendPart, { concurrency: source.concurrency }))
    )
    const list = answers.map((answer) => ({ partNumber: answer.partNumber, etag: answer.etag }))
    // Completing twice names the same parts: a complete whose answer was lost is sent again.
    yield* Request.execute(pipeline, {
      operation: "upload.complete",
      request: HttpClientRequest.post(at("complete")).pipe(HttpClientRequest.bodyUnsafeJson({ parts: list })),
      retryAlso: transient,
      onResponse: (response) =>
        Effect.asVoid(Effect.mapError(response.text, (error) => Errors.transport("upload.complete", error, undefined)))
    })
    const size = answers.reduce((sum, answer) => sum + answer.size, 0)
    return uploaded(source, initiated.file_url, size, list.length)
  })

/**
 * `Storage.upload`: validate everything, initiate, send the bytes, return the CDN URL. Up to 90 MB
 * of a `Uint8Array` or a `Blob` go in one PUT, larger ones in parts (a Blob's read into part
 * buffers, unless `uploadBody` is `"whole"`). A stream of a declared size
 * up to one part is read whole first and sent in one PUT (so that it can be sent again); a longer
 * one, or one of unknown length, goes in parts.
 */
export const upload = Effect.fn("fal.storage.upload", { kind: "client" })(<E = never, R = never>(
  data: Data<E, R>,
  options: Options = {}
): Effect.Effect<UploadedFile, E | FalError.FalError, FalClient | R> =>
  Effect.gen(function*() {
    const service = yield* FalClient
    const source = yield* plan(data, options, service.uploadConcurrency)
    const bytes = source.source
    if (bytes._tag === "Bytes") {
      if (bytes.size <= singleLimit) return yield* single(service, source, bytes.data, options)
      // a Blob's parts read into part buffers, each from its slice: see "Memory" above
      return yield* (bytes.data instanceof Blob && service.uploadBody === "stream"
        ? Effect.scoped(Effect.flatMap(
          blobParts(bytes.data, source.concurrency),
          (parts) => multipart(service, source, options, parts)
        ))
        : multipart(service, source, options, bytesParts(bytes.data, bytes.size)))
    }
    if (bytes.size !== undefined && bytes.size <= partSize) {
      return yield* single(service, source, yield* readWhole(bytes.stream, bytes.size), options)
    }
    return yield* Effect.scoped(Effect.flatMap(
      streamParts(bytes.stream, bytes.size, source.concurrency, service.uploadBody === "stream"),
      (parts) => multipart(service, source, options, parts)
    ))
  })
)
