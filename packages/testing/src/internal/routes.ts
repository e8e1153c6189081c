/**
 * The gateway: one handler for every request, whichever transport brought it. It logs the
 * request, decodes the platform headers with `RequestOptions.fromWire`, applies injected
 * faults, routes by base (run, queue, api, rest, cdn) and adds `x-fal-request-id` and
 * `X-Fal-Billable-Units` to every answer.
 */
import { RequestOptions, ResponseMeta } from "@effect-fal/headers"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as SortedMap from "effect/SortedMap"
import type * as Stream from "effect/Stream"
import type * as FalPlatform from "../FalPlatform.js"
import * as Fault from "../Fault.js"
import * as Auth from "./auth.js"
import * as Faults from "./faults.js"
import * as Jobs from "./jobs.js"
import * as Queue from "./queue.js"
import * as Retention from "./retention.js"
import * as Sse from "./sse.js"
import { type Env, now, publish, uuid } from "./state.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array | Stream.Stream<Uint8Array>
}

const json = (status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): Answer => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: encoder.encode(JSON.stringify(body))
})

/** `{"detail", "error_type"?}` with `X-Fal-Error-Type`: the model and queue error body. */
const detail = (status: number, message: unknown, errorType?: string, headers: Record<string, string> = {}): Answer =>
  json(status, errorType === undefined ? { detail: message } : { detail: message, error_type: errorType }, {
    ...(errorType === undefined ? {} : ResponseMeta.toHeaders({ errorType })),
    ...headers
  })

type PlatformErrorType =
  | "authorization_error"
  | "validation_error"
  | "not_found"
  | "rate_limited"
  | "server_error"
  | "not_implemented"

/** The Platform API error envelope. */
const envelope = (status: number, type: PlatformErrorType, message: string, requestId: string): Answer =>
  json(status, { error: { type, message, request_id: requestId } })

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

interface Context {
  readonly env: Env
  readonly request: FalPlatform.IncomingRequest
  readonly gatewayId: string
  readonly headers: ReadonlyMap<string, string>
  readonly auth: Auth.Auth
  readonly options: Either.Either<RequestOptions.RequestOptions, RequestOptions.InvalidRequestOptions>
}

const segments = (path: string): ReadonlyArray<string> => path.split("/").filter((s) => s.length > 0)

/** For `/{app}/requests/{id}[/...]`: the app, the id and the rest. */
const requestPath = (
  path: string
): { readonly app: string; readonly id: string; readonly rest: ReadonlyArray<string> } | undefined => {
  const parts = segments(path)
  const index = parts.indexOf("requests")
  if (index < 2 || index + 1 >= parts.length) return undefined
  return { app: parts.slice(0, index).join("/"), id: parts[index + 1], rest: parts.slice(index + 2) }
}

