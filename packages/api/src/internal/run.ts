import type { InvalidRequestOptions } from "@effect-fal/headers/InvalidRequestOptions"
import { single } from "@effect-fal/headers/InvalidRequestOptions"
import type * as RequestOptions from "@effect-fal/headers/RequestOptions"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
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
const queueOnly = (options: RequestOptions.RequestOptions | undefined): InvalidRequestOptions | undefined => {
  if (options?.webhookUrl !== undefined) {
    return single({
      name: "fal_webhook",
      location: "query",
      value: JSON.stringify(options.webhookUrl),
      reason: "is a queue parameter: a synchronous run has no webhook (use Queue.submit)"
    })
  }
  if (options?.maxQueueLength !== undefined) {
    return single({
      name: "fal_max_queue_length",
      location: "query",
      value: String(options.maxQueueLength),
      reason: "is a queue parameter: a synchronous run is not queued (use Queue.submit)"
    })
  }
  return undefined
}

/**
 * `Fal.run`: one call in a client span `fal.run`. Written as one chain of effects rather than
 * `Effect.fn`: on this hot path the generator, the call-site stack capture and the extra steps
 * cost about as much as the HTTP call itself (issue 13's profile); the span, its attributes and
 * every check are the same.
 *
 * The span is made with `Effect.useSpan` and handed to the attempts as the parent of their
 * `http.client` spans, rather than set as the fiber's current span (`Effect.withSpan`): nothing
 * else in the call runs user code that could look for it, and setting and restoring it cost about
 * as much as the rest of the call's own work (issue 13). An upload of the input's files, the one
 * part that makes spans of its own, runs under it explicitly.
 */
export const run = <A = unknown, I = unknown>(
  modelId: string,
  input: unknown,
  options?: Fal.CallOptions & { readonly output?: Schema.Schema<A, I> | undefined }
): Effect.Effect<Fal.Result<A>, FalError, FalClient> =>
  Effect.useSpan(
    "fal.run",
    { kind: "client", captureStackTrace: false, attributes: { "fal.model_id": modelId } },
    (span) =>
      // the service read from the context in this step (`FalClient` is in the requirements)
      Effect.withFiberRuntime<Fal.Result<A>, FalError, FalClient>((fiber) => {
        const service = Context.unsafeGet(fiber.currentContext, FalClient)
        const rejected = queueOnly(options?.options)
        if (rejected !== undefined) return Effect.fail(rejected)
        const send = ({ request }: Request.ModelRequest) =>
          Effect.tap(
            Request.executeWith(service, {
              operation: "run",
              request,
              span,
              retry: options?.retry,
              timeouts: options?.timeouts,
              deadline: options?.deadline,
              onResponse: (response, meta) =>
                Effect.flatMap(
                  Request.json("run", response, meta.requestId),
                  (json): Effect.Effect<Fal.Result<A>, FalError> =>
                    options?.output === undefined
                      // only reachable through the overload without a schema, where A is `unknown`
                      ? Effect.succeed({ requestId: meta.requestId, data: json as A, meta })
                      : Effect.map(
                        Request.decode("run", options.output, json, {
                          status: response.status,
                          requestId: meta.requestId
                        }),
                        (data) => ({ requestId: meta.requestId, data, meta })
                      )
                )
            }),
            (result) => Request.annotateSpan(span, result)
          )
        // automatic upload (issue 9): files in the input become CDN URLs before it is serialised
        if (UploadInput.wanted(input, options)) {
          return UploadInput.auto(service, modelId, input, options, span).pipe(
            Effect.flatMap((sent) => Request.modelRequest(service, service.urls.run, modelId, sent, options?.options)),
            Effect.flatMap(send)
          )
        }
        const prepared = Request.modelRequestEither(service, service.urls.run, modelId, input, options?.options)
        return Either.isLeft(prepared) ? Effect.fail(prepared.left) : send(prepared.right)
      })
  )
