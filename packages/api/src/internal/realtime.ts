/**
 * The realtime connection (SPEC section 12) on `@effect/platform`'s `Socket`.
 *
 * - One fiber, forked in the caller's scope, runs sessions one after the other: a session is one
 *   WebSocket (`Socket.makeWebSocket`) opened with the current token. A session ends on a clean
 *   close (the results end), an unauthorized answer (the next session opens with a fresh token),
 *   or another close or failure (the results fail with a `TransportError`).
 * - Sends go through a sliding queue of capacity 1 (latest wins); each session's sender takes
 *   from it, writes, then waits the throttle interval, so at most one frame leaves per interval
 *   and the newest input is the one sent.
 * - A second fiber refreshes the token at 90% of its lifetime on the `Clock`; the next session
 *   uses it.
 * - Frames are encoded with `msgpackr` (the library `@effect/platform`'s `MsgPack` wraps) one at
 *   a time: every WebSocket frame is one message, which `MsgPack`'s stream channels do not model,
 *   and the JSON option uses text frames.
 */
import * as InvalidRequestOptions from "@effect-fal/headers/InvalidRequestOptions"
import * as Socket from "@effect/platform/Socket"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Packr } from "msgpackr"
import * as FalClient from "../FalClient.js"
import * as FalError from "../FalError.js"
import * as ModelId from "../ModelId.js"
import type * as Realtime from "../Realtime.js"
import { TokenProvider } from "../TokenProvider.js"
import type * as Tokens from "../Tokens.js"

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

/** What a session ended with, when it did not fail. */
type SessionEnd = "closed" | "unauthorized"

/** An unauthorized answer before any output: the session is retried on the reconnect schedule. */
const unauthorizedError = (app: string, detail: string) =>
  new FalError.Unauthorized({ operation: "realtime", modelId: app, detail })

const validation = (app: string, msg: string, type = "value_error") =>
  new FalError.ValidationError({
    operation: "realtime",
    modelId: app,
    issues: [new FalError.ValidationIssue({ loc: ["input"], msg, type })]
  })

const invalidOption = (option: string, reason: string) =>
  new FalError.InvalidConfiguration({ option: `Realtime.${option}`, reason })

/** `{run}/{owner}/{app}{path}` with `http` made `ws`; the query is added per session. */
const baseUrl = (run: string, id: ModelId.ModelId, path: string): string =>
  `${run.replace(/^http/, "ws")}/${ModelId.appPath(id)}${path}`