const validModelId = (id: string): boolean =>
  id.split("/").length >= 2 && !id.includes("..") && !/[?#\s\p{Cc}]/u.test(id)

// -----------------------------------------------------------------------------
// shared checks
// -----------------------------------------------------------------------------

const requireKey = (ctx: Context): Answer | undefined =>
  ctx.auth === "missing"
    ? detail(401, "Missing authorization header")
    : ctx.auth === "unknown"
    ? detail(401, "Invalid API key")
    : undefined

const badOptions = (ctx: Context): Answer | undefined =>
  Either.isLeft(ctx.options) ? detail(400, ctx.options.left.message, "bad_request") : undefined

const readJson = (body: Uint8Array): Either.Either<unknown, string> => {
  const text = decoder.decode(body)
  if (text.trim() === "") return Either.right({})
  try {
    return Either.right(JSON.parse(text))
  } catch {
    return Either.left("Request body is not valid JSON")
  }
}

/** Common to run and submit: key, options, model, body, queue length; then submits. */
const accept = (ctx: Context, mode: "queue" | "sync") =>
  Effect.gen(function*() {
    const early = requireKey(ctx) ?? badOptions(ctx)
    if (early !== undefined) return Either.left(early)
    const options = Either.getOrElse(ctx.options, () => RequestOptions.empty)
    const modelId = segments(ctx.request.path).join("/")
    if (!validModelId(modelId)) return Either.left(detail(404, `Invalid model id: ${modelId}`))
    const models = yield* Ref.get(ctx.env.models)
    if (!models.has(modelId)) return Either.left(detail(404, `Application '${modelId}' not found`))
    const input = readJson(ctx.request.body)
    if (Either.isLeft(input)) return Either.left(detail(400, input.left, "bad_request"))
    if (options.maxQueueLength !== undefined) {
      const waiting = yield* Queue.waitingCount(ctx.env, modelId)
      if (waiting > options.maxQueueLength) {
        return Either.left(
          detail(
            429,
            `Queue of ${modelId} holds ${waiting} waiting requests (fal_max_queue_length=${options.maxQueueLength})`
          )
        )
      }
    }
    const job = yield* Queue.submit(ctx.env, {
      modelId,
      input: input.right,
      options,
      mode,
      cdnBase: ctx.request.bases.cdn
    })
    yield* Queue.dispatch(ctx.env)
    return Either.right(job)
  })

const resultAnswer = (result: FalPlatform.ResultRecord): Answer => ({
  status: result.status,
  headers: result.headers,
  body: encoder.encode(result.body)
})

// -----------------------------------------------------------------------------
// run
// -----------------------------------------------------------------------------

const run = (ctx: Context): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    if (ctx.request.method !== "POST") return detail(405, "Method Not Allowed")
    const accepted = yield* accept(ctx, "sync")
    if (Either.isLeft(accepted)) return accepted.left
    yield* Deferred.await(accepted.right.done)
    const job = yield* Jobs.get(ctx.env, accepted.right.id)
    const result = Option.isSome(job) ? job.value.result : undefined
    return result === undefined ? detail(500, "Request vanished", "internal_error") : resultAnswer(result)
  })

// -----------------------------------------------------------------------------
// queue
// -----------------------------------------------------------------------------

const queue = (ctx: Context): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    const target = requestPath(ctx.request.path)
    if (target === undefined) {
      if (ctx.request.method !== "POST") return detail(405, "Method Not Allowed")
      const accepted = yield* accept(ctx, "queue")
      if (Either.isLeft(accepted)) return accepted.left
      const job = accepted.right
      const position = Jobs.queuePosition(yield* Ref.get(ctx.env.scheduler), job.id) ?? 0
      return json(200, { request_id: job.id, ...Jobs.urls(ctx.request.bases.queue, job), queue_position: position }, {
        [ResponseMeta.names.requestId]: job.id
      })
    }
    const early = requireKey(ctx) ?? badOptions(ctx)
    if (early !== undefined) return early
    const found = yield* Jobs.get(ctx.env, target.id)
    const job = Option.filter(found, (j) => j.app === target.app)
    const idHeader = { [ResponseMeta.names.requestId]: target.id }
    const route = `${ctx.request.method} ${target.rest.join("/")}`
    const withLogs = ["1", "true"].includes(ctx.request.query.logs ?? "")
    switch (route) {
      case "GET status": {
        if (Option.isNone(job)) return detail(404, "Request not found", undefined, idHeader)
        const body = Jobs.statusBody(job.value, yield* Ref.get(ctx.env.scheduler), withLogs, ctx.request.bases.queue)
        return json(job.value.status === "COMPLETED" ? 200 : 202, body, idHeader)
      }
      case "GET status/stream": {
        if (Option.isNone(job)) return detail(404, "Request not found", undefined, idHeader)
        return {
          status: 200,
          headers: { "content-type": "text/event-stream", "cache-control": "no-cache", ...idHeader },
          body: Sse.statusStream(ctx.env, target.id, withLogs, ctx.request.bases.queue)
        }
      }
      case "GET ":
      case "GET response": {
        if (Option.isNone(job)) return detail(404, "Request not found", undefined, idHeader)
        if (job.value.status !== "COMPLETED") return detail(400, "Request is still in progress", undefined, idHeader)
        if (!(yield* Retention.resultAvailable(ctx.env, job.value)) || job.value.result === undefined) {
          return detail(404, "Request result is no longer available", undefined, idHeader)
        }
        return resultAnswer(job.value.result)
      }
      case "PUT cancel": {
        if (Option.isNone(job)) return json(404, { status: "NOT_FOUND" }, idHeader)
        const outcome = yield* Queue.cancel(ctx.env, target.id)
        return outcome === "requested"
          ? json(202, { status: "CANCELLATION_REQUESTED" }, idHeader)
          : outcome === "completed"
          ? json(400, { status: "ALREADY_COMPLETED" }, idHeader)
          : json(404, { status: "NOT_FOUND" }, idHeader)
      }
      default:
        return detail(404, "Not Found")
    }
  })

