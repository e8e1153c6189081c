import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Fal from "../Fal.js"
import { FalClient } from "../FalClient.js"
import type { FalError } from "../FalError.js"
import * as Request from "./request.js"

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

export const run = <A = unknown, I = unknown>(
  modelId: string,
  input: unknown,
  options?: Fal.CallOptions & { readonly output?: Schema.Schema<A, I> | undefined }
): Effect.Effect<Fal.Result<A>, FalError, FalClient> =>
  Effect.gen(function*() {
    const service = yield* FalClient
    const { request } = yield* Request.modelRequest(service, service.urls.run, modelId, input, options?.options)
    return yield* Request.execute({
      operation: "run",
      request,
      retry: options?.retry,
      maxQueueLength: options?.options?.maxQueueLength !== undefined,
      onResponse: (response, meta) =>
        Request.json("run", response, meta.requestId).pipe(
          Effect.flatMap((json) =>
            output("run", options?.output, json, { status: response.status, requestId: meta.requestId })
          ),
          Effect.map((data): Fal.Result<A> => ({ requestId: meta.requestId, data, meta }))
        )
    })
  }).pipe(Request.traced("run", { "fal.model_id": modelId }))
