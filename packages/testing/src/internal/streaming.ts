/**
 * Streaming endpoints (SPEC section 11): `POST {run}/{model id}/stream` runs a model in the
 * request's fiber (no queue: fal streams from a runner at once) and answers its partial outputs as
 * Server-Sent Events, or its byte chunks for a binary content type. The first element is pulled
 * before the answer starts, so a model failing before it answers an ordinary error; after it, a
 * `ModelError` is an `event: error` and a `Fault.ConnectionReset` cuts the connection. Each stream
 * is recorded (`FalPlatform.StreamRecord`) with how it ended, interruption by a closed connection
 * included.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as FalPlatform from "../FalPlatform.js"
import * as Fault from "../Fault.js"
import * as Model from "../Model.js"
import { Call, PlatformEnv } from "./call.js"
import * as Cdn from "./cdn.js"
import { detail, readJson } from "./http.js"
import { validOptions } from "./middleware.js"
import { maxInputSize } from "./routers/accept.js"
import { type Env, now, publish, waitUntil } from "./state.js"
import * as Tokens from "./tokens.js"

const suffix = "/stream"

/** The model id a stream path addresses: the path without its final `/stream`. */
export const modelIdOf = (path: string): string =>
  path.slice(0, path.length - suffix.length).split("/").filter((s) => s.length > 0).join("/")

/** Whether a run path is a streaming call: it ends with `/stream` and names a model before it (not itself). */
export const isStreamPath = (env: Env, path: string): Effect.Effect<boolean> =>
  path.endsWith(suffix)
    ? Effect.map(Ref.get(env.models), (models) => {
      const full = path.split("/").filter((s) => s.length > 0).join("/")
      return !models.has(full) && models.has(modelIdOf(path))
    })
    : Effect.succeed(false)

const topic = (id: string) => `stream:${id}`

const record = (env: Env, id: string, f: (r: FalPlatform.StreamRecord) => FalPlatform.StreamRecord) =>
  Effect.zipRight(
    Ref.update(env.streams, (all) => HashMap.modify(all, id, f)),
    publish(env, topic(id))
  )

const encoder = new TextEncoder()

const errorEvent = (error: Model.ModelError): string =>
  `event: error\ndata: ${
    JSON.stringify({ detail: error.detail, ...(error.errorType === undefined ? {} : { error_type: error.errorType }) })
  }\n\n`

const sseOf = (item: unknown): string =>
  item instanceof Model.RawEvent ? `data: ${item.text}\n\n` : `data: ${JSON.stringify(item ?? null)}\n\n`

const answerFailure = (error: Model.ModelError) =>
  detail(
    error.status,
    error.detail,
    error.errorType,
    error.retryable === undefined ? {} : { "x-fal-retryable": String(error.retryable) }
  )

