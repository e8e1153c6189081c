/**
 * The gateway's cross-cutting steps, each an `HttpMiddleware`:
 * - {@link requestLog}: reads the call (base, path, key, platform headers, body), records it in
 *   the HTTP request log and settles the entry with the answered status;
 * - {@link falHeaders}: `x-fal-request-id` and `X-Fal-Billable-Units` on every answer;
 * - {@link faults}: injected faults, before routing (a reset after handling: after it);
 * - {@link authenticated} and {@link validOptions}: a key (with a scope) and well-formed platform
 *   headers, per route, in fal's `detail` style or the Platform API's envelope style.
 * Idempotency (Platform API routes) lives in `idempotency.ts`.
 */
import { RequestOptions, ResponseMeta } from "@effect-fal/headers"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as SortedMap from "effect/SortedMap"
import * as Stream from "effect/Stream"
import type * as FalPlatform from "../FalPlatform.js"
import * as Fault from "../Fault.js"
import * as Auth from "./auth.js"
import { Call, type CallInfo, PlatformEnv } from "./call.js"
import * as Faults from "./faults.js"
import { detail, envelope, join, json } from "./http.js"
import * as LinkModel from "./link.js"
import { type Env, now, publish, uuid } from "./state.js"
import * as Urls from "./urls.js"

const decoder = new TextDecoder()

/** Bodies up to this length are read whole by the platform's `arrayBuffer`. */
const wholeBodyLimit = 1024 * 1024

/**
 * The largest request body the gateway reads: 128 MiB. fal's client uploads a file of up to 90 MB
 * in one PUT (larger ones in 10 MB parts); a larger body is answered 413 unread.
 */
export const maxBodySize = 128 * 1024 * 1024

class BodyTooLarge extends Data.TaggedError("BodyTooLarge") {}
const bodyTooLarge = new BodyTooLarge()

/**
 * The request body, at most {@link maxBodySize} bytes: a declared `content-length` over it fails
 * at once, nothing read. A body known to be small (a `content-length` up to
 * {@link wholeBodyLimit}, or neither that nor `transfer-encoding`: empty on the wire, or a Web
 * `Request`, whose own `arrayBuffer` is linear) comes whole from the platform's `arrayBuffer`
 * (under the platform's own limit, `HttpIncomingMessage.withMaxBodySize`), some 60 fiber steps.
 * Any other is read as a stream ({@link readStreamed}): the Node request's `arrayBuffer` re-copies
 * the whole buffer on every chunk, quadratic on an upload of tens of MB. The stream is released
 * with the request's scope, after the answer (on Node, releasing an unfinished body destroys the
 * socket). With a link model's throughput the body is read no faster than that (`link.ts`).
 */
const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  throughput: number | undefined
): Effect.Effect<Uint8Array, HttpServerError.RequestError | BodyTooLarge> => {
  const length = request.headers["content-length"]
  if (length !== undefined && Number(length) > maxBodySize) return Effect.fail(bodyTooLarge)
  const small = length === undefined
    ? request.headers["transfer-encoding"] === undefined
    : Number(length) <= wholeBodyLimit
  const pace = throughput === undefined ? Effect.succeed(unpaced) : LinkModel.pacer(throughput)
  if (small) {
    return Effect.flatMap(pace, (pacer) =>
      request.arrayBuffer.pipe(
        HttpIncomingMessage.withMaxBodySize(Option.some(maxBodySize)),
        Effect.map((buffer) => new Uint8Array(buffer)),
        Effect.tap((bytes) => Effect.zipRight(pacer.take(bytes.byteLength), pacer.done))
      ))
  }
  const declared = length === undefined ? undefined : Number(length)
  return Effect.flatMap(Effect.serviceOption(Scope.Scope), (scope) => {
    const read = Effect.flatMap(pace, (pacer) => readStreamed(request, declared, pacer))
    return Option.isSome(scope) ? Scope.extend(read, scope.value) : Effect.scoped(read)
  })
}

const unpaced: LinkModel.Pacer = { take: () => Effect.void, done: Effect.void }

