/**
 * `Fal.stream`: validate, upload the input's files, `POST {run}/{model id}/stream` through the
 * call pipeline (`Request.open`, operation `stream`), and read the answer as a `Stream`: Server-Sent
 * Events decoded with `./sse.ts` (each event's data one JSON partial output), or the raw bytes of
 * any other content type. The silence between chunks is bounded by `Stream.timeoutFail`.
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { currentCredential, FalClient } from "../FalClient.js"
import * as FalError from "../FalError.js"
import type * as FalStream from "../FalStream.js"
import { TokenProvider } from "../TokenProvider.js"
import * as Errors from "./errors.js"
import * as Request from "./request.js"
import { queueOnly } from "./run.js"
import * as Sse from "./sse.js"
import * as UploadInput from "./uploadInput.js"

export const defaultIdleTimeout: Duration.Duration = Duration.seconds(15)

const invalid = (option: string, msg: string) =>
  new FalError.ValidationError({ issues: [new FalError.ValidationIssue({ loc: [option], msg, type: "value_error" })] })

const idleOf = (
  input: Duration.DurationInput | undefined
): Either.Either<Duration.Duration, FalError.ValidationError> => {
  if (input === undefined) return Either.right(defaultIdleTimeout)
  const decoded = Duration.decodeUnknown(input)
  return Option.isSome(decoded) && Duration.greaterThan(decoded.value, Duration.zero)
    ? Either.right(decoded.value)
    : Either.left(invalid("idleTimeout", "must be a positive duration (Duration.infinity for none)"))
}

const isEventStream = (contentType: string | undefined) =>
  contentType !== undefined && contentType.toLowerCase().startsWith("text/event-stream")

/** The partial outputs of an event stream: JSON per event, an `error` event fails the stream. */
const events = <A, I>(
  bytes: Stream.Stream<Uint8Array, FalError.FalError>,
  context: { readonly modelId: string; readonly requestId: string | undefined; readonly status: number },
  schema: Schema.Schema<A, I> | undefined
): Stream.Stream<A, FalError.FalError> => {
  const ids = context.requestId === undefined ? {} : { requestId: context.requestId }
  const decodeOutput = schema === undefined ? undefined : Schema.decodeUnknownEither(schema)
  return Sse.events(bytes, (reason) =>
    new FalError.DecodeError({
      operation: "stream",
      modelId: context.modelId,
      description: `the event stream cannot be read: ${Errors.clip(reason, 200)}`,
      ...ids
    })).pipe(
      Stream.mapChunksEffect((chunk): Effect.Effect<Chunk.Chunk<A>, FalError.FalError> => {
        const out: Array<A> = []
        for (const event of chunk) {
          if (event.event === "error") {
            const body = Errors.parseBody(event.data)
            return Effect.fail(
              new FalError.RequestFailed({
                operation: "stream",
                modelId: context.modelId,
                status: context.status,
                detail: body.detail ?? Errors.clip(event.data, 500),
                ...(body.errorType === undefined ? {} : { errorType: body.errorType }),
                ...ids
              })
            )
          }
          let value: unknown
          try {
            value = JSON.parse(event.data)
          } catch {
            return Effect.fail(
              new FalError.DecodeError({
                operation: "stream",
                modelId: context.modelId,
                status: context.status,
                description: `an event's data is not JSON: ${JSON.stringify(Errors.clip(event.data, 120))}`,
                ...ids
              })
            )
          }
          if (decodeOutput === undefined) {
            out.push(value as A) // only reachable through the overloads without a schema, where A is `unknown` or the endpoint's output
          } else {
            const decoded = decodeOutput(value)
            if (Either.isLeft(decoded)) {
              return Effect.fail(
                new FalError.DecodeError({
                  operation: "stream",
                  modelId: context.modelId,
                  status: context.status,
                  description: Errors.clip(ParseResult.TreeFormatter.formatErrorSync(decoded.left), 2000),
                  ...ids
                })
              )
            }
            out.push(decoded.right)
          }
        }
        return Effect.succeed(Chunk.unsafeFromArray(out))
      })
    )
}

/**
 * The body read at most once: whichever of `events` or `bytes` runs first reads it; the other (or a
 * second run) fails. When the scope closes without either having run, the answer is abandoned
 * (the platform aborts the request once its body stream ends unread).
 */
