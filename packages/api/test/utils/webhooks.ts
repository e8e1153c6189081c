import type { Webhooks } from "@effect-fal/api"
import { WebhookSigner } from "@effect-fal/testing"
import { HttpClient, HttpClientRequest, HttpRouter, HttpServer } from "@effect/platform"
import type { HttpApp } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Ref, TestClock } from "effect"
import * as http from "node:http"

/** A fixed, realistic "now" for the TestClock: 2026-05-28. */
export const now = 1_780_000_000_000
export const nowSeconds = now / 1000

export const atNow = TestClock.setTime(now)

/** Serves an app on a loopback port for the rest of the scope; returns its base URL. */
export const serve = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const server = yield* Layer.build(NodeHttpServer.layer(() => http.createServer(), { port: 0, host: "127.0.0.1" }))
    yield* HttpServer.serveEffect(app).pipe(Effect.provide(server))
    const address = Context.get(server, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP address")
    return `http://127.0.0.1:${address.port}`
  })

/** A base URL nothing listens on any more (a server started, then closed). */
export const closedUrl = Effect.scoped(serve(HttpRouter.empty))

/** Serves the signer's JWKS, counting the requests. */
export const jwksServer = (signer: WebhookSigner.Service) =>
  Effect.gen(function*() {
    const hits = yield* Ref.make(0)
    const app = HttpRouter.empty.pipe(
      HttpRouter.mount(
        "/rest",
        WebhookSigner.router.pipe(HttpRouter.use(Effect.zipLeft(Ref.update(hits, (n) => n + 1))))
      ),
      Effect.provideService(WebhookSigner.WebhookSigner, signer)
    )
    const base = yield* serve(app)
    return { url: `${base}/rest${WebhookSigner.jwksPath}`, hits: Ref.get(hits) }
  })

export const deliveryBody = (fields: Record<string, unknown>): string =>
  JSON.stringify({ request_id: "req-1", gateway_request_id: "gw-1", status: "OK", payload: null, ...fields })

/** POSTs a delivery; answers the status and the JSON body. */
export const post = (url: string, headers: Record<string, string>, body: Uint8Array | string) =>
  HttpClient.execute(
    HttpClientRequest.post(url).pipe(
      HttpClientRequest.setHeaders(headers),
      typeof body === "string"
        ? HttpClientRequest.bodyText(body, "application/json")
        : HttpClientRequest.bodyUint8Array(body, "application/json")
    )
  ).pipe(
    Effect.flatMap((response) => Effect.map(response.json, (json) => ({ status: response.status, json }))),
    Effect.scoped
  )

export const reasonOf = (effect: Effect.Effect<unknown, Webhooks.WebhookRejected, never>) =>
  effect.pipe(
    Effect.flip,
    Effect.map((error) => error.reason)
  )