/**
 * A streamed body, a chunk of the stream at a time (one pacer step per chunk, not per buffer).
 * With a declared length the bytes are copied into one buffer of that length as they arrive, so
 * each buffer the socket produced is garbage at once: holding a body's buffers until its end and
 * joining them then kept every body twice over, the buffers old enough to be promoted. Without
 * one (`transfer-encoding: chunked`) the buffers are kept, no more than {@link maxBodySize}
 * bytes, and joined once at the end.
 */
const readStreamed = (
  request: HttpServerRequest.HttpServerRequest,
  declared: number | undefined,
  pacer: LinkModel.Pacer
): Effect.Effect<Uint8Array, HttpServerError.RequestError | BodyTooLarge, Scope.Scope> =>
  Effect.suspend(() => {
    const into = declared === undefined ? undefined : new Uint8Array(declared)
    const kept: Array<Uint8Array> = []
    let size = 0
    const body = Stream.runForEachChunk(request.stream, (chunk) => {
      let bytes = 0
      for (const piece of chunk) {
        if (size + piece.byteLength > (into?.byteLength ?? maxBodySize)) return Effect.fail(bodyTooLarge)
        if (into === undefined) kept.push(piece)
        else into.set(piece, size)
        size += piece.byteLength
        bytes += piece.byteLength
      }
      return pacer.take(bytes)
    })
    return Effect.zipRight(
      body,
      Effect.suspend(() => {
        if (into === undefined) return Effect.as(pacer.done, join(kept))
        return size === into.byteLength ? Effect.as(pacer.done, into) : Effect.fail(
          new HttpServerError.RequestError({
            request,
            reason: "Decode",
            description: `the body ended after ${size} of its ${into.byteLength} bytes`
          })
        )
      })
    )
  })