export const open = Effect.fn("fal.stream", { kind: "client" })(<A = unknown, I = unknown>(
  modelId: string,
  input: unknown,
  options?: FalStream.Options & {
    readonly output?: Schema.Schema<A, I> | undefined
    readonly auth?: "key" | "token" | undefined
  }
): Effect.Effect<FalStream.FalStream<A>, FalError.FalError, FalClient | Scope.Scope> =>
  Effect.gen(function*() {
    yield* Effect.annotateCurrentSpan("fal.model_id", modelId)
    const service = yield* FalClient
    // everything the caller passed is checked before anything is sent (uploads included)
    yield* Request.modelId(modelId)
    yield* Request.wire(service, options?.options)
    const rejected = queueOnly(options?.options)
    if (Option.isSome(rejected)) return yield* rejected.value
    const idle = yield* idleOf(options?.idleTimeout)
    // the public overloads require a TokenProvider for `auth: "token"`; looked up, not required, here
    const provider = options?.auth === "token" ? yield* Effect.serviceOption(TokenProvider) : Option.none()
    if (options?.auth === "token" && Option.isNone(provider)) {
      return yield* new FalError.Unauthorized({
        operation: "stream",
        modelId,
        detail: "auth: \"token\" needs a TokenProvider layer (TokenProvider.layer or TokenProvider.layerKey)"
      })
    }
    const token = Option.isSome(provider) ? Option.some(yield* provider.value.token(modelId)) : Option.none()
    const sent = yield* UploadInput.auto(service, modelId, input, options)
    const prepared = yield* Request.modelRequest(service, service.urls.run, modelId, sent, options?.options)
    let request = prepared.request.pipe(
      HttpClientRequest.appendUrl("/stream"),
      HttpClientRequest.setHeader("accept", "text/event-stream")
    )
    let redact = service.redact
    if (Option.isSome(token)) {
      const value = Redacted.value(token.value.value)
      request = HttpClientRequest.setUrlParam(request, "fal_jwt_token", value)
      redact = (text) => service.redact(text).replaceAll(value, "<redacted>")
    }
    const opening = Request.open({ ...service, redact }, {
      operation: "stream",
      modelId,
      request,
      retry: options?.retry,
      timeouts: options?.timeouts
    })
    const opened = yield* Option.isSome(token) ? Effect.locally(opening, currentCredential, "none") : opening
    const requestId = opened.meta.requestId
    yield* Request.annotate({ requestId, meta: opened.meta })
    const contentType = opened.headers["content-type"] ?? "application/octet-stream"
    const idleError = () =>
      new FalError.TransportError({
        operation: "stream",
        mayHaveReached: true,
        timeout: "body",
        description: `no chunk within ${Duration.format(idle)} (idle timeout); a stream is never sent again`,
        ...(requestId === undefined ? {} : { requestId })
      })
    let taken = false
    const body: Stream.Stream<Uint8Array, FalError.FalError> = Stream.suspend(() => {
      if (taken) {
        return Stream.fail(
          new FalError.DecodeError({
            operation: "stream",
            modelId,
            description: "the answer's body was already read (read either events or bytes, once)",
            ...(requestId === undefined ? {} : { requestId })
          })
        )
      }
      taken = true
      return Duration.isFinite(idle) ? Stream.timeoutFail(opened.body, idleError, idle) : opened.body
    })
    yield* Effect.addFinalizer(() =>
      // never read: read nothing and end, so that the platform aborts the request
      taken ? Effect.void : Effect.ignore(Stream.runDrain(Stream.interruptWhen(body, Effect.void)))
    )
    const context = { modelId, requestId, status: opened.status }
    const handle: FalStream.FalStream<A> = {
      requestId,
      meta: opened.meta,
      contentType,
      isEventStream: isEventStream(contentType),
      events: isEventStream(contentType)
        ? events(body, context, options?.output)
        : Stream.fail(
          new FalError.DecodeError({
            operation: "stream",
            modelId,
            status: opened.status,
            description: `the answer is binary (${contentType}), not an event stream: read its bytes`,
            ...(requestId === undefined ? {} : { requestId })
          })
        ),
      bytes: body
    }
    return handle
  })
)
