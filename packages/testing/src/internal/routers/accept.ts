/**
 * What `run` and queue submit share: the model id (the path), the model, the JSON body and the
 * admission into the model's queue (`fal_max_queue_length` checked in the same step as the
 * enqueue and the dispatch).
 */
import { RequestOptions } from "@effect-fal/headers"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { Call, PlatformEnv } from "../call.js"
import { detail, readJson } from "../http.js"
import type * as Jobs from "../jobs.js"
import * as Queue from "../queue.js"
import * as Webhooks from "../webhooks.js"

/**
 * The largest model input the emulator takes, 32 MiB: the default of `@effect-fal/api`'s
 * `FalClient.defaultMaxInputSize` (fal documents no limit), so that a client configured past it
 * sees the 413 in tests.
 */
export const maxInputSize = 32 * 1024 * 1024

const validModelId = (id: string): boolean =>
  id.split("/").length >= 2 && !id.includes("..") && !/[?#\s\p{Cc}]/u.test(id)

export const accept = (
  mode: "queue" | "sync"
): Effect.Effect<
  Either.Either<Jobs.Job, HttpServerResponse.HttpServerResponse>,
  never,
  Call | PlatformEnv
> =>
  Effect.gen(function*() {
    const env = yield* PlatformEnv
    const call = yield* Call
    // the path relative to the base: the route's wildcard, or nothing for the base's own root
    const modelId = call.path.split("/").filter((s) => s.length > 0).join("/")
    const options = Either.getOrElse(call.options, () => RequestOptions.empty)
    if (!validModelId(modelId)) return Either.left(detail(404, `Invalid model id: ${modelId}`))
    const models = yield* env.models.get
    if (!models.has(modelId)) return Either.left(detail(404, `Application '${modelId}' not found`))
    if (call.body.byteLength > maxInputSize) {
      return Either.left(detail(413, `Request body larger than ${maxInputSize} bytes`, "request_too_large"))
    }
    const input = readJson(call.body)
    if (Either.isLeft(input)) return Either.left(detail(400, input.left, "bad_request"))
    const admitted = yield* Queue.submit(env, {
      modelId,
      input: input.right,
      options,
      mode,
      cdnBase: call.urls.cdn,
      userId: Webhooks.userIdOf(env.webhookSigning, call.headers.authorization)
    })
    if (Either.isLeft(admitted)) {
      return Either.left(
        detail(
          429,
          `Queue of ${modelId} holds ${admitted.left} waiting requests (fal_max_queue_length=${options.maxQueueLength})`
        )
      )
    }
    return Either.right(admitted.right)
  })
