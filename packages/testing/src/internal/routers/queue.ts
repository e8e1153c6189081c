/**
 * The `queue` base: `POST /{model_id}` submits; `/{app}/requests/{id}` answers the status (and
 * its SSE stream), the result, and cancels. `{app}` is `owner/name`, or `namespace/owner/name`
 * for the `workflows/` and `comfy/` namespaces.
 */
import { ResponseMeta } from "@effect-fal/headers"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { Call, PlatformEnv } from "../call.js"
import { detail, json, stored } from "../http.js"
import * as Jobs from "../jobs.js"
import { authenticated, validOptions } from "../middleware.js"
import * as Queue from "../queue.js"
import * as Retention from "../retention.js"
import * as Sse from "../sse.js"
import { accept } from "./accept.js"

const submit = Effect.gen(function*() {
  const env = yield* PlatformEnv
  const call = yield* Call
  const accepted = yield* accept("queue")
  if (Either.isLeft(accepted)) return accepted.left
  const job = accepted.right
  const position = Jobs.queuePosition((yield* Ref.get(env.queue)).scheduler, job.id) ?? 0
  return json(200, { request_id: job.id, ...Jobs.urls(call.urls.queue, job), queue_position: position }, {
    [ResponseMeta.names.requestId]: job.id
  })
})

/** The addressed request (if it belongs to the app in the path) and its id header. */
const addressed = Effect.gen(function*() {
  const env = yield* PlatformEnv
  const params = yield* HttpRouter.params
  const id = params.id ?? ""
  const app = [params.namespace, params.owner, params.app].filter((p) => p !== undefined).join("/")
  const job = Option.filter(yield* Jobs.get(env, id), (j) => j.app === app)
  return { env, id, job, idHeader: { [ResponseMeta.names.requestId]: id } }
})

const withLogs = Effect.map(Call, (call) => ["1", "true"].includes(call.query.logs ?? ""))

const status = Effect.gen(function*() {
  const { env, idHeader, job } = yield* addressed
  const call = yield* Call
  if (Option.isNone(job)) return detail(404, "Request not found", undefined, idHeader)
  const body = Jobs.statusBody(job.value, (yield* Ref.get(env.queue)).scheduler, yield* withLogs, call.urls.queue)
  return json(job.value.status === "COMPLETED" ? 200 : 202, body, idHeader)
})

const statusStream = Effect.gen(function*() {
  const { env, id, idHeader, job } = yield* addressed
  const call = yield* Call
  if (Option.isNone(job)) return detail(404, "Request not found", undefined, idHeader)
  return HttpServerResponse.stream(Sse.statusStream(env, id, yield* withLogs, call.urls.queue), {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache", ...idHeader }
  })
})

const result = Effect.gen(function*() {
  const { env, idHeader, job } = yield* addressed
  if (Option.isNone(job)) return detail(404, "Request not found", undefined, idHeader)
  if (job.value.status !== "COMPLETED") return detail(400, "Request is still in progress", undefined, idHeader)
  if (!(yield* Retention.resultAvailable(env, job.value)) || job.value.result === undefined) {
    return detail(404, "Request result is no longer available", undefined, idHeader)
  }
  return stored(job.value.result)
})

const cancel = Effect.gen(function*() {
  const { env, id, idHeader, job } = yield* addressed
  if (Option.isNone(job)) return json(404, { status: "NOT_FOUND" }, idHeader)
  const outcome = yield* Queue.cancel(env, id)
  return outcome === "requested"
    ? json(202, { status: "CANCELLATION_REQUESTED" }, idHeader)
    : outcome === "completed"
    ? json(400, { status: "ALREADY_COMPLETED" }, idHeader)
    : json(404, { status: "NOT_FOUND" }, idHeader)
})

const guarded = <E, R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
) => handler.pipe(validOptions("detail"), authenticated("detail"))

const requestRoutes = (app: `/${string}`) => (router: HttpRouter.HttpRouter<never, PlatformEnv | Call>) =>
  router.pipe(
    HttpRouter.get(`${app}/requests/:id/status`, guarded(status)),
    HttpRouter.get(`${app}/requests/:id/status/stream`, guarded(statusStream)),
    HttpRouter.get(`${app}/requests/:id`, guarded(result)),
    HttpRouter.get(`${app}/requests/:id/response`, guarded(result)),
    HttpRouter.put(`${app}/requests/:id/cancel`, guarded(cancel))
  )

export const router = HttpRouter.empty.pipe(
  HttpRouter.post("/*", guarded(submit)),
  requestRoutes("/:owner/:app"),
  requestRoutes("/:namespace/:owner/:app")
)

/**
 * A POST to the base's root (no model id) is a submit to no model ("Invalid model id"); under
 * `/requests/`: 404; elsewhere a method other than POST: 405.
 */
export const notFound = Effect.flatMap(
  HttpServerRequest.HttpServerRequest,
  (request) =>
    request.method === "POST"
      ? guarded(submit)
      : Effect.succeed(
        request.url.includes("/requests/") ? detail(404, "Not Found") : detail(405, "Method Not Allowed")
      )
)
