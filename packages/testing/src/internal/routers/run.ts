/**
 * The `run` base: `POST /{model_id}` runs a model and answers its result; `POST /{model_id}/stream`
 * streams a model's partial outputs (`../streaming.ts`).
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { Call, PlatformEnv } from "../call.js"
import { detail, stored } from "../http.js"
import * as Jobs from "../jobs.js"
import { authenticated, validOptions } from "../middleware.js"
import * as Streaming from "../streaming.js"
import { accept } from "./accept.js"

const run = Effect.gen(function*() {
  const env = yield* PlatformEnv
  const accepted = yield* accept("sync")
  if (Either.isLeft(accepted)) return accepted.left
  yield* Deferred.await(accepted.right.done)
  const job = yield* Jobs.get(env, accepted.right.id)
  const result = Option.isSome(job) ? job.value.result : undefined
  return result === undefined ? detail(500, "Request vanished", "internal_error") : stored(result)
})

const guarded = run.pipe(validOptions("detail"), authenticated("detail"))

/** A run, or a streaming call when the path is `{model id}/stream` of a registered model. */
const dispatch = Effect.gen(function*() {
  const env = yield* PlatformEnv
  const call = yield* Call
  return yield* ((yield* Streaming.isStreamPath(env, call.path)) ? Streaming.route : guarded)
})

export const router = HttpRouter.empty.pipe(HttpRouter.post("/*", dispatch))

/** Any other method: 405. */
export const notFound = Effect.flatMap(
  HttpServerRequest.HttpServerRequest,
  // a POST to the base's root (no model id) is a run of no model: its "Invalid model id" 404
  (request) => request.method === "POST" ? guarded : Effect.succeed(detail(405, "Method Not Allowed"))
)
