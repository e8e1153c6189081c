/**
 * The server proxy (SPEC section 13) on loopback, in front of the loopback emulator: fal's
 * official client (`proxyUrl`) and effect-fal's `FalClient.layerProxy` through it, the refusals
 * (each checked against the emulator's request log: nothing went upstream), the key replacing a
 * forged `Authorization`, and the status stream relayed event by event.
 */
import { Fal, FalClient, FalProxy, Queue, Storage, Tokens } from "@effect-fal/api"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { authenticate, layerProxyServer, officialThroughProxy, ProxyServer, session } from "./utils/proxy.js"
import * as Tracing from "./utils/tracing.js"

const emulatorWithProxy = (options?: (urls: FalPlatform.Urls) => Partial<FalProxy.Options>) =>
  layerProxyServer((urls) => ({ authenticate, allowedBases: [urls], ...options?.(urls) })).pipe(
    Layer.provideMerge(FalEmulator.layerClient())
  )

const withProxy = <A, E>(
  f: (
    env: { readonly urls: FalPlatform.Urls; readonly proxy: string; readonly platform: FalPlatform.Service }
  ) => Effect.Effect<A, E, FalClient.FalClient>,
  options?: (urls: FalPlatform.Urls) => Partial<FalProxy.Options>
) =>
  Effect.gen(function*() {
    const { urls } = yield* FalEmulator.FalEmulator
    const platform = yield* FalPlatform.FalPlatform
    const { url } = yield* ProxyServer
    return yield* f({ urls, proxy: url, platform })
  }).pipe(Effect.provide(emulatorWithProxy(options)))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** A raw call to the proxy, as a browser's fetch would make it. */
