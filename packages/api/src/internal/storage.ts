import * as InvalidRequestOptions from "@effect-fal/headers/InvalidRequestOptions"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { FalClient, type Service } from "../FalClient.js"
import * as FalError from "../FalError.js"
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
// errors

const transportError = (operation: string, error: HttpClientError.HttpClientError): FalError.TransportError => {
  // `Errors.transport` classifies the cause; the operation name is the upload step's.
  const classified = Errors.transport("status", error, undefined)
  return new FalError.TransportError({
    operation,
    mayHaveReached: classified.mayHaveReached,
    description: classified.description
  })
}

const statusError = (
  service: Service,
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<never, FalError.FalError> =>
  Effect.flatMap(
    Effect.orElseSucceed(response.text, () => ""),
    (text) =>
      // The operation only tells a full queue from a rate limit for submits; an upload never sets `maxQueueLength`.
      Effect.flip(Effect.map(
        Errors.fromStatus({ operation: "status" }, response.status, response.headers, text),
        Request.redactError(service)
      ))
  )

const decodeError = (operation: string, status: number, error: ParseResult.ParseError) =>
  new FalError.DecodeError({
    operation,
    status,
    description: Errors.clip(ParseResult.TreeFormatter.formatErrorSync(error), 2000)
  })

/** A failure of the caller's stream (or of reading a Blob) while the transport reads a body; unwrapped after the request fails. */
class SourceFailure<E> {
  constructor(readonly error: E) {}
}

/** A request error whose cause is a body's source failing: that failure, as it was. */
const unwrapSource = <E>(error: HttpClientError.HttpClientError): Option.Option<E | FalError.FalError> => {
  const cause: unknown = error.cause
  if (cause instanceof SourceFailure) {
    const inner: SourceFailure<E | FalError.FalError> = cause
    return Option.some(inner.error)
  }
  return Option.none()
}

/**
 * Sends a request; a non-2xx answer is the matching `FalError`, a dropped connection a
 * `TransportError`, and a failure of a streamed body's source that failure, as it was.
 */
const send = <E = never>(
  service: Service,
  client: HttpClient.HttpClient,
  operation: string,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<HttpClientResponse.HttpClientResponse, E | FalError.FalError> =>
  client.execute(request).pipe(
    Effect.catchAll((error): Effect.Effect<never, E | FalError.FalError> =>
      Option.match(unwrapSource<E>(error), {
        onSome: Effect.fail,
        onNone: () =>
          error._tag === "ResponseError" && error.reason === "StatusCode"
            ? statusError(service, error.response)
            : Effect.fail(transportError(operation, error))
      })
    ),
    Effect.flatMap((response) =>
      response.status >= 200 && response.status < 300 ? Effect.succeed(response) : statusError(service, response)
    )
  )

const readJson = <A, I>(
  operation: string,
  response: HttpClientResponse.HttpClientResponse,
  schema: Schema.Schema<A, I>
): Effect.Effect<A, FalError.FalError> =>
  response.text.pipe(
    Effect.mapError((error) => transportError(operation, error)),
    Effect.flatMap((text) =>
      Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: () =>
          new FalError.DecodeError({
            operation,
            status: response.status,
            description: `the body is not JSON: ${JSON.stringify(Errors.clip(text, 120))}`
          })
      })
    ),
    Effect.flatMap((json) =>
      Schema.decodeUnknown(schema)(json).pipe(
        Effect.mapError((error) => decodeError(operation, response.status, error))
      )
    )
  )

/** Part failures worth another attempt: no answer, a 5xx, a 408 or a 429. */
const transient = (error: FalError.FalError): boolean => {
  switch (error._tag) {
    case "TransportError":
    case "ServerError":
    case "RateLimited":
      return true
    case "RequestFailed":
      return error.status === 408 || (error.status !== undefined && error.status >= 500)
    default:
      return false
  }
}

/**
 * Each part (and a replayable single PUT) is tried up to 3 more times after a transient failure,
 * with a short exponential backoff.
 */
const retryTransient = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.retry(effect, {
    schedule: Schedule.exponential("100 millis"),
    times: 3,
    while: (error) => FalError.isFalError(error) && transient(error)
  })

// ---------------------------------------------------------------------------------------------
// the transfer

const Initiated = Schema.Struct({ upload_url: Schema.String, file_url: Schema.String })

const PartAnswer = Schema.Struct({ partNumber: Schema.Number, etag: Schema.String })

/**
 * The client for the pre-signed upload URLs: the service's client, whose outermost step adds
 * `Authorization` for fal's bases, with one more step after it that takes the header off again.
 * A pre-signed URL may well lie under the storage base (the emulator serves both), and it must
 * never see the key.
 */
export const uploadClient = (service: Service): HttpClient.HttpClient =>
  HttpClient.mapRequest(service.httpClient, withoutAuthorization)

// Memory: the bytes are never copied whole. A `Uint8Array` is sent as views of itself; a `Blob`
// (a file-backed one from `fs.openAsBlob` included) as slices streamed from the Blob, read again
// for a retry; only a caller's `Stream` is buffered, a part at a time, in one buffer used over
// and over: a fresh 10 MB buffer per part lives long enough to be promoted to the old generation
// and piles up as garbage until the next full collection.

const readFailure = (cause: unknown) =>
  new SourceFailure(
    new FalError.TransportError({
      operation: "upload",
      mayHaveReached: true,
      description: `reading the Blob failed: ${Errors.clip(String(cause))}`
    })
  )

/** A Blob's bytes as the transport reads them, in the Blob's own chunks; a new read each time it runs. */
const blobBytes = (blob: Blob): Stream.Stream<Uint8Array, SourceFailure<FalError.FalError>> =>
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

