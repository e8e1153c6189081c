/**
 * `Fal.run`: validate, upload the input's files, and `POST {run}/{model id}` through the call
 * pipeline (`./request.ts`).
 */
import type { InvalidRequestOptions } from "@effect-fal/headers/InvalidRequestOptions"
import { single } from "@effect-fal/headers/InvalidRequestOptions"
import type * as RequestOptions from "@effect-fal/headers/RequestOptions"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import type * as Fal from "../Fal.js"
import { FalClient } from "../FalClient.js"
import type * as FalError from "../FalError.js"
import * as Request from "./request.js"
import * as UploadInput from "./uploadInput.js"

/**
 * `fal_webhook` and `fal_max_queue_length` are queue parameters (SPEC section 4): a synchronous
 * run does not go through the queue, so they are rejected rather than sent for nothing.
 */
export const queueOnly = (options: RequestOptions.RequestOptions | undefined): Option.Option<InvalidRequestOptions> => {
  if (options?.webhookUrl !== undefined) {
    return Option.some(single({
      name: "fal_webhook",
      location: "query",
      value: JSON.stringify(options.webhookUrl),
      reason: "is a queue parameter: a synchronous run has no webhook (use Queue.submit)"
    }))
  }
  if (options?.maxQueueLength !== undefined) {
    return Option.some(single({
      name: "fal_max_queue_length",
      location: "query",
      value: String(options.maxQueueLength),
      reason: "is a queue parameter: a synchronous run is not queued (use Queue.submit)"
    }))
  }
  return Option.none()
}

/** `Fal.run`: validate, upload the input's files, `POST {run}/{model id}`, decode the output. */
export const run = Effect.fn("fal.run", { kind: "client" })(<A = unknown, I = unknown>(
  modelId: string,
  input: unknown,
  options?: Fal.CallOptions & { readonly output?: Schema.Schema<A, I> | undefined }
): Effect.Effect<Fal.Result<A>, FalError.FalError, FalClient> =>
  Effect.flatMap(Effect.zipRight(Effect.annotateCurrentSpan("fal.model_id", modelId), FalClient), (service) => {
    const rejected = queueOnly(options?.options)
    if (Option.isSome(rejected)) return Effect.fail(rejected.value)
    // automatic upload: files in the input become CDN URLs before it is serialised
    return Effect.flatMap(
      UploadInput.auto(service, modelId, input, options),
      (sent) =>
        Either.match(Request.modelRequest(service, service.urls.run, modelId, sent, options?.options), {
          onLeft: Effect.fail,
          onRight: ({ request }) =>
            Request.execute(service, {
              operation: "run",
              modelId,
              request,
              retry: options?.retry,
              timeouts: options?.timeouts,
              deadline: options?.deadline,
              onResponse: (response, meta) =>
                Effect.map(
                  Effect.flatMap(
                    Request.json("run", response, meta.requestId),
                    (body) =>
                      Request.output("run", options?.output, body, {
                        status: response.status,
                        requestId: meta.requestId
                      })
                  ),
                  (data): Fal.Result<A> => ({ requestId: meta.requestId, data, meta })
                )
            })
        })
    )
  }).pipe(Effect.tap(Request.annotate))
)