const call = (proxy: string, init: { method?: string; headers?: Record<string, string>; body?: BodyInit }) =>
  promise(async () => {
    const response = await fetch(proxy, {
      method: init.method ?? "POST",
      headers: init.headers ?? {},
      body: init.body ?? null
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

const signedIn = { [session.name]: session.value, "content-type": "application/json" }

describe("FalProxy with fal's official client (proxyUrl)", () => {
  it.live("fal.run goes through the proxy with the server's key; nothing of the caller's but x-fal-* reaches fal", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const fal = officialThroughProxy(urls, proxy)
        const result = yield* promise(() => fal.run("fal-ai/echo", { input: { prompt: "a cat" } }))
        assert.deepStrictEqual(result.data, { prompt: "a cat" })
        const log = yield* platform.httpLog
        assert.strictEqual(log.length, 1)
        assert.strictEqual(log[0].path, "/fal-ai/echo")
        assert.strictEqual(log[0].auth, "user")
        assert.strictEqual(result.requestId, log[0].id)
        assert.isUndefined(log[0].headers[session.name])
        assert.isUndefined(log[0].headers[FalProxy.targetUrlHeader])
      })
    ))

  it.live("fal.subscribe in polling mode", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const statuses: Array<string> = []
        const result = yield* promise(() =>
          officialThroughProxy(urls, proxy).subscribe("fal-ai/slow", {
            input: { seconds: 1 },
            logs: true,
            mode: "polling",
            pollInterval: 50,
            onQueueUpdate: (update) => statuses.push(update.status)
          })
        )
        assert.deepStrictEqual(result.data, { slept: 1 })
        assert.strictEqual(statuses[statuses.length - 1], "COMPLETED")
        const log = yield* platform.httpLog
        const polls = log.filter((r) => r.path.endsWith("/status"))
        assert.isTrue(polls.length >= 2, `${polls.length} status calls`)
        assert.deepStrictEqual(log.filter((r) => r.auth !== "user").map((r) => `${r.method} ${r.path}`), [])
      })
    ))

  it.live("fal.subscribe in streaming mode reads the status stream through the proxy", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const updates: Array<string> = []
        const result = yield* promise(() =>
          officialThroughProxy(urls, proxy).subscribe("fal-ai/slow", {
            input: { seconds: 1.2 },
            logs: true,
            mode: "streaming",
            onQueueUpdate: (update) => updates.push(update.status)
          })
        )
        assert.deepStrictEqual(result.data, { slept: 1.2 })
        assert.isTrue(updates.includes("IN_PROGRESS"))
        assert.strictEqual(updates[updates.length - 1], "COMPLETED")
        const log = yield* platform.httpLog
        assert.isTrue(log.some((r) => r.path.endsWith("/status/stream")))
      })
    ))

  it.live("fal.stream: the partial outputs come through the proxy as they are made, with the server's key", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const stream = yield* promise(() =>
          officialThroughProxy(urls, proxy).stream("fal-ai/counter", { input: { count: 3, delay_ms: 10 } })
        )
        const events: Array<unknown> = []
        yield* promise(async () => {
          for await (const event of stream) events.push(event)
        })
        const done = yield* promise(() => stream.done())
        assert.deepStrictEqual(events, [1, 2, 3].map((index) => ({ index, count: 3, done: index === 3 })))
        assert.deepStrictEqual(done, { index: 3, count: 3, done: true })
        const log = yield* platform.httpLog
        assert.strictEqual(log.length, 1)
        assert.strictEqual(log[0].path, "/fal-ai/counter/stream")
        assert.strictEqual(log[0].auth, "user")
        assert.strictEqual(stream.requestId, log[0].id)
        const record = yield* platform.awaitStreamEnd(log[0].id)
        assert.strictEqual(record.outcome, "completed")
      })
    ))

  it.live("fal.queue submit, status and result", () =>
    withProxy(({ proxy, urls }) =>
      Effect.gen(function*() {
        const fal = officialThroughProxy(urls, proxy)
        const { request_id } = yield* promise(() => fal.queue.submit("fal-ai/echo", { input: { n: 1 } }))
        const status = yield* promise(() => fal.queue.status("fal-ai/echo", { requestId: request_id }))
        assert.include(["IN_QUEUE", "IN_PROGRESS", "COMPLETED"], status.status)
        yield* promise(() =>
          fal.queue.subscribeToStatus("fal-ai/echo", { requestId: request_id, mode: "polling", pollInterval: 20 })
        )
        const result = yield* promise(() => fal.queue.result("fal-ai/echo", { requestId: request_id }))
        assert.deepStrictEqual(result.data, { n: 1 })
      })
    ))

  it.live("fal.storage.upload: the initiate call through the proxy, the bytes straight to the signed URL", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const bytes = new Uint8Array([1, 2, 3, 4, 5])
        const url = yield* promise(() =>
          officialThroughProxy(urls, proxy).storage.upload(new Blob([bytes], { type: "image/png" }))
        )
        const served = yield* promise(() => fetch(url).then((r) => r.arrayBuffer()))
        assert.deepStrictEqual(new Uint8Array(served), bytes)
        const log = yield* platform.httpLog
        const initiate = log.find((r) => r.base === "storage")
        assert.strictEqual(initiate?.path, "/storage/upload/initiate")
        assert.strictEqual(initiate?.auth, "user")
        const put = log.find((r) => r.base === "upload" && r.method === "PUT")
        assert.strictEqual(put?.auth, "missing")
      })
    ))

  it.live(
    "fal.storage.upload of a 91 MB file: multipart, initiate-multipart through the proxy",
    () =>
      withProxy(({ platform, proxy, urls }) =>
        Effect.gen(function*() {
          const size = 91 * 1024 * 1024
          const bytes = new Uint8Array(size)
          bytes[0] = 7
          bytes[size - 1] = 9
          const url = yield* promise(() => officialThroughProxy(urls, proxy).storage.upload(new Blob([bytes])))
          const file = yield* platform.file(url)
          assert.isTrue(Option.isSome(file))
          const log = yield* platform.httpLog
          const initiate = log.find((r) => r.base === "storage")
          assert.strictEqual(initiate?.path, "/storage/upload/initiate-multipart")
          assert.strictEqual(initiate?.auth, "user")
          assert.strictEqual(log.filter((r) => r.base === "upload" && r.method === "PUT").length, 10)
        })
      ),
    { timeout: 60_000 }
  )
})

