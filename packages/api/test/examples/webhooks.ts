// The code shown in docs/webhooks.md, type-checked by tsc; `receiveInTest` is also run by
// packages/api/test/Webhooks.test.ts; `receiveFromEmulator` by packages/api/test/Webhooks.emulator.test.ts.
import { Queue, WebhookKeys, Webhooks } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import { FalEmulator, FalPlatform, WebhookSigner } from "@effect-fal/testing"
import { FileSystem, HttpRouter, HttpServer } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { Deferred, Effect, Layer, Schema } from "effect"
import { createServer } from "node:http"

// --- 1. submit with a webhook ------------------------------------------------------------------

export const submitted = Queue.submit("fal-ai/flux/dev", { prompt: "a fox in the snow" }, {
  options: RequestOptions.webhookUrl("https://example.com/fal/webhook")
})

// --- 2. receive: mount the handler -------------------------------------------------------------

const Images = Schema.Struct({
  images: Schema.Array(Schema.Struct({ url: Schema.String, content_type: Schema.optional(Schema.String) }))
})

const onEvent = (event: Webhooks.WebhookEvent<typeof Images.Type>) => {
  switch (event._tag) {
    case "Ok":
      return Effect.log(`${event.requestId}: ${event.payload.images.map((image) => image.url).join(", ")}`)
    case "Error":
      return Effect.logWarning(`${event.requestId} failed: ${event.error ?? "no error text"}`, event.payload)
    case "PayloadError":
      return Effect.logWarning(`${event.requestId}: the output was not JSON (${event.payloadError})`)
  }
}

export const router = HttpRouter.empty.pipe(
  HttpRouter.post("/fal/webhook", Webhooks.handler(onEvent, { payload: Images }))
)

export const ServerLive = HttpServer.serve(router).pipe(
  Layer.provide(WebhookKeys.layer()), // fal's JWKS, cached 24 h, refetched on rotation
  Layer.provide(NodeHttpClient.layerUndici),
  Layer.provide(NodeHttpServer.layer(createServer, { port: 3000 }))
)

// --- 3. or verify by hand, in any framework: the raw body bytes and the headers ------------------

export const verifyRaw = (headers: Record<string, string>, rawBody: Uint8Array) =>
  Webhooks.verify({ headers, body: rawBody }, { payload: Images }).pipe(
    Effect.catchTag("WebhookRejected", (rejected) =>
      // `reason` names the failed check; answer Webhooks.statusOf(rejected.reason)
      Effect.succeed({ rejected: rejected.reason, status: Webhooks.statusOf(rejected.reason) }))
  )

// --- 4. several receiving processes: one duplicate guard in a shared store --------------------

/**
 * Whatever your store offers: an atomic "insert unless present" answering the state found, an
 * update and a delete, with expiry.
 */
interface ClaimStore {
  readonly insertIfAbsent: (key: string, value: "inProgress", ttlSeconds: number) => Effect.Effect<
    "inserted" | "inProgress" | "done"
  >
  readonly put: (key: string, value: "done", ttlSeconds: number) => Effect.Effect<void>
  readonly remove: (key: string) => Effect.Effect<void>
}

const threeHours = 3 * 60 * 60

export const sharedDeduplication = (store: ClaimStore) =>
  Layer.succeed(Webhooks.WebhookDeduplication, {
    claim: (requestId) =>
      Effect.map(
        store.insertIfAbsent(`fal-webhook:${requestId}`, "inProgress", threeHours),
        (found) => found === "inserted" ? "claimed" : found
      ),
    complete: (requestId) => store.put(`fal-webhook:${requestId}`, "done", threeHours),
    release: (requestId) => store.remove(`fal-webhook:${requestId}`)
  })

// --- a public endpoint: the body limit ---------------------------------------------------------

// deliveries whose outputs are URLs only: a few MiB is plenty
export const smallDeliveries = Webhooks.handler((event) => Effect.log(event.requestId), {
  maxBodySize: FileSystem.MiB(4)
})

// --- 5. testing a receiver: sign deliveries with WebhookSigner ------------------------------------

export const receiveInTest = Effect.gen(function*() {
  const signer = yield* WebhookSigner.WebhookSigner
  const { keys } = yield* signer.jwks
  const body = JSON.stringify({
    request_id: "req-1",
    gateway_request_id: "req-1",
    status: "OK",
    payload: { images: [{ url: "https://example.com/fox.png" }] }
  })
  const headers = yield* signer.sign({ requestId: "req-1", userId: "user-1", body })
  return yield* Webhooks.verify({ headers, body }, { payload: Images }).pipe(
    Effect.provide(WebhookKeys.layerFixed(keys))
  )
}).pipe(Effect.provide(WebhookSigner.layer()))

// over real HTTP: serve the signer's JWKS, and point WebhookKeys at it
export const jwksServer = HttpServer.serve(WebhookSigner.router).pipe(
  Layer.provide(NodeHttpServer.layer(createServer, { port: 0 })),
  Layer.provideMerge(WebhookSigner.layer())
)
export const keysFromLoopback = (port: number) =>
  WebhookKeys.layer({ url: `http://127.0.0.1:${port}${WebhookSigner.jwksPath}` })

// --- 6. testing a receiver against the emulator: real deliveries, the emulator's JWKS ---------------

const Echo = Schema.Struct({ prompt: Schema.String })

/** The loopback emulator, and a FalClient (and HttpClient) with every base on it. */
export const EmulatorLive = FalEmulator.layerClient()

export const receiveFromEmulator = Effect.gen(function*() {
  const received = yield* Deferred.make<Webhooks.WebhookEvent<typeof Echo.Type>>()
  // the receiver under test, on a free loopback port; its keys are the emulator's JWKS
  const receiver = HttpRouter.empty.pipe(
    HttpRouter.post("/fal/webhook", Webhooks.handler((event) => Deferred.succeed(received, event), { payload: Echo }))
  )
  yield* HttpServer.serveEffect(receiver).pipe(Effect.provide(WebhookKeys.layerFromFalClient()))
  const url = yield* HttpServer.addressWith((address) =>
    Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}/fal/webhook` : "")
  )
  // a real job: the emulator runs it, signs the delivery and POSTs it to the receiver
  const submitted = yield* Queue.submit("fal-ai/echo", { prompt: "a fox" }, {
    options: RequestOptions.webhookUrl(url)
  })
  const event = yield* Deferred.await(received)
  // rotate the emulator's key: the next delivery is signed with the new one, and the receiver
  // refetches the JWKS once (at most once a minute) to verify it
  const platform = yield* FalPlatform.FalPlatform
  yield* platform.webhookSigner.rotate()
  return { submitted, event, kid: yield* platform.webhookSigner.activeKid }
}).pipe(
  Effect.scoped,
  Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Effect.provide(EmulatorLive)
)
