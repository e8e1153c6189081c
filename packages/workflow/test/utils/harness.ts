import type { FalClient } from "@effect-fal/api"
import { WebhookKeys } from "@effect-fal/api"
import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import { FalJob } from "@effect-fal/workflow"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import type { WorkflowEngine } from "@effect/workflow"
import { Context, Deferred, Effect, Layer, Schema } from "effect"
import * as http from "node:http"

/** Three models chained by the tests: an "upload" step, a generation and an upscale. */
export const models = (options: { readonly gate?: Deferred.Deferred<void> } = {}): ReadonlyArray<Model.Model> => [
  Model.make({
    id: "test/upload",
    input: Schema.Struct({ name: Schema.String }),
    handler: (input) => Effect.succeed({ url: `https://v3.fal.media/files/${input.name}` })
  }),
  Model.make({
    id: "test/generate",
    input: Schema.Struct({ image_url: Schema.String, prompt: Schema.String }),
    handler: (input) =>
      Effect.zipRight(
        options.gate === undefined ? Effect.void : Deferred.await(options.gate),
        Effect.succeed({ image: { url: `${input.image_url}?prompt=${encodeURIComponent(input.prompt)}` } })
      )
  }),
  Model.make({
    id: "test/upscale",
    input: Schema.Struct({ image_url: Schema.String, scale: Schema.Number }),
    handler: (input) => Effect.succeed({ image: { url: `${input.image_url}&x${input.scale}` } })
  }),
  Model.make({
    id: "test/refuse",
    input: Schema.Struct({ prompt: Schema.String }),
    handler: () => Effect.fail(new Model.ModelError({ status: 422, detail: [{ msg: "refused", loc: ["body"] }] }))
  })
]

/**
 * Serves `FalJob.webhookHandler` on a loopback port with the given engine, verifying deliveries
 * against the emulator's JWKS; returns its URL.
 */
export const serveWebhooks = (engine: Context.Context<WorkflowEngine.WorkflowEngine>) =>
  Effect.gen(function*() {
    const server = yield* Layer.build(NodeHttpServer.layer(() => http.createServer(), { port: 0, host: "127.0.0.1" }))
    const keys = yield* Layer.build(WebhookKeys.layerFromFalClient())
    yield* HttpServer.serveEffect(FalJob.webhookHandler).pipe(
      Effect.provide(server),
      Effect.provide(keys),
      Effect.provide(engine)
    )
    const address = Context.get(server, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP address")
    return `http://127.0.0.1:${address.port}/fal/webhook`
  })

/** Submits seen by the emulator, per model. */
export const submits = (modelId: string) =>
  Effect.map(
    FalPlatform.FalPlatform,
    (platform) =>
      Effect.map(platform.httpLog, (log) =>
        log.filter((entry) => entry.method === "POST" && entry.base === "queue" && entry.path === `/${modelId}`))
  ).pipe(Effect.flatten)

export const emulator = (options: { readonly gate?: Deferred.Deferred<void> } = {}) =>
  FalEmulator.layerClient({ config: { models: models(options), demoModels: false } })

export type Emulator = FalClient.FalClient | FalPlatform.FalPlatform | FalEmulator.FalEmulator
