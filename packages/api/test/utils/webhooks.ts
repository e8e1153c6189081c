import type { Webhooks } from "@effect-fal/api"
import { WebhookSigner } from "@effect-fal/testing"
import { HttpClient, HttpClientRequest, HttpRouter, HttpServer } from "@effect/platform"
import type { HttpApp } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Ref, Schema, TestClock } from "effect"
import * as http from "node:http"
import { Readable } from "node:stream"

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

export interface RawAnswer {
  readonly status: number
  readonly json: unknown
  /** The body bytes the client produced before the answer came (the rest never was). */
  readonly produced: number
}

/**
 * POSTs over node:http (not through an `HttpClient`: the answer may come while the body is still
 * being sent, and the server may close the connection then). The body is `body`, or `size` bytes
 * of filler made as they are sent, never allocated whole. With `chunked`, no `content-length` is
 * declared. Once the answer has come, the request is dropped: the rest of the body is not sent.
 */
export const rawPost = (
  url: string,
  options: {
    readonly headers?: Record<string, string> | undefined
    readonly body?: Uint8Array | string | undefined
    readonly size?: number | undefined
    readonly chunked?: boolean | undefined
  }
) =>
  Effect.async<RawAnswer, Error>((resume) => {
    const bytes = typeof options.body === "string" ? Buffer.from(options.body, "utf8") : options.body
    const size = bytes?.byteLength ?? options.size ?? 0
    const filler = Buffer.alloc(64 * 1024, 0x61)
    let produced = 0
    const source = new Readable({
      read() {
        if (produced >= size) return void this.push(null)
        const n = Math.min(filler.byteLength, size - produced)
        const chunk = bytes === undefined ? filler.subarray(0, n) : bytes.subarray(produced, produced + n)
        produced += n
        this.push(chunk)
      }
    })
    const request = http.request(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(options.chunked === true ? {} : { "content-length": String(size) }),
        ...options.headers
      }
    })
    let answered = false
    request.on("response", (response) => {
      const parts: Array<Buffer> = []
      response.on("data", (part: Buffer) => parts.push(part))
      response.on("end", () => {
        answered = true
        const text = Buffer.concat(parts).toString("utf8")
        resume(
          Effect.succeed({ status: response.statusCode ?? 0, json: text === "" ? null : JSON.parse(text), produced })
        )
        source.destroy()
        request.destroy()
      })
    })
    // An error after the answer (the server closing while the body was still being sent) is expected.
    request.on("error", (error) => {
      if (!answered) resume(Effect.fail(error))
    })
    source.pipe(request)
    return Effect.sync(() => {
      source.destroy()
      request.destroy()
    })
  })

/** What utils/webhookReceiver.ts measured, as its `GET /stats` answers. */
export const Stats = Schema.Struct({
  heap: Schema.Number,
  arrayBuffers: Schema.Number,
  peak: Schema.Number,
  requests: Schema.Array(Schema.Struct({ status: Schema.Number, ms: Schema.Number, bytesRead: Schema.Number }))
})
export type Stats = typeof Stats.Type
export type RequestFigures = Stats["requests"][number]