describe("FalProxy with effect-fal's FalClient.layerProxy", () => {
  const throughProxy = (proxy: string, urls: FalPlatform.Urls) =>
    FalClient.layerProxy({
      url: proxy,
      urls: { run: urls.run, queue: urls.queue, api: urls.api, rest: urls.rest, storage: urls.storage },
      // the session, as a browser's cookie would carry it
      transformClient: HttpClient.mapRequest(HttpClientRequest.setHeader(session.name, session.value))
    }).pipe(Layer.provide(NodeHttpClient.layerUndici))

  it.live("Fal.run, Queue.subscribe and Storage.upload work through the proxy; the key is the server's", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const client = yield* FalClient.FalClient
        assert.isFalse(client.hasAdminKey)
        const run = yield* Fal.run("fal-ai/echo", { hello: "proxy" })
        assert.deepStrictEqual(run.data, { hello: "proxy" })
        const subscribed = yield* Queue.subscribe("fal-ai/slow", { seconds: 0.2 })
        assert.deepStrictEqual(subscribed.data, { slept: 0.2 })
        const bytes = new TextEncoder().encode("through the proxy")
        const uploaded = yield* Storage.upload(bytes, { contentType: "text/plain", fileName: "a.txt" })
        const served = yield* Effect.promise(() => fetch(uploaded.url).then((r) => r.text()))
        assert.strictEqual(served, "through the proxy")
        const log = yield* platform.httpLog
        // every call for fal's bases came through the proxy with the server's key; the bytes
        // went to the signed URL without one
        for (const entry of log) {
          assert.strictEqual(entry.auth, entry.base === "upload" || entry.base === "cdn" ? "missing" : "user")
          assert.isUndefined(entry.headers[FalProxy.targetUrlHeader])
        }
        assert.isTrue(log.some((r) => r.path.endsWith("/status/stream")))
      }).pipe(Effect.provide(throughProxy(proxy, urls)))
    ))

  it.live("Fal.stream goes through the proxy with the server's key, not a temporary token", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const outputs = yield* Fal.streamEvents("fal-ai/counter", { count: 3, delay_ms: 5 }).pipe(
          Stream.runCollect
        )
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(outputs),
          [1, 2, 3].map((index) => ({ index, count: 3, done: index === 3 }))
        )
        const log = yield* platform.httpLog
        assert.deepStrictEqual(log.map((entry) => [entry.path, entry.auth]), [["/fal-ai/counter/stream", "user"]])
        assert.isUndefined(log[0].query.fal_jwt_token)
      }).pipe(Effect.provide(throughProxy(proxy, urls)))
    ))

  it.effect("the proxy client sends calls for fal's bases to the proxy, the rest where they point, never a key", () =>
    Effect.gen(function*() {
      const seen: Array<{ url: string; target: string | undefined; authorization: string | undefined }> = []
      const recorder = HttpClient.make((request) =>
        Effect.sync(() => {
          seen.push({
            url: request.url,
            target: request.headers[FalProxy.targetUrlHeader],
            authorization: request.headers.authorization
          })
          return HttpClientResponse.fromWeb(request, new Response("{}", { status: 200 }))
        })
      )
      const client = yield* FalClient.makeProxy({ url: "https://app.example/api/fal/proxy" }).pipe(
        Effect.provideService(HttpClient.HttpClient, recorder)
      )
      yield* client.httpClient.execute(
        HttpClientRequest.get("https://queue.fal.run/fal-ai/echo/requests/abc/status").pipe(
          HttpClientRequest.setUrlParam("logs", "1"),
          HttpClientRequest.setHeader("authorization", "Key forged")
        )
      )
      yield* client.httpClient.execute(HttpClientRequest.put("https://signed.example/upload/1?token=t"))
      assert.deepStrictEqual(seen, [
        {
          url: "https://app.example/api/fal/proxy",
          target: "https://queue.fal.run/fal-ai/echo/requests/abc/status?logs=1",
          authorization: undefined
        },
        { url: "https://signed.example/upload/1?token=t", target: undefined, authorization: undefined }
      ])
    }))

  it.effect("an unusable proxy URL is an InvalidConfiguration", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        FalClient.makeProxy({ url: "ftp://x" }).pipe(Effect.provide(NodeHttpClient.layerUndici))
      )
      assert.strictEqual(error._tag, "InvalidConfiguration")
      assert.strictEqual(error.option, "url")
    }))
})