/** A URL with its `fal_jwt_token` query parameter's value replaced by `<redacted>`. */
const redactToken = (url: string): string => url.replace(/([?&]fal_jwt_token=)[^&#]*/g, "$1<redacted>")

/**
 * Records every call to a known base in the HTTP request log, provides the platform's state
 * ({@link PlatformEnv}) and the {@link Call} to the app it wraps (in one step), and settles the
 * entry with the status answered (`"reset"` for a reset fault). A path under no base answers 404
 * unlogged.
 */
export const requestLog = (env: Env) =>
<E, R>(
  app: HttpApp.Default<E, R>
): HttpApp.Default<E | Fault.ConnectionReset, Exclude<R, Call | PlatformEnv>> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const located = Urls.locate(request)
    const caller = yield* Effect.serviceOption(Urls.Caller)
    const target = Urls.route(located.pathname)
    if (target === undefined) return json(404, { detail: "Not Found" })
    const urls = Option.isSome(caller) ? caller.value.urls : Urls.at(located.origin)
    const url = Option.isSome(caller) ? caller.value.url : `${located.origin}${located.pathAndQuery}`
    const gatewayId = yield* uuid
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(request.headers)) headers[k.toLowerCase()] = v
    const query = Object.fromEntries(new URLSearchParams(located.search))
    const link = env.config.link
    const auth = target.base === "cdn"
      ? "missing"
      : Auth.authenticate(env.config.keys, headers.authorization, query.fal_jwt_token)
    // a temporary token is a credential: the log keeps it out, as it does the key
    const loggedUrl = query.fal_jwt_token === undefined ? url : redactToken(url)
    const loggedQuery = query.fal_jwt_token === undefined ? query : { ...query, fal_jwt_token: "<redacted>" }
    const options = RequestOptions.fromWire({ headers, query })
    const redactedHeaders = Object.fromEntries(
      Object.entries(headers).map(([k, v]) => [k, k === "authorization" ? Auth.redact(v) : v])
    )
    /** Appends an entry to the log; answers its arrival number. */
    const append = (entry: FalPlatform.HttpLogEntry) =>
      Effect.zipLeft(
        Ref.modify(
          env.log,
          (log) => [log.next, { next: log.next + 1, entries: SortedMap.set(log.entries, log.next, entry) }]
        ),
        publish(env, "log")
      )
    /** A request whose client went away while its body was read: logged as aborted. */
    const aborted = Effect.flatMap(now, (receivedAt) =>
      append({
        id: gatewayId,
        method: request.method,
        url: loggedUrl,
        base: target.base,
        path: target.path,
        query: loggedQuery,
        headers: redactedHeaders,
        auth,
        options,
        body: "",
        receivedAt,
        status: "aborted"
      }))
    const read = yield* Effect.either(readBody(request, link?.throughput)).pipe(Effect.onInterrupt(() => aborted))
    if (Either.isLeft(read)) {
      if (read.left._tag === "BodyTooLarge") {
        return json(413, { detail: `Request body larger than ${maxBodySize} bytes` })
      }
      yield* aborted
      return json(400, { detail: "the request body could not be read" })
    }
    const body = read.right
    const call: CallInfo = {
      gatewayId,
      base: target.base,
      path: target.path,
      query,
      headers,
      auth,
      options,
      body,
      urls,
      fired: yield* Ref.make(Option.none<Faults.Fired>())
    }
    const logged: FalPlatform.HttpLogEntry = {
      id: gatewayId,
      method: request.method,
      url: loggedUrl,
      base: call.base,
      path: call.path,
      query: loggedQuery,
      headers: redactedHeaders,
      auth: call.auth,
      options: call.options,
      // file bytes (pre-signed uploads) are not text: the log keeps their size
      body: call.base === "upload" ? `<${body.byteLength} bytes>` : decoder.decode(body),
      receivedAt: yield* now,
      status: "pending"
    }
    const seq = yield* append(logged)
    const settle = (status: FalPlatform.HttpLogEntry["status"], id: string) =>
      Effect.flatMap(Ref.get(call.fired), (fired) => {
        const entry = Option.match(fired, {
          onNone: () => ({ ...logged, status, id }),
          onSome: (f) => ({ ...logged, status, id: f.answeredId ?? id, fault: f.fault })
        })
        return Effect.zipRight(
          Ref.update(env.log, (log) => ({ ...log, entries: SortedMap.set(log.entries, seq, entry) })),
          publish(env, "log")
        )
      })
    // the link model: its latency, then a lost upload PUT is reset, its body read and dropped
    const handled: HttpApp.Default<E | Fault.ConnectionReset, R> = link === undefined
      ? app
      : Effect.zipRight(
        Duration.isZero(link.latency) ? Effect.void : Effect.sleep(link.latency),
        Effect.flatMap(
          LinkModel.lost(link, call.base, request.method),
          (lost): HttpApp.Default<E | Fault.ConnectionReset, R> => lost ? Effect.fail(new Fault.ConnectionReset()) : app
        )
      )
    return yield* handled.pipe(
      Effect.provide(Context.make(PlatformEnv, env).pipe(Context.add(Call, call))),
      Effect.tap((response) => settle(response.status, response.headers["x-fal-request-id"] ?? gatewayId)),
      Effect.tapError((error) => error instanceof Fault.ConnectionReset ? settle("reset", gatewayId) : Effect.void),
      Effect.onInterrupt(() => settle("aborted", gatewayId))
    )
  })

/** `x-fal-request-id` (the gateway id unless a route answered one) and `X-Fal-Billable-Units: 0`. */
export const falHeaders = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | Call> =>
  Effect.flatMap(Call, (call) =>
    Effect.map(app, (response) => {
      const headers = response.headers
      if (headers["x-fal-request-id"] !== undefined && headers["x-fal-billable-units"] !== undefined) return response
      return HttpServerResponse.setHeaders(response, {
        ...(headers["x-fal-request-id"] === undefined ? { [ResponseMeta.names.requestId]: call.gatewayId } : {}),
        ...(headers["x-fal-billable-units"] === undefined ? { [ResponseMeta.names.billableUnits]: "0" } : {})
      })
    }))

const segments = (path: string): ReadonlyArray<string> => path.split("/").filter((s) => s.length > 0)

/** The model id (or `owner/app`) a call concerns, for fault matching. */
const subjectModel = (call: CallInfo): string | undefined => {
  if (call.base !== "run" && call.base !== "queue") return undefined
  const parts = segments(call.path)
  const index = parts.indexOf("requests")
  return index >= 2 && index + 1 < parts.length ? parts.slice(0, index).join("/") : parts.join("/")
}

