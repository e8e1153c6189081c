/**
 * A webhook receiver alone in its process, to measure what a delivery costs the server and
 * nothing else: `node --expose-gc --import tsx packages/api/test/utils/webhookReceiver.ts`, with
 * `WEBHOOK_JWKS` (the JWKS JSON to verify with). It serves `Webhooks.handler` (defaults only) at
 * `POST /fal/webhook` on a loopback port, which its first and only stdout line gives as
 * `{"port": n}` (it logs nothing).
 *
 * `GET /stats` answers, and then resets, what was measured since the last `/stats`:
 * - `heap` / `arrayBuffers`: bytes in use after a full GC, now;
 * - `peak`: the most `heapUsed + arrayBuffers` seen (sampled every 5 ms and at each answer);
 * - `requests`: per webhook request, its status, the time from its arrival to the end of its
 *   answer, and the bytes its connection had read by then (headers included).
 *
 * Used by Webhooks.body.test.ts and by the soak's webhook flood (scripts/soak-webhooks.ts).
 */
import { WebhookKeys, Webhooks } from "@effect-fal/api"
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Logger, LogLevel, Schema } from "effect"
import * as http from "node:http"
import type { RequestFigures, Stats } from "./webhooks.js"

const Jwks = Schema.parseJson(Schema.Struct({ keys: Schema.Array(WebhookKeys.Jwk) }))

const collect = () => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run with node --expose-gc")
  gc()
  gc()
}

const used = () => {
  const memory = process.memoryUsage()
  return memory.heapUsed + memory.arrayBuffers
}

let requests: Array<RequestFigures> = []
let peak = 0
const sample = () => {
  peak = Math.max(peak, used())
}

/** The Node server, timing each webhook request from its arrival to the end of its answer. */
const server = () => {
  const server = http.createServer()
  server.on("request", (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (request.url !== "/fal/webhook") return
    const start = performance.now()
    response.on("finish", () => {
      sample()
      requests.push({ status: response.statusCode, ms: performance.now() - start, bytesRead: request.socket.bytesRead })
    })
  })
  return server
}

const stats = Effect.sync(() => {
  collect()
  const memory = process.memoryUsage()
  const figures: Stats = { heap: memory.heapUsed, arrayBuffers: memory.arrayBuffers, peak, requests }
  requests = []
  peak = used()
  return HttpServerResponse.unsafeJson(figures)
})

const main = Effect.gen(function*() {
  const { keys } = yield* Schema.decodeUnknown(Jwks)(process.env.WEBHOOK_JWKS ?? "")
  setInterval(sample, 5).unref()
  const router = HttpRouter.empty.pipe(
    HttpRouter.post("/fal/webhook", Webhooks.handler(() => Effect.void)),
    HttpRouter.get("/stats", stats)
  )
  yield* HttpServer.serveEffect(router).pipe(Effect.provide(WebhookKeys.layerFixed(keys)))
  const port = yield* HttpServer.addressWith((address) =>
    Effect.succeed(address._tag === "TcpAddress" ? address.port : 0)
  )
  process.stdout.write(`${JSON.stringify({ port })}\n`)
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  Effect.provide(NodeHttpServer.layer(server, { port: 0, host: "127.0.0.1" })),
  // nothing but the port on stdout (the parent stops reading it), and no cost per rejection logged
  Logger.withMinimumLogLevel(LogLevel.None)
)

NodeRuntime.runMain(main)