describe("FalProxy refusals: nothing is sent upstream", () => {
  const refused = (
    init: { method?: string; headers?: Record<string, string>; body?: BodyInit },
    status: number,
    reason: RegExp,
    options?: (urls: FalPlatform.Urls) => Partial<FalProxy.Options>
  ) =>
    withProxy(({ platform, proxy }) =>
      Effect.gen(function*() {
        const answer = yield* call(proxy, init)
        assert.strictEqual(answer.status, status, answer.text)
        assert.match((JSON.parse(answer.text) as { error: string }).error, reason)
        assert.deepStrictEqual(yield* platform.httpLog, [])
      }), options)

  it.live("a missing target: 400", () => refused({ headers: signedIn, body: "{}" }, 400, /x-fal-target-url/))

  it.live("a disallowed host: 400", () =>
    refused(
      { headers: { ...signedIn, "x-fal-target-url": "https://example.com/fal-ai/echo" }, body: "{}" },
      400,
      /not allowed/
    ))

  it.live("an emulator path outside the allowed calls (the api base): 400", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const answer = yield* call(proxy, {
          method: "GET",
          headers: { ...signedIn, "x-fal-target-url": `${urls.api}/models/requests/by-endpoint` }
        })
        assert.strictEqual(answer.status, 400)
        assert.deepStrictEqual(yield* platform.httpLog, [])
      })
    ))

  it.live("fal's own host while the FalClient is aimed elsewhere: 400, the key goes only to the client's bases", () =>
    refused(
      { headers: { ...signedIn, "x-fal-target-url": "https://fal.run/fal-ai/echo" }, body: "{}" },
      400,
      /not under the FalClient's bases/
    ))

  it.live("a disallowed endpoint: 400", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const denied = yield* call(proxy, {
          headers: { ...signedIn, "x-fal-target-url": `${urls.run}/fal-ai/image` },
          body: JSON.stringify({ prompt: "x" })
        })
        assert.strictEqual(denied.status, 400)
        assert.match(denied.text, /fal-ai\/image is not allowed/)
        assert.deepStrictEqual(yield* platform.httpLog, [])
        const allowed = yield* call(proxy, {
          headers: { ...signedIn, "x-fal-target-url": `${urls.queue}/fal-ai/echo` },
          body: JSON.stringify({ a: 1 })
        })
        assert.strictEqual(allowed.status, 200)
        // the upload calls name no model: allowedEndpoints does not limit them
        const initiate = yield* call(proxy, {
          headers: {
            ...signedIn,
            "x-fal-target-url": `${urls.storage}/storage/upload/initiate?storage_type=fal-cdn-v3`
          },
          body: JSON.stringify({ content_type: "text/plain", file_name: "a.txt" })
        })
        assert.strictEqual(initiate.status, 200)
        assert.strictEqual((yield* platform.httpLog).length, 2)
      }), () => ({ allowedEndpoints: ["fal-ai/echo"] })))

  it.live("an unauthenticated caller: 401", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const answer = yield* call(proxy, {
          headers: { "content-type": "application/json", "x-fal-target-url": `${urls.run}/fal-ai/echo` },
          body: "{}"
        })
        assert.strictEqual(answer.status, 401)
        assert.match(answer.text, /unauthenticated/)
        assert.deepStrictEqual(yield* platform.httpLog, [])
      })
    ))

  it.live("without an authenticate option every caller is refused", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const answer = yield* call(proxy, {
          headers: { ...signedIn, "x-fal-target-url": `${urls.run}/fal-ai/echo` },
          body: "{}"
        })
        assert.strictEqual(answer.status, 401)
        assert.match(answer.text, /no authenticate option/)
        assert.deepStrictEqual(yield* platform.httpLog, [])
      }), () => ({ authenticate: undefined })))

  it.live("an oversized body: 413, with a declared length and chunked", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const headers = { ...signedIn, "x-fal-target-url": `${urls.run}/fal-ai/echo` }
        const big = JSON.stringify({ text: "x".repeat(2000) })
        const declared = yield* call(proxy, { headers, body: big })
        assert.strictEqual(declared.status, 413)
        const chunked = yield* promise(async () => {
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode(big.slice(0, 1000)))
              controller.enqueue(new TextEncoder().encode(big.slice(1000)))
              controller.close()
            }
          })
          const response = await fetch(proxy, { method: "POST", headers, body, duplex: "half" } as RequestInit)
          return response.status
        })
        assert.strictEqual(chunked, 413)
        assert.deepStrictEqual(yield* platform.httpLog, [])
        const small = yield* call(proxy, { headers, body: JSON.stringify({ text: "x" }) })
        assert.strictEqual(small.status, 200)
      }), () => ({ maxBodySize: 1024 })))

  it.live("a forged Authorization is replaced by the server's key, never forwarded; cookies stay behind", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const answer = yield* call(proxy, {
          headers: {
            ...signedIn,
            authorization: `Key ${FalPlatform.defaultKeys.admin}`,
            cookie: "session=secret",
            "x-fal-target-url": `${urls.run}/fal-ai/echo`
          },
          body: JSON.stringify({ a: 1 })
        })
        assert.strictEqual(answer.status, 200)
        const log = yield* platform.httpLog
        assert.strictEqual(log.length, 1)
        assert.strictEqual(log[0].auth, "user")
        assert.isUndefined(log[0].headers.cookie)
        assert.isFalse(answer.text.includes(FalPlatform.defaultKeys.user))
      })
    ))
})