// -----------------------------------------------------------------------------
// payload deletion (api and rest)
// -----------------------------------------------------------------------------

interface DeleteResult {
  readonly link: string
  readonly exception: string | null
}

const deletePayloads = (env: Env, id: string): Effect.Effect<Option.Option<ReadonlyArray<DeleteResult>>> =>
  Effect.gen(function*() {
    const job = yield* Jobs.get(env, id)
    if (Option.isNone(job)) return Option.none()
    const results: Array<DeleteResult> = []
    for (const link of job.value.outputFiles) {
      const file = yield* Retention.file(env, link)
      if (Option.isSome(file)) {
        yield* Retention.deleteFile(env, file.value.path)
        results.push({ link, exception: null })
      } else {
        results.push({ link, exception: "File not found" })
      }
    }
    yield* Retention.deletePayload(env, id)
    yield* Queue.markPayloadsDeleted(env, id)
    return Option.some(results)
  })

const api = (ctx: Context): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    const parts = segments(ctx.request.path)
    const isDelete = parts.length === 4 && parts[0] === "models" && parts[1] === "requests" && parts[3] === "payloads"
    if (!isDelete) return envelope(404, "not_found", "Not Found", ctx.gatewayId)
    if (ctx.request.method !== "DELETE") return envelope(404, "not_found", "Not Found", ctx.gatewayId)
    if (ctx.auth === "missing") {
      return envelope(401, "authorization_error", "Missing authorization header", ctx.gatewayId)
    }
    if (ctx.auth === "unknown") return envelope(401, "authorization_error", "Invalid API key", ctx.gatewayId)
    if (ctx.auth !== "admin") {
      return envelope(403, "authorization_error", "This operation requires an API key with ADMIN scope", ctx.gatewayId)
    }
    if (Either.isLeft(ctx.options)) return envelope(400, "validation_error", ctx.options.left.message, ctx.gatewayId)
    const key = ctx.options.right.idempotencyKey
    if (key !== undefined) {
      const replay = yield* Retention.recall(ctx.env, key)
      if (Option.isSome(replay)) {
        return {
          status: replay.value.status,
          headers: { ...replay.value.headers, "idempotent-replayed": "true" },
          body: replay.value.body
        }
      }
    }
    const id = parts[2]
    const answer = yield* Effect.gen(function*() {
      if (!uuidPattern.test(id)) {
        return envelope(400, "validation_error", `request_id must be a UUID, got '${id}'`, ctx.gatewayId)
      }
      const deleted = yield* deletePayloads(ctx.env, id)
      if (Option.isNone(deleted)) return envelope(404, "not_found", `Request '${id}' not found`, ctx.gatewayId)
      return json(200, { cdn_delete_results: deleted.value })
    })
    if (key !== undefined && answer.body instanceof Uint8Array) {
      yield* Retention.remember(ctx.env, key, {
        status: answer.status,
        headers: {
          ...answer.headers,
          [ResponseMeta.names.requestId]: ctx.gatewayId,
          [ResponseMeta.names.billableUnits]: "0"
        },
        body: answer.body
      })
    }
    return answer
  })

const rest = (ctx: Context): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    const parts = segments(ctx.request.path)
    if (!(parts.length === 3 && parts[0] === "requests" && parts[1] === "delete_io") || ctx.request.method !== "PUT") {
      return detail(404, "Not Found")
    }
    const unauthorized = requireKey(ctx)
    if (unauthorized !== undefined) return unauthorized
    if (ctx.auth !== "admin") return detail(403, "This operation requires an API key with ADMIN scope")
    const deleted = yield* deletePayloads(ctx.env, parts[2])
    if (Option.isNone(deleted)) return detail(404, "Request not found")
    return json(200, { CDN_DELETE_RESULTS: deleted.value })
  })

// -----------------------------------------------------------------------------
// cdn
// -----------------------------------------------------------------------------

const cdn = (ctx: Context): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    if (ctx.request.method !== "GET" && ctx.request.method !== "HEAD") return detail(405, "Method Not Allowed")
    const file = yield* Retention.file(ctx.env, ctx.request.path)
    if (Option.isNone(file)) return detail(404, "File not found")
    return {
      status: 200,
      headers: { "content-type": file.value.contentType },
      body: ctx.request.method === "HEAD" ? new Uint8Array() : file.value.content
    }
  })

