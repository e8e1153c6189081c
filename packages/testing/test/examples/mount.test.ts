/**
 * The "Mounting the gateway in your own server" example of docs/testing.md, type-checked and run.
 */
import { FalPlatform, Gateway } from "@effect-fal/testing"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as http from "node:http"

// your server: a route of your own, and the fake fal under /fal
const app = HttpRouter.empty.pipe(
  HttpRouter.get("/health", HttpServerResponse.text("ok")),
  HttpRouter.mountApp("/fal", Gateway.httpAppNode)
)

const server = HttpServer.serve(app).pipe(
  Layer.provide(FalPlatform.layer()),
  Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { port: 0, host: "127.0.0.1" }))
)

describe("mounting the gateway", () => {
  it.live("serves your route and fal's bases side by side", () =>
    Effect.gen(function*() {
      const address = (yield* HttpServer.HttpServer).address
      const origin = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`
      const urls = Gateway.urlsAt(`${origin}/fal`) // run: .../fal/run, queue: .../fal/queue, ...
      const health = yield* Effect.promise(() => fetch(`${origin}/health`).then((r) => r.text()))
      assert.strictEqual(health, "ok")
      const submitted = yield* Effect.promise(() =>
        fetch(`${urls.queue}/fal-ai/echo`, {
          method: "POST",
          headers: { authorization: `Key ${FalPlatform.defaultKeys.user}`, "content-type": "application/json" },
          body: JSON.stringify({ hello: "world" })
        }).then((r) => r.json() as Promise<{ status_url: string }>)
      )
      // URLs in answers carry the mount prefix
      assert.isTrue(submitted.status_url.startsWith(`${urls.queue}/fal-ai/echo/requests/`))
    }).pipe(Effect.provide(server)))
})