describe("FalProxy misconfigured", () => {
  it.live("an unusable option answers 500 naming it, and sends nothing", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const answer = yield* call(proxy, {
          headers: { ...signedIn, "x-fal-target-url": `${urls.run}/fal-ai/echo` },
          body: "{}"
        })
        assert.strictEqual(answer.status, 500)
        assert.match(answer.text, /maxBodySize/)
        assert.deepStrictEqual(yield* platform.httpLog, [])
      }), () => ({ maxBodySize: -1 })))
})

describe("FalProxy relays answers", () => {
  it.live("an error answer keeps its status and body", () =>
    withProxy(({ proxy, urls }) =>
      Effect.gen(function*() {
        const answer = yield* call(proxy, {
          headers: { ...signedIn, "x-fal-target-url": `${urls.run}/fal-ai/validate` },
          body: JSON.stringify({ prompt: "", steps: 99 })
        })
        assert.strictEqual(answer.status, 422)
        assert.isTrue(Array.isArray((JSON.parse(answer.text) as { detail: unknown }).detail))
        assert.isNull(answer.headers.get("content-encoding"))
      })
    ))

  it.live("the status stream arrives event by event: the first event before the job has finished", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const submitted = yield* call(proxy, {
          headers: { ...signedIn, "x-fal-target-url": `${urls.queue}/fal-ai/slow` },
          body: JSON.stringify({ seconds: 3 })
        })
        const { request_id } = JSON.parse(submitted.text) as { request_id: string }
        const first = yield* promise(async () => {
          const response = await fetch(proxy, {
            method: "GET",
            headers: {
              [session.name]: session.value,
              accept: "text/event-stream",
              "x-fal-target-url": `${urls.queue}/fal-ai/slow/requests/${request_id}/status/stream?logs=1`
            }
          })
          const reader = response.body!.getReader()
          const chunk = await reader.read()
          return {
            contentType: response.headers.get("content-type"),
            text: new TextDecoder().decode(chunk.value),
            cancel: () => reader.cancel()
          }
        })
        const job = yield* platform.job(request_id)
        assert.isTrue(Option.isSome(job))
        assert.notStrictEqual(Option.getOrThrow(job).status, "COMPLETED")
        assert.match(first.contentType ?? "", /text\/event-stream/)
        assert.match(first.text, /data: /)
        yield* promise(first.cancel)
      })
    ))
})

describe("FalProxy keeps the key to itself", () => {
  const key = "proxy-key-id:proxy-key-secret-0123456789"

  it.effect("an upstream answer quoting the key is redacted; no span or log holds it", () =>
    Effect.gen(function*() {
      const upstream: Array<{ url: string; authorization: string | undefined; cookie: string | undefined }> = []
      const transport = HttpClient.make((request) =>
        Effect.sync(() => {
          upstream.push({
            url: request.url,
            authorization: request.headers.authorization,
            cookie: request.headers.cookie
          })
          return HttpClientResponse.fromWeb(
            request,
            new Response(JSON.stringify({ detail: `invalid credentials: Key ${key}` }), {
              status: 500,
              headers: { "content-type": "application/json", "x-echo": key }
            })
          )
        })
      )
      const client = yield* FalClient.make({ key: Redacted.make(key) }).pipe(
        Effect.provideService(HttpClient.HttpClient, transport)
      )
      const request = HttpServerRequest.fromWeb(
        new Request("http://app.example/api/fal/proxy", {
          method: "POST",
          headers: {
            "content-type": "application/json",
            cookie: "session=1",
            authorization: "Key forged",
            "x-fal-target-url": "https://fal.run/fal-ai/echo"
          },
          body: "{}"
        })
      )
      const logs: Array<string> = []
      const logger = Logger.make(({ annotations, message }) => {
        logs.push(JSON.stringify({ message, annotations: [...annotations] }))
      })
      const { spans, tracer } = yield* Tracing.recorder
      const response = yield* FalProxy.httpApp({ authenticate: FalProxy.allowAll }).pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, request),
        Effect.provideService(FalClient.FalClient, client),
        Effect.withTracer(tracer),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Effect.withLogSpan("test")
      )
      const web = HttpServerResponse.toWeb(response)
      const text = yield* Effect.promise(() => web.text())
      // the key went upstream, in place of the forged header; the cookie did not
      assert.deepStrictEqual(upstream, [{
        url: "https://fal.run/fal-ai/echo",
        authorization: `Key ${key}`,
        cookie: undefined
      }])
      assert.strictEqual(web.status, 500)
      assert.isFalse(text.includes("proxy-key-secret"), text)
      assert.include(text, "<redacted>")
      assert.isFalse((web.headers.get("x-echo") ?? "").includes("proxy-key-secret"))
      const proxySpan = spans.find((span) => span.name === "fal.proxy")
      assert.isDefined(proxySpan)
      assert.strictEqual(proxySpan?.attributes.get("http.response.status_code"), 500)
      for (const span of spans) {
        assert.isFalse(JSON.stringify([...span.attributes]).includes("proxy-key-secret"), span.name)
      }
      assert.isFalse(logs.join("\n").includes("proxy-key-secret"))
    }))
})

