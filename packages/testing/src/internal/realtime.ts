/**
 * The realtime WebSocket of the `run` base (SPEC section 12): `GET /{owner}/{app}/realtime`
 * (or any other path under the app) with `Upgrade: websocket`, authenticated by the
 * `fal_jwt_token` query parameter. Each frame is one input: MessagePack in a binary frame, JSON in
 * a text frame, answered in the same kind. The input runs the registered model `owner/app`
 * (validated by its input Schema, as a synchronous run would be); its output is answered with the
 * input's `request_id` when it had one, a failure as an `x-fal-error` frame. The token is checked
 * when the socket opens and again on every frame: an expired or unknown token is answered with
 * fal's unauthorized message (`{"status": "error", "error": "Unauthorized"}`, which fal's client
 * reads as "fetch a new token") and the socket is closed with code 1008.
 *
 * The upgrade is `HttpServerRequest.upgrade`: only a server that can upgrade (the loopback
 * emulator's Node server) serves it; the in-memory transport answers it 426.
 *
 * Frames are encoded with `msgpackr` (the library `@effect/platform`'s `MsgPack` wraps) one frame
 * at a time: `MsgPack`'s channels decode a byte stream, while here every frame is one message and
 * a text frame is JSON instead.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Socket from "@effect/platform/Socket"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { Packr } from "msgpackr"
import type * as FalPlatform from "../FalPlatform.js"
import type * as Model from "../Model.js"
import { Call, PlatformEnv } from "./call.js"
import * as Cdn from "./cdn.js"
import { detail } from "./http.js"
import { type Env, now, publish, uuid } from "./state.js"
import * as Tokens from "./tokens.js"

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

/** The close code of an unauthorized connection (policy violation). */
export const unauthorizedCode = 1008

/** fal's unauthorized message: its client fetches a new token on it. */
const unauthorized = { status: "error", error: "Unauthorized" } as const

const xFalError = (error: string, reason: string) => ({ type: "x-fal-error", error, reason })

/** Whether the connection's token is still good for the app, on the platform's Clock. */
const tokenValid = (env: Env, token: string, app: string): Effect.Effect<boolean> =>
  Effect.map(Tokens.validate(env, token, app), (check) => check === "valid")

const record = (env: Env, event: FalPlatform.RealtimeEvent): Effect.Effect<void> =>
  Effect.zipRight(Ref.update(env.realtime, Chunk.append(event)), publish(env, "realtime"))

const isUpgrade = (request: HttpServerRequest.HttpServerRequest): boolean =>
  (request.headers.upgrade ?? "").toLowerCase() === "websocket"

const decodeFrame = (frame: string | Uint8Array): Either.Either<unknown, string> => {
  try {
    return Either.right(typeof frame === "string" ? JSON.parse(frame) : packr.unpack(frame))
  } catch (error) {
    return Either.left(error instanceof Error ? error.message : String(error))
  }
}

const encodeFrame = (kind: "binary" | "text", value: unknown): string | Uint8Array =>
  kind === "text" ? JSON.stringify(value) : packr.pack(value)

const issuesText = (issues: unknown): string =>
  Array.isArray(issues)
    ? issues.map((issue: { readonly loc?: ReadonlyArray<unknown>; readonly msg?: unknown }) =>
      `${(issue.loc ?? []).filter((part) => part !== "body").join(".")}: ${String(issue.msg)}`
    ).join("; ")
    : String(issues)

/** Runs the model on one input: its output, or the `x-fal-error` frame of its failure. */
const answer = (env: Env, model: Model.Model, input: unknown, cdnBase: string): Effect.Effect<unknown> =>
  Effect.gen(function*() {
    const requestId = typeof input === "object" && input !== null && "request_id" in input
      ? input.request_id
      : undefined
    const id = yield* uuid
    const ctx: Model.ModelContext = {
      requestId: id,
      attempt: 1,
      runnerId: "realtime",
      log: () => Effect.void,
      writeFile: (file) =>
        Effect.map(
          Cdn.putFile(env, { ...file, cdnBase, kind: "output", requestId: id, lifecycle: undefined }),
          (written) => written.url
        )
    }
    const result = yield* Effect.either(model.run(input, ctx))
    if (Either.isLeft(result)) {
      const failure = result.left
      const frame = failure.status === 422
        ? xFalError("VALIDATION_ERROR", issuesText(failure.detail))
        : xFalError(
          failure.errorType ?? "INTERNAL_ERROR",
          typeof failure.detail === "string" ? failure.detail : JSON.stringify(failure.detail)
        )
      return requestId === undefined ? frame : { ...frame, request_id: requestId }
    }
    const output = result.right
    return requestId !== undefined && typeof output === "object" && output !== null && !Array.isArray(output)
      ? { ...output, request_id: requestId }
      : output
  })