// -----------------------------------------------------------------------------
// gateway
// -----------------------------------------------------------------------------

const routes: Record<FalPlatform.Base, (ctx: Context) => Effect.Effect<Answer>> = { run, queue, api, rest, cdn }

/** The model id (or app) a request concerns, for fault matching. */
const subjectModel = (request: FalPlatform.IncomingRequest): string | undefined => {
  if (request.base !== "run" && request.base !== "queue") return undefined
  return requestPath(request.path)?.app ?? segments(request.path).join("/")
}

const applyFault = (ctx: Context, fault: Fault.Fault): Effect.Effect<Answer | "reset" | "proceed"> =>
  Fault.match(fault, {
    Status: (f) =>
      Effect.succeed(
        ctx.request.base === "api"
          ? { ...envelope(f.status, f.status === 429 ? "rate_limited" : "server_error", f.detail, ctx.gatewayId) }
          : detail(f.status, f.detail, f.errorType, { ...f.headers })
      ),
    Reset: () => Effect.succeed("reset" as const),
    Delay: (f) => Effect.as(Effect.sleep(f.duration), "proceed" as const),
    MalformedBody: () =>
      Effect.succeed({
        status: 200,
        headers: { "content-type": "application/json" },
        body: encoder.encode("{\"request_id\": \"")
      })
  })

const finish = (answer: Answer, gatewayId: string): FalPlatform.Outcome => {
  const headers: Record<string, string> = { ...answer.headers }
  const lower = new Set(Object.keys(headers).map((k) => k.toLowerCase()))
  if (!lower.has("x-fal-request-id")) headers[ResponseMeta.names.requestId] = gatewayId
  if (!lower.has("x-fal-billable-units")) headers[ResponseMeta.names.billableUnits] = "0"
  return { _tag: "Response", status: answer.status, headers, body: answer.body }
}

export const handle = (env: Env, request: FalPlatform.IncomingRequest): Effect.Effect<FalPlatform.Outcome> =>
  Effect.gen(function*() {
    const gatewayId = yield* uuid
    const headers = new Map(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]))
    const auth = request.base === "cdn" ? "missing" : Auth.authenticate(env.config.keys, headers.get("authorization"))
    const options = RequestOptions.fromWire({ headers: request.headers, query: request.query })
    const logged: FalPlatform.RequestLogEntry = {
      id: gatewayId,
      method: request.method,
      url: request.url,
      base: request.base,
      path: request.path,
      query: request.query,
      headers: Object.fromEntries(
        [...headers].map(([k, v]) => [k, k === "authorization" ? Auth.redact(v) : v])
      ),
      auth,
      options,
      body: decoder.decode(request.body),
      receivedAt: yield* now,
      status: "pending"
    }
    const seq = yield* Ref.modify(env.logSeq, (n) => [n, n + 1])
    yield* Ref.update(env.log, SortedMap.set(seq, logged))
    yield* publish(env, "log")
    const settle = (status: FalPlatform.RequestLogEntry["status"], id: string) =>
      Effect.zipRight(
        Ref.update(env.log, (log) => SortedMap.set(log, seq, { ...logged, status, id })),
        publish(env, "log")
      )
    const ctx: Context = { env, request, gatewayId, headers, auth, options }
    const fault = yield* Faults.take(env, {
      endpoint: request.base,
      modelId: subjectModel(request),
      method: request.method,
      path: request.path
    })
    let answer: Answer | undefined
    if (Option.isSome(fault)) {
      const applied = yield* applyFault(ctx, fault.value)
      if (applied === "reset") {
        yield* settle("reset", gatewayId)
        return { _tag: "Reset" } as const
      }
      if (applied !== "proceed") answer = applied
    }
    const outcome = finish(answer ?? (yield* routes[request.base](ctx)), gatewayId)
    const answeredId = outcome._tag === "Response"
      ? Object.entries(outcome.headers).find(([k]) => k.toLowerCase() === "x-fal-request-id")?.[1] ?? gatewayId
      : gatewayId
    yield* settle(outcome._tag === "Response" ? outcome.status : "reset", answeredId)
    return outcome
  })