describe("FalProxy temporary tokens", () => {
  it.live("POST {storage}/tokens/ is refused by default and relayed with allowTokens", () =>
    Effect.gen(function*() {
      const target = (urls: FalPlatform.Urls) => ({
        headers: { ...signedIn, "x-fal-target-url": `${urls.storage}/tokens/` },
        body: JSON.stringify({ allowed_apps: ["echo"], token_expiration: 120 })
      })
      yield* withProxy(({ platform, proxy, urls }) =>
        Effect.gen(function*() {
          const answer = yield* call(proxy, target(urls))
          assert.strictEqual(answer.status, 400)
          assert.deepStrictEqual(yield* platform.httpLog, [])
        })
      )
      yield* withProxy(({ platform, proxy, urls }) =>
        Effect.gen(function*() {
          yield* call(proxy, target(urls))
          const log = yield* platform.httpLog
          assert.strictEqual(log.length, 1)
          assert.strictEqual(log[0].path, "/tokens/")
          assert.strictEqual(log[0].auth, "user")
        }), () => ({ allowTokens: true, allowedEndpoints: ["fal-ai/echo"] }))
    }))

  it.live("Tokens.create from a keyless FalClient.layerProxy gets a token through the proxy with allowTokens", () =>
    withProxy(({ platform, proxy, urls }) =>
      Effect.gen(function*() {
        const token = yield* Tokens.create("fal-ai/echo", { expiration: "2 minutes" }).pipe(
          Effect.provide(
            FalClient.layerProxy({
              url: proxy,
              urls: { run: urls.run, queue: urls.queue, api: urls.api, rest: urls.rest, storage: urls.storage },
              transformClient: HttpClient.mapRequest(HttpClientRequest.setHeader(session.name, session.value))
            }).pipe(Layer.provide(NodeHttpClient.layerUndici))
          )
        )
        assert.strictEqual(token.app, "fal-ai/echo")
        assert.isTrue(Redacted.value(token.value).length > 0)
        const log = yield* platform.httpLog
        assert.strictEqual(log.length, 1)
        assert.strictEqual(log[0].base, "rest")
        assert.strictEqual(log[0].path, "/tokens/")
        assert.strictEqual(log[0].auth, "user")
      }), () => ({ allowTokens: true })))
})

describe("FalProxy.toWebHandler", () => {
  it.live("serves web Requests with the FalClient of the layer", () =>
    Effect.gen(function*() {
      const { urls } = yield* FalEmulator.FalEmulator
      const platform = yield* FalPlatform.FalPlatform
      const serverClient = FalClient.layer({
        key: Redacted.make(FalPlatform.defaultKeys.user),
        urls: { run: urls.run, queue: urls.queue, api: urls.api, rest: urls.rest, storage: urls.storage }
      }).pipe(Layer.orDie, Layer.provide(NodeHttpClient.layerUndici))
      const { dispose, handler } = FalProxy.toWebHandler({ authenticate, allowedBases: [urls] }, serverClient)
      yield* Effect.addFinalizer(() => Effect.promise(dispose))
      const response = yield* promise(() =>
        handler(
          new Request("http://app.example/api/fal/proxy", {
            method: "POST",
            headers: { ...signedIn, "x-fal-target-url": `${urls.run}/fal-ai/echo` },
            body: JSON.stringify({ via: "web handler" })
          })
        )
      )
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(yield* promise(() => response.json()), { via: "web handler" })
      assert.strictEqual((yield* platform.httpLog)[0].auth, "user")
    }).pipe(Effect.scoped, Effect.provide(FalEmulator.layer())))
})