const resolvePath = (id: ModelId.ModelId, path: string | undefined): Either.Either<string, FalError.FalError> => {
  const chosen = path ?? (id.path.length > 0 ? `/${id.path.join("/")}` : "/realtime")
  if (!chosen.startsWith("/") || /[?#\s]/.test(chosen) || chosen.split("/").some((s) => s === "..")) {
    return Either.left(
      new FalError.InvalidModelId({ modelId: id.id, reason: `realtime path ${JSON.stringify(chosen)} is not a path` })
    )
  }
  return Either.right(chosen)
}

const isUnauthorizedMessage = (value: unknown): boolean =>
  typeof value === "object" && value !== null && "status" in value && value.status === "error" &&
  "error" in value && value.error === "Unauthorized"

const isErrorFrame = (value: unknown): value is { readonly type: "x-fal-error" } & Record<string, unknown> =>
  typeof value === "object" && value !== null && "type" in value && value.type === "x-fal-error"

const text = (value: unknown): string | undefined =>
  value === undefined ? undefined : typeof value === "string" ? value : JSON.stringify(value)

/** The request id of a decoded frame, if any. */
const requestIdOf = (value: unknown): string | undefined =>
  typeof value === "object" && value !== null && "request_id" in value && typeof value.request_id === "string"
    ? value.request_id
    : undefined

export const connect: <O, I, OE, IE>(
  app: string,
  options: Realtime.Options<O, I, OE, IE> | undefined
) => Effect.Effect<
  Realtime.RealtimeConnection<O, I>,
  FalError.FalError | FalError.InvalidConfiguration,
  Scope.Scope | FalClient.FalClient | TokenProvider | Socket.WebSocketConstructor
> = Effect.fn("fal.realtime.connect", { kind: "client" })(
  function*<O, I, OE, IE>(app: string, options: Realtime.Options<O, I, OE, IE> | undefined) {
    // everything the caller passes is checked here, before anything is fetched or opened
    const id = yield* ModelId.parse(app)
    const appId = `${id.owner}/${id.app}`
    const path = yield* resolvePath(id, options?.path)
    const maxBuffering = options?.maxBuffering
    if (maxBuffering !== undefined && !(Number.isInteger(maxBuffering) && maxBuffering >= 1 && maxBuffering <= 60)) {
      return yield* InvalidRequestOptions.single({
        name: "max_buffering",
        location: "query",
        value: String(maxBuffering),
        reason: "must be an integer between 1 and 60"
      })
    }
    const throttleInput = options?.throttle ?? Duration.millis(128)
    const throttle = typeof throttleInput === "number" && !(throttleInput >= 0)
      ? Option.none()
      : Duration.decodeUnknown(throttleInput)
    if (Option.isNone(throttle) || !Duration.isFinite(throttle.value)) {
      return yield* invalidOption("throttle", "is not a finite duration >= 0")
    }
    const interval = throttle.value
    const openTimeout = Duration.decodeUnknown(options?.openTimeout ?? Duration.seconds(10))
    if (Option.isNone(openTimeout) || !Duration.greaterThan(openTimeout.value, Duration.zero)) {
      return yield* invalidOption("openTimeout", "is not a positive duration")
    }
    const json = options?.encoding === "json"
    const reconnect: Schedule.Schedule<unknown, FalError.FalError> = options?.reconnect ??
      Schedule.exponential(Duration.millis(250)).pipe(Schedule.intersect(Schedule.recurs(3)))
    const encodeInput: (input: I) => Either.Either<unknown, ParseResult.ParseError> = options?.input === undefined
      ? Either.right
      : Schema.encodeEither(options.input)
    const decodeOutput: (output: unknown) => Either.Either<O, ParseResult.ParseError> = options?.output === undefined
      ? (output) => Either.right(output as O)
      : Schema.decodeUnknownEither(options.output)

    const client = yield* FalClient.FalClient
    const provider = yield* TokenProvider
    const url = baseUrl(client.urls.run, id, path)
    const query = maxBuffering === undefined ? "" : `&max_buffering=${maxBuffering}`

    // latest wins while the throttle waits; with no throttle every input is sent
    const pending = Duration.isZero(interval)
      ? yield* Queue.unbounded<string | Uint8Array>()
      : yield* Queue.sliding<string | Uint8Array>(1)
    const results = yield* Mailbox.make<Either.Either<Realtime.Output<O>, Realtime.ErrorFrame>, FalError.FalError>()
    /** The token the next session opens with, and when it was fetched. */
    const current = yield* Ref.make(Option.none<{ readonly token: Tokens.Token; readonly at: number }>())
    /**
     * The last frame written that no answer followed yet: sent again after an unauthorized close.
     * A plain variable: the sender sets it and the socket's handler clears it, one session at a time.
     */
    let unanswered: string | Uint8Array | undefined = undefined

    const fetchToken = Effect.gen(function*() {
      const token = yield* provider.token(appId)
      const at = yield* Clock.currentTimeMillis
      yield* Ref.set(current, Option.some({ token, at }))
      return token
    })

    /** The token for a new session: the stored one, unless `fresh` and it is the one just refused. */
    const sessionToken = (refused: Option.Option<Tokens.Token>) =>
      Effect.flatMap(
        Ref.get(current),
        (stored) =>
          Option.isSome(stored) && (Option.isNone(refused) || stored.value.token !== refused.value)
            ? Effect.succeed(stored.value.token)
            : fetchToken
      )

    /**
     * What a frame is: an answer for `results`, fal's unauthorized message, or nothing to report.
     * Synchronous, so the socket's handler returns no effect for an answer and no fiber is
     * forked per message (`Socket.runRaw` runs a returned effect on a fiber of its own).
     */
    const classify = (
      data: string | Uint8Array
    ): Either.Either<Realtime.Output<O>, Realtime.ErrorFrame> | "unauthorized" | undefined => {
      let decoded: unknown
      try {
        decoded = typeof data === "string" ? JSON.parse(data) : packr.unpack(data)
      } catch (error) {
        return Either.left(
          new FalError.DecodeError({
            operation: "realtime",
            modelId: appId,
            description: `a frame could not be decoded: ${error instanceof Error ? error.message : String(error)}`
          })
        )
      }
      if (isUnauthorizedMessage(decoded)) {
        return "unauthorized"
      }
      const requestId = requestIdOf(decoded)
      if (isErrorFrame(decoded)) {
        // fal's idle notice: not an error of an input
        if (decoded.error === "TIMEOUT") {
          return undefined
        }
        const errorType = text(decoded.error)
        const reason = text(decoded.reason)
        return Either.left(
          new FalError.RequestFailed({
            operation: "realtime",
            modelId: appId,
            ...(requestId === undefined ? {} : { requestId }),
            ...(errorType === undefined ? {} : { errorType }),
            ...(reason === undefined ? {} : { detail: client.redact(reason) })
          })
        )
      }
      const output = decodeOutput(decoded)
      return Either.isRight(output)
        ? Either.right({ requestId, output: output.right })
        : Either.left(
          new FalError.DecodeError({
            operation: "realtime",
            modelId: appId,
            ...(requestId === undefined ? {} : { requestId }),
            description: ParseResult.TreeFormatter.formatErrorSync(output.left)
          })
        )
    }

    /** One WebSocket, from open to close. */
    const session = (
      token: Tokens.Token
    ): Effect.Effect<SessionEnd, FalError.FalError, Socket.WebSocketConstructor> =>
      Effect.scoped(Effect.gen(function*() {
        const target = `${url}?fal_jwt_token=${encodeURIComponent(Redacted.value(token.value))}${query}`
        const socket = yield* Socket.makeWebSocket(target, {
          openTimeout: openTimeout.value,
          closeCodeIsError: (code) => code !== 1000
        })
        const write = yield* socket.writer
        // set by the socket's handler: an answer came / fal's unauthorized message came
        let answered = false
        let refused = false
        // the sender: the next input (the latest, when throttled), then the throttle interval
        yield* Queue.take(pending).pipe(
          Effect.tap((frame) => Effect.sync(() => (unanswered = frame))),
          Effect.flatMap(write),
          Effect.zipRight(Duration.isZero(interval) ? Effect.void : Effect.sleep(interval)),
          Effect.forever,
          Effect.forkScoped
        )
        const ran = yield* socket.runRaw((data) => {
          const frame = classify(typeof data === "string" ? data : new Uint8Array(data))
          if (frame === "unauthorized") {
            refused = true
            return write(new Socket.CloseEvent(1000, "Unauthorized"))
          }
          unanswered = undefined
          answered = true
          if (frame !== undefined) results.unsafeOffer(frame)
        }).pipe(Effect.either)
        if (refused) {
          if (answered) return "unauthorized" as const
          return yield* unauthorizedError(appId, "the realtime token was refused")
        }
        if (Either.isRight(ran)) return "closed" as const
        const error = ran.left
        if (Socket.SocketCloseError.is(error)) {
          if (
            error.code === 1008 || error.code === 4001 || error.code === 4003 ||
            /unauthori[sz]ed/i.test(error.closeReason ?? "")
          ) {
            if (answered) return "unauthorized" as const
            return yield* unauthorizedError(
              appId,
              `the connection was closed with ${error.code}${error.closeReason ? `: ${error.closeReason}` : ""}`
            )
          }
          return yield* new FalError.TransportError({
            operation: "realtime",
            mayHaveReached: true,
            description: `the connection was closed with ${error.code}${
              error.closeReason ? `: ${client.redact(error.closeReason)}` : ""
            }`
          })
        }
        return yield* new FalError.TransportError({
          operation: "realtime",
          mayHaveReached: error.reason !== "Open" && error.reason !== "OpenTimeout",
          description: error.reason === "OpenTimeout"
            ? `the connection did not open within ${Duration.format(openTimeout.value)}`
            : `the connection failed (${error.reason})`
        })
      })).pipe(Effect.withSpan("fal.realtime.session", { kind: "client", attributes: { "fal.model_id": appId } }))

    /** Sessions until a clean close; an unauthorized answer opens the next with a fresh token. */
    const run = Effect.gen(function*() {
      let refused = Option.none<Tokens.Token>()
      while (true) {
        const attempt = Effect.suspend(() => sessionToken(refused)).pipe(
          Effect.flatMap((token) =>
            session(token).pipe(
              Effect.tapError((error) =>
                error._tag === "Unauthorized" ? Effect.sync(() => (refused = Option.some(token))) : Effect.void
              ),
              Effect.map((end) => ({ end, token }))
            )
          ),
          Effect.tapError((error) => error._tag === "Unauthorized" ? resendUnanswered : Effect.void)
        )
        const { end, token } = yield* Effect.retry(attempt, {
          schedule: reconnect,
          while: (error) => error._tag === "Unauthorized"
        })
        if (end === "closed") return
        refused = Option.some(token)
        yield* resendUnanswered
      }
    })

    /** The frame an unauthorized close left unanswered goes again, unless a newer input waits. */
    const resendUnanswered = Effect.sync(() => {
      const frame = unanswered
      unanswered = undefined
      if (frame !== undefined && Option.getOrElse(pending.unsafeSize(), () => 0) === 0) pending.unsafeOffer(frame)
    })

    /** Fetches a new token at 90% of the current one's lifetime, for the next session. */
    const refresh = Effect.gen(function*() {
      while (true) {
        const stored = yield* Ref.get(current)
        if (Option.isNone(stored)) {
          return
        }
        const lifetime = DateTime.toEpochMillis(stored.value.token.expiresAt) - stored.value.at
        const due = stored.value.at + Math.max(0, lifetime * 0.9)
        const now = yield* Clock.currentTimeMillis
        if (due > now) {
          yield* Effect.sleep(Duration.millis(due - now))
        }
        const again = yield* Ref.get(current)
        // a session fetched one meanwhile: wait for that one's turn
        if (Option.isSome(again) && again.value.token !== stored.value.token) continue
        yield* fetchToken.pipe(
          Effect.retry(Schedule.spaced(Duration.millis(Math.max(1000, lifetime * 0.05)))),
          Effect.ignore
        )
      }
    })

    // the first token before anything else: a provider that cannot give one fails `connect`
    yield* fetchToken
    yield* Mailbox.into(run, results).pipe(Effect.forkScoped)
    yield* Effect.forkScoped(refresh)
    yield* Effect.addFinalizer(() => results.end)

    // No span per input: at fal's rates (tens of frames a second) that would be tens of spans a
    // second; the connection and each socket have theirs (`fal.realtime.connect`, `fal.realtime.session`).
    const send = (input: I, sendOptions?: Realtime.SendOptions): Effect.Effect<void, FalError.ValidationError> => {
      const encoded = encodeInput(input)
      if (Either.isLeft(encoded)) {
        return Effect.fail(validation(appId, ParseResult.TreeFormatter.formatErrorSync(encoded.left)))
      }
      const value = encoded.right
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return Effect.fail(validation(appId, "a realtime input must be an object", "type_error"))
      }
      const frame = sendOptions?.requestId === undefined ? value : { ...value, request_id: sendOptions.requestId }
      let wire: string | Uint8Array
      try {
        wire = json ? JSON.stringify(frame) : packr.pack(frame)
      } catch (error) {
        return Effect.fail(validation(
          appId,
          `cannot be encoded as ${json ? "JSON" : "MessagePack"}: ${
            error instanceof Error ? error.message : String(error)
          }`,
          "encode_error"
        ))
      }
      return Queue.offer(pending, wire)
    }

    const connection: Realtime.RealtimeConnection<O, I> = { app: appId, send, results: Mailbox.toStream(results) }
    return connection
  }
)