/** `max_buffering`: absent, or an integer in 1..60. */
const checkMaxBuffering = (value: string | undefined): Option.Option<string> =>
  value === undefined || (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 60)
    ? Option.none()
    : Option.some(`max_buffering must be an integer between 1 and 60, got ${JSON.stringify(value)}`)

/** The route: `GET {run}/{owner}/{app}/...` upgraded to a WebSocket. */
export const route = Effect.scoped(Effect.gen(function*() {
  const env = yield* PlatformEnv
  const call = yield* Call
  const request = yield* HttpServerRequest.HttpServerRequest
  if (!isUpgrade(request)) return detail(405, "Method Not Allowed")
  const parts = call.path.split("/").filter((part) => part.length > 0)
  if (parts.length < 2) return detail(404, "Invalid app id")
  const app = `${parts[0]}/${parts[1]}`
  const models = yield* Ref.get(env.models)
  const model = models.get(app)
  if (model === undefined) return detail(404, `Application '${app}' not found`)
  const socket = yield* Effect.either(request.upgrade)
  if (Either.isLeft(socket)) return detail(426, "Upgrade Required: this transport cannot open a WebSocket")
  const connection = call.gatewayId
  const token = call.query.fal_jwt_token ?? ""
  const path = `/${parts.slice(2).join("/")}`
  yield* record(env, {
    _tag: "Connected",
    connection,
    app,
    path,
    maxBuffering: call.query.max_buffering,
    at: yield* now
  })
  const write = yield* socket.right.writer
  const messages = yield* Ref.make(0)
  const closeWith = (code: number, reason: string) => write(new Socket.CloseEvent(code, reason))
  const refuse = (kind: "binary" | "text") =>
    Effect.zipRight(write(encodeFrame(kind, unauthorized)), closeWith(unauthorizedCode, "Unauthorized"))
  const badBuffering = checkMaxBuffering(call.query.max_buffering)
  const onOpen = Option.isSome(badBuffering)
    ? Effect.zipRight(
      write(encodeFrame("binary", xFalError("INVALID_PARAMETER", badBuffering.value))),
      closeWith(1008, badBuffering.value)
    )
    : Effect.flatMap(tokenValid(env, token, app), (valid) => valid ? Effect.void : refuse("binary"))
  const onFrame = (frame: string | Uint8Array) =>
    Effect.gen(function*() {
      const kind = typeof frame === "string" ? "text" : "binary"
      const seq = yield* Ref.getAndUpdate(messages, (n) => n + 1)
      const decoded = decodeFrame(frame)
      yield* record(env, {
        _tag: "Message",
        connection,
        seq,
        kind,
        input: Either.getOrUndefined(decoded),
        at: yield* now
      })
      if (!(yield* tokenValid(env, token, app))) return yield* refuse(kind)
      const output = Either.isLeft(decoded)
        ? xFalError("DECODE_ERROR", `The message could not be decoded: ${decoded.left}`)
        : yield* answer(env, model, decoded.right, call.urls.cdn)
      yield* write(encodeFrame(kind, output))
    }).pipe(Effect.catchAll(() => Effect.void))
  const ended = yield* socket.right.runRaw(
    (frame) => onFrame(typeof frame === "string" ? frame : new Uint8Array(frame)),
    { onOpen: Effect.catchAll(onOpen, () => Effect.void) }
  ).pipe(
    Effect.map(() => ({ code: 1000, reason: "" })),
    Effect.catchAll((error) =>
      Effect.succeed(
        Socket.SocketCloseError.is(error)
          ? { code: error.code, reason: error.closeReason ?? "" }
          : { code: 1006, reason: error.message }
      )
    ),
    Effect.onInterrupt(() =>
      Effect.flatMap(now, (at) => record(env, { _tag: "Closed", connection, code: 1001, reason: "", at }))
    )
  )
  yield* record(env, { _tag: "Closed", connection, code: ended.code, reason: ended.reason, at: yield* now })
  return HttpServerResponse.empty()
}))