/** The body of a single PUT, streamed; `counted` reports each chunk as the transport reads it. */
const singleBody = <E, R>(
  source: Plan<E, R>,
  counted: (n: number) => Effect.Effect<void>
): Stream.Stream<Uint8Array, SourceFailure<E | FalError.FalError>, R> => {
  const data = source.data
  const bytes: Stream.Stream<Uint8Array, E | FalError.FalError | SourceFailure<FalError.FalError>, R> =
    data instanceof Uint8Array
      ? Stream.map(
        Stream.range(0, Math.ceil(data.byteLength / sliceSize) - 1, 1),
        (index) => data.subarray(index * sliceSize, Math.min((index + 1) * sliceSize, data.byteLength))
      )
      : data instanceof Blob
      ? blobBytes(data)
      : exactly(data)
  return bytes.pipe(
    Stream.tap((chunk) => counted(chunk.byteLength)),
    Stream.mapError((error) => error instanceof SourceFailure ? error : new SourceFailure(error))
  )
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
  const operation = `upload.${step}`
  const request = HttpClientRequest.post(`${service.urls.storage}/storage/upload/${step}`).pipe(
    HttpClientRequest.setUrlParam("storage_type", "fal-cdn-v3"),
    HttpClientRequest.bodyUnsafeJson({ content_type: source.contentType, file_name: source.fileName }),
    source.lifecycle === undefined
      ? (request) => request
      : HttpClientRequest.setHeader(Lifecycle.headerName, source.lifecycle)
  )
  // A repeated initiate only opens another upload session, left unused: safe to retry.
  return retryTransient(send(service, service.httpClient, operation, request)).pipe(
    Effect.flatMap((response) => readJson(operation, response, Initiated)),
    Effect.filterOrFail(
      (answer) => URL.canParse(answer.upload_url),
      (answer) =>
        new FalError.DecodeError({
          operation,
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

const single = <E, R>(
  service: Service,
  source: Plan<E, R>,
  options: Options
): Effect.Effect<UploadedFile, E | FalError.FalError, R> =>
  Effect.gen(function*() {
    const initiated = yield* initiate(service, source, false)
    const client = uploadClient(service)
    const attempt = Effect.gen(function*() {
      const loaded = yield* Ref.make(0)
      const counted = (n: number) =>
        Ref.updateAndGet(loaded, (total) => total + n).pipe(
          Effect.flatMap((sent) => report(options, sent, source.size))
        )
      const context = yield* Effect.context<R>()
      const body = HttpBody.stream(
        Stream.provideContext(singleBody(source, counted), context),
        source.contentType,
        source.size
      )
      const request = HttpClientRequest.put(initiated.upload_url).pipe(HttpClientRequest.setBody(body))
      yield* send<E>(service, client, "upload.put", request)
    })
    // A `Uint8Array` or a `Blob` can be read again; a caller's stream cannot.
    yield* isSized(source.data) ? attempt : retryTransient(attempt)
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
    const client = uploadClient(service)
    const target = new URL(initiated.upload_url)
    const at = (suffix: string) => `${target.origin}${target.pathname}/${suffix}${target.search}`
    const loaded = yield* Ref.make(0)
    const count = Math.ceil(source.size / partSize)
    const length = (number: number) => Math.min(partSize, source.size - (number - 1) * partSize)
    /** Sends a part (again after a transient failure: `body` is read anew each time) and reports it. */
    const sendPart = (number: number, body: HttpBody.HttpBody) => {
      const request = HttpClientRequest.put(at(String(number))).pipe(HttpClientRequest.setBody(body))
      const operation = `upload.part ${number}`
      return send<E>(service, client, operation, request).pipe(
        Effect.flatMap((response) => readJson(operation, response, PartAnswer)),
        Effect.filterOrFail(
          (answer) => answer.partNumber === number,
          (answer) =>
            new FalError.DecodeError({
              operation,
              description: `the answer is for part ${answer.partNumber}, not ${number}`
            })
        ),
        retryTransient,
        Effect.tap(() =>
          Ref.updateAndGet(loaded, (n) => n + length(number)).pipe(
            Effect.flatMap((sent) => report(options, sent, source.size))
          )
        )
      )
    }
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
    const complete = HttpClientRequest.post(at("complete")).pipe(HttpClientRequest.bodyUnsafeJson({ parts: list }))
    yield* send(service, client, "upload.complete", complete).pipe(Effect.flatMap((response) =>
      response.text.pipe(
        Effect.mapError((error) => transportError("upload.complete", error))
      )
    ))
    return uploaded(source, initiated.file_url, list.length)
  })

/**
 * Every `FalError` of an upload goes through the client's redactor, server text quoted by a
 * `DecodeError` or a transport description included; a failure of the caller's stream is left
 * as it was.
 */
const redacted = (service: Service) => <E>(error: E | FalError.FalError): E | FalError.FalError =>
  FalError.isFalError(error) ? Request.redactError(service)(error) : error

/** `Storage.upload`: validate everything, initiate, send the bytes, return the CDN URL. */
export const upload = <E = never, R = never>(
  data: Data<E, R>,
  options: Options = {}
): Effect.Effect<UploadedFile, E | FalError.FalError, FalClient | R> =>
  Effect.gen(function*() {
    const source = yield* plan(data, options)
    const service = yield* FalClient
    return yield* (source.size > singleLimit ? multipart(service, source, options) : single(service, source, options))
      .pipe(Effect.mapError(redacted(service)))
  }).pipe(
    Effect.withSpan("fal.storage.upload", { kind: "client" })
  )