const handler = Effect.gen(function*() {
  const env = yield* PlatformEnv
  const call = yield* Call
  const modelId = modelIdOf(call.path)
  const model = (yield* Ref.get(env.models)).get(modelId)
  if (model === undefined) return detail(404, `Application '${modelId}' not found`)
  if (call.body.byteLength > maxInputSize) {
    return detail(413, `Request body larger than ${maxInputSize} bytes`, "request_too_large")
  }
  const input = readJson(call.body)
  if (Either.isLeft(input)) return detail(400, input.left, "bad_request")
  const streaming: Model.Streaming = model.streaming ?? {
    contentType: "text/event-stream",
    stream: (value, ctx) => Stream.fromEffect(model.run(value, ctx))
  }
  const id = call.gatewayId
  const options = Either.getOrUndefined(call.options)
  const ctx: Model.ModelContext = {
    requestId: id,
    attempt: 1,
    runnerId: `${modelId}#stream`,
    log: () => Effect.void,
    writeFile: (file) =>
      Effect.map(
        Cdn.putFile(env, {
          cdnBase: call.urls.cdn,
          fileName: file.fileName,
          contentType: file.contentType,
          content: file.content,
          kind: "output",
          requestId: id,
          lifecycle: Cdn.expirationOf(options?.objectLifecycle)
        }),
        (written) => written.url
      )
  }
  yield* Ref.update(env.streams, (all) =>
    HashMap.set(all, id, {
      requestId: id,
      modelId,
      contentType: streaming.contentType,
      auth: call.auth === "token" ? "token" : "key",
      chunks: 0,
      outcome: "streaming",
      startedAt: 0,
      endedAt: undefined
    }))
  const startedAt = yield* now
  yield* record(env, id, (r) => ({ ...r, startedAt }))
  // the model's stream is pulled in a scope of its own: the first element here, the rest by the
  // fiber writing the answer, which closes the scope when the answer ends (or is abandoned)
  const scope = yield* Scope.make()
  const pull = yield* Scope.extend(Stream.toPull(streaming.stream(input.right, ctx)), scope)
  const first = yield* Effect.either(pull)
  const end = (outcome: FalPlatform.StreamRecord["outcome"], chunks: number) =>
    Effect.flatMap(now, (endedAt) => record(env, id, (r) => ({ ...r, outcome, chunks, endedAt })))
  if (Either.isLeft(first) && Option.isSome(first.left)) {
    yield* Scope.close(scope, Exit.void)
    const error = first.left.value
    if (error._tag === "ConnectionReset") {
      yield* end("cut", 0)
      // a body that fails at once: both transports render it as a cut connection
      return HttpServerResponse.stream(Stream.fail(error), { contentType: streaming.contentType })
    }
    yield* end("failed", 0)
    return answerFailure(error)
  }
  const head = Either.isRight(first) ? first.right : Chunk.empty<unknown>()
  const items = Either.isRight(first)
    ? Stream.concat(Stream.fromChunk(head), Stream.repeatEffectChunkOption(pull))
    : Stream.empty
  let sent = 0
  let failed = false
  const sse = streaming.contentType.startsWith("text/event-stream")
  const bytes: Stream.Stream<Uint8Array, Fault.ConnectionReset> = sse
    ? items.pipe(
      Stream.mapChunks((chunk) => {
        sent += chunk.length
        let text = ""
        for (const item of chunk) text += sseOf(item)
        return Chunk.of(encoder.encode(text))
      }),
      Stream.catchAll((error) =>
        error._tag === "ModelError"
          ? Stream.sync(() => {
            failed = true
            return encoder.encode(errorEvent(error))
          })
          : Stream.fail(error)
      )
    )
    : items.pipe(
      Stream.filter((item): item is Uint8Array => item instanceof Uint8Array),
      Stream.tap(() => Effect.sync(() => void sent++)),
      Stream.catchAll((error) =>
        error._tag === "ModelError"
          ? Stream.suspend(() => {
            failed = true
            return Stream.fail(new Fault.ConnectionReset())
          })
          : Stream.fail(error)
      )
    )
  const body = bytes.pipe(
    Stream.ensuringWith((exit) =>
      Effect.zipRight(
        Scope.close(scope, Exit.void),
        end(
          Exit.isSuccess(exit)
            ? failed ? "failed" : "completed"
            : Exit.isInterrupted(exit)
            ? "cancelled"
            : failed
            ? "failed"
            : "cut",
          sent
        )
      )
    )
  )
  return HttpServerResponse.stream(body, {
    contentType: streaming.contentType,
    headers: { "cache-control": "no-cache" }
  })
})

/** `POST {run}/{model id}/stream`, with a key or a token valid for the model's app. */
export const route = handler.pipe(
  validOptions("detail"),
  Tokens.keyOrToken((call) => modelIdOf(call.path))
)

/** Waits until the stream of a request has ended (any outcome but `streaming`). */
export const awaitEnd = (env: Env, id: string): Effect.Effect<FalPlatform.StreamRecord> =>
  waitUntil(
    env,
    topic(id),
    Effect.map(Ref.get(env.streams), (all) => Option.filter(HashMap.get(all, id), (r) => r.outcome !== "streaming"))
  )
