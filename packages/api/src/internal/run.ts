import type { InvalidRequestOptions } from "@effect-fal/headers/InvalidRequestOptions"
import { single } from "@effect-fal/headers/InvalidRequestOptions"
import type * as RequestOptions from "@effect-fal/headers/RequestOptions"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Fal from "../Fal.js"
import { FalClient } from "../FalClient.js"
import type { FalError } from "../FalError.js"
import * as Request from "./request.js"
import * as UploadInput from "./uploadInput.js"

/** Decodes a model's output with the optional schema. */
export const output = <A, I>(
  operation: "run" | "result",
  schema: Schema.Schema<A, I> | undefined,
  value: unknown,
  context: { readonly status: number; readonly requestId: string | undefined }
): Effect.Effect<A, FalError> =>
  schema === undefined
    ? Effect.succeed(value as A) // only reachable through the overload without a schema, where A is `unknown`
    : Request.decode(operation, schema, value, context)

/**
 * `fal_webhook` and `fal_max_queue_length` are queue parameters (SPEC section 4): a synchronous
 * run does not go through the queue, so they are rejected rather than sent for nothing.
 */
const queueOnly = (options: RequestOptions.RequestOptions | undefined): Effect.Effect<void, InvalidRequestOptions> => {
  if (options?.webhookUrl !== undefined) {
    return Effect.fail(
      single({
        name: "fal_webhook",
        location: "query",
        value: JSON.stringify(options.webhookUrl),
        reason: "is a queue parameter: a synchronous run has no webhook (use Queue.submit)"
      })
    )
  }
  if (options?.maxQueueLength !== undefined) {
    return Effect.fail(
      single({
        name: "fal_max_queue_length",
        location: "query",
        value: String(options.maxQueueLength),
        reason: "is a queue parameter: a synchronous run is not queued (use Queue.submit)"
      })
    )
  }
  return Effect.void
}

export const run = Effect.fn("fal.run", { kind: "client" })(function*<A = unknown, I = unknown>(
  modelId: string,
  input: unknown,
  options?: Fal.CallOptions & { readonly output?: Schema.Schema<A, I> | undefined }
): Effect.fn.Return<Fal.Result<A>, FalError, FalClient> {
  yield* Effect.annotateCurrentSpan("fal.model_id", modelId)
  const service = yield* FalClient
  yield* queueOnly(options?.options)
  // automatic upload (issue 9): files in the input become CDN URLs before it is serialised
  const sent = yield* UploadInput.auto(service, modelId, input, options)
  const { request } = yield* Request.modelRequest(service, service.urls.run, modelId, sent, options?.options)
  const result = yield* Request.execute({
    operation: "run",
    request,
    retry: options?.retry,
    timeouts: options?.timeouts,
    deadline: options?.deadline,
    onResponse: (response, meta) =>
      Request.json("run", response, meta.requestId).pipe(
        Effect.flatMap((json) =>
          output("run", options?.output, json, { status: response.status, requestId: meta.requestId })
        ),
        Effect.map((data): Fal.Result<A> => ({ requestId: meta.requestId, data, meta }))
      )
  })
  yield* Request.annotate(result)
  return result
})