/**
 * Applies the first pending fault matching the call, if any: an answer instead of the app, a
 * delay before it, a reset before it or after it (the app runs, its answer is dropped), or its
 * answer cut short or its stream closed early (`Faults.cutShort`, `Faults.closeStreamAfter`). The
 * fault is recorded for the request log (the call's `fired`).
 */
export const faults = <E, R>(
  app: HttpApp.Default<E, R>
): HttpApp.Default<E | Fault.ConnectionReset, R | Call | PlatformEnv> =>
  Effect.flatMap(PlatformEnv, (env) =>
    // no fault pending (the usual case): straight to the app
    Effect.flatMap(Ref.get(env.faults), (pending) => pending.length === 0 ? app : applyFault(env, app)))

const applyFault = <E, R>(
  env: Env,
  app: HttpApp.Default<E, R>
): HttpApp.Default<E | Fault.ConnectionReset, R | Call> =>
  Effect.gen(function*() {
    const call = yield* Call
    const request = yield* HttpServerRequest.HttpServerRequest
    const fault = yield* Faults.take(env, {
      endpoint: call.base,
      modelId: subjectModel(call),
      method: request.method,
      path: call.path
    })
    if (Option.isNone(fault)) return yield* app
    yield* Ref.set(call.fired, Option.some({ fault: fault.value }))
    return yield* Fault.match(fault.value, {
      Status: (f): HttpApp.Default<E | Fault.ConnectionReset, R> =>
        Effect.succeed(
          call.base === "api"
            ? HttpServerResponse.setHeaders(
              envelope(f.status, f.status === 429 ? "rate_limited" : "server_error", f.detail, call.gatewayId),
              f.headers
            )
            : detail(f.status, f.detail, f.errorType, f.headers)
        ),
      Reset: () => Effect.fail(new Fault.ConnectionReset()),
      ResetAfter: () =>
        Effect.flatMap(app, (response) =>
          Effect.zipRight(
            Ref.set(call.fired, Option.some({ fault: fault.value, answeredId: response.headers["x-fal-request-id"] })),
            Effect.fail(new Fault.ConnectionReset())
          )),
      Delay: (f) => Effect.zipRight(Effect.sleep(f.duration), app),
      MalformedBody: () =>
        Effect.succeed(HttpServerResponse.text("{\"request_id\": \"", { contentType: "application/json" })),
      CutShort: (f) => Effect.map(app, (response) => Faults.cutShort(response, f.bytes)),
      CloseStreamAfter: (f) => Effect.map(app, (response) => Faults.closeStreamAfter(response, f))
    })
  })

/** How a route answers a refused call: fal's `{"detail"}` or the Platform API's envelope. */
export type Style = "detail" | "envelope"

/** Requires a known key; with `scope: "ADMIN"`, an ADMIN key (403 otherwise). */
export const authenticated =
  (style: Style, scope: "API" | "ADMIN" = "API") => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | Call> =>
    Effect.flatMap(Call, (call) => {
      const refuse = (status: number, message: string) =>
        Effect.succeed(
          style === "detail"
            ? detail(status, message)
            : envelope(status, "authorization_error", message, call.gatewayId)
        )
      if (call.auth === "missing") return refuse(401, "Missing authorization header")
      if (call.auth === "unknown") return refuse(401, "Invalid API key")
      if (call.auth === "token") {
        return refuse(401, "A temporary token is accepted only by streaming and realtime endpoints")
      }
      if (scope === "ADMIN" && call.auth !== "admin") {
        return refuse(403, "This operation requires an API key with ADMIN scope")
      }
      return app
    })

/** Answers 400 when the platform headers or query parameters do not decode. */
export const validOptions = (style: Style) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | Call> =>
  Effect.flatMap(Call, (call) =>
    Either.isLeft(call.options)
      ? Effect.succeed(
        style === "detail"
          ? detail(400, call.options.left.message, "bad_request")
          : envelope(400, "validation_error", call.options.left.message, call.gatewayId)
      )
      : app)
