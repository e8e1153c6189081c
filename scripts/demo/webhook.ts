/**
 * The webhook step of `pnpm demo`: a receiver on loopback built with `Webhooks.handler` (keys
 * from the emulator's JWKS, under the FalClient's `rest` base), one job submitted with its URL,
 * and the verified event printed beside the result streamed and fetched through the queue.
 *
 * Live (FAL_KEY set) it is skipped: fal would have to reach the receiver from the internet.
 */
import { Queue, WebhookKeys, Webhooks } from "@effect-fal/api"
import type { FalClient, FalError } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createServer } from "node:http"

const line = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))

/** The output of the demo's painter, as the receiver decodes it. */
const Painting = Schema.Struct({
  images: Schema.Array(Schema.Struct({ url: Schema.String, content_type: Schema.optional(Schema.String) })),
  prompt: Schema.String
})

const describe = (event: Webhooks.WebhookEvent<typeof Painting.Type>): string => {
  switch (event._tag) {
    case "Ok":
      return `Ok ${event.payload.images.map((image) => image.url).join(", ")} ("${event.payload.prompt}")`
    case "Error":
      return `Error ${event.error ?? ""} ${JSON.stringify(event.payload)}`
    case "PayloadError":
      return `PayloadError ${event.payloadError}`
  }
}

/** Why live mode skips the step. */
export const skippedLive = line(
  "webhook  skipped: fal delivers webhooks to a public URL, and this demo's receiver listens on loopback only"
)

/**
 * Starts the receiver on `127.0.0.1` (port 0) for the step's duration, submits `model` with a
 * webhook to it, follows the status stream, fetches the result, and waits for the verified
 * delivery.
 */
export const webhookStep = (
  model: string,
  input: Record<string, unknown>
): Effect.Effect<void, FalError.FalError, FalClient.FalClient | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const received = yield* Deferred.make<Webhooks.WebhookEvent<typeof Painting.Type>>()
    const router = HttpRouter.empty.pipe(
      HttpRouter.post(
        "/fal/webhook",
        Webhooks.handler((event) => Deferred.succeed(received, event), { payload: Painting })
      )
    )
    const keys = yield* Layer.build(WebhookKeys.layerFromFalClient())
    // a loopback server on a free port: failing to listen is a defect of the machine, not a demo step
    const server = yield* Layer.build(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })).pipe(
      Effect.orDie
    )
    yield* HttpServer.serveEffect(router).pipe(Effect.provide(server), Effect.provide(keys))
    const address = Context.get(server, HttpServer.HttpServer).address
    const url = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}/fal/webhook`
    yield* line(`webhook  receiver ${url} (Webhooks.handler, keys from the emulator's JWKS)`)

    const submitted = yield* Queue.submit(model, input, { options: RequestOptions.webhookUrl(url) })
    yield* line(`webhook  queued ${submitted.requestId} with fal_webhook`)
    const last = yield* Queue.statusStream(submitted).pipe(Stream.runLast)
    const result = yield* Queue.result(submitted)
    const event = yield* Deferred.await(received).pipe(
      Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "no delivery within 30 seconds" }),
      Effect.catchAll((reason) => Effect.as(line(`webhook  ${reason}`), undefined))
    )
    const streamed = last._tag === "Some" ? last.value.status : "(no status)"
    yield* line(`webhook  streamed  ${streamed}, result ${JSON.stringify(result.data)}`)
    if (event !== undefined) yield* line(`webhook  verified  ${event.requestId}: ${describe(event)}`)
  }).pipe(Effect.scoped)
