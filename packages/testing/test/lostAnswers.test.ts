/**
 * Answers lost after the state change (issue 23): each fault is shown to apply the request on
 * the platform (an upload stored, a part kept, a multipart upload completed, payloads deleted)
 * while the client gets no readable answer; and what a repeated request meets then (a signed URL
 * stays valid, a repeated complete answers the same file URL). Reads are hit once by a 500, 502
 * or 504, and status streams closed early as a proxy closes long-lived connections. In memory on
 * the `TestClock`, and over loopback with real sockets.
 */
import { FalPlatform, Fault } from "@effect-fal/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { call, withEmulator } from "./utils/fetch.js"
import { send, submit } from "./utils/memory.js"

const urls = FalPlatform.defaultUrls
const admin = FalPlatform.defaultKeys.admin
const bytes = new TextEncoder().encode("the bytes of an input file")

interface Initiated {
  readonly upload_url: string
  readonly file_url: string
}

/** A request through the in-memory client, its body bytes; the answer's status and text. */
const exchange = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    Effect.flatMap(
      client.execute(request),
      (response) => Effect.map(response.text, (text) => ({ status: response.status, text }))
    )).pipe(Effect.scoped)

const initiate = (multipart: boolean) =>
  Effect.map(
    send(
      "POST",
      `${urls.storage}/storage/upload/${multipart ? "initiate-multipart" : "initiate"}?storage_type=fal-cdn-v3`,
      { body: { content_type: "text/plain", file_name: "input.txt" } }
    ),
    (answer) => answer.json as Initiated
  )

const put = (url: string, body: Uint8Array = bytes) =>
  exchange(HttpClientRequest.put(url).pipe(HttpClientRequest.bodyUint8Array(body, "text/plain")))

/** `{origin+path}/{suffix}{query}` of a multipart upload URL (SPEC section 8). */
const partUrl = (uploadUrl: string, suffix: string | number) => {
  const url = new URL(uploadUrl)
  return `${url.origin}${url.pathname}/${suffix}${url.search}`
}

const complete = (uploadUrl: string, parts: ReadonlyArray<{ partNumber: number; etag: string }>) =>
  exchange(
    HttpClientRequest.post(partUrl(uploadUrl, "complete")).pipe(HttpClientRequest.bodyUnsafeJson({ parts }))
  )

const cdnText = (fileUrl: string) => exchange(HttpClientRequest.get(fileUrl))

const isTransport = (error: HttpClientError.HttpClientError) =>
  error._tag === "RequestError" && error.reason === "Transport"

/** A GET with the user key. */
const authorizedGet = (url: string) =>
  HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("authorization", `Key ${FalPlatform.defaultKeys.user}`))

const lastEntry = Effect.flatMap(
  FalPlatform.FalPlatform,
  (platform) => Effect.map(platform.httpLog, (log) => log.at(-1)!)
)

describe("Fault.target", () => {
  it("fills in the endpoint of each operation", () => {
    assert.deepStrictEqual(Fault.target("partPut"), { endpoint: "upload", operation: "partPut" })
    assert.deepStrictEqual(Fault.target("status", { modelId: "fal-ai/echo" }), {
      endpoint: "queue",
      operation: "status",
      modelId: "fal-ai/echo"
    })
    assert.strictEqual(Fault.target("payloadsDelete").endpoint, "api")
  })
})

describe("lost answers, in memory", () => {
  it.effect("upload initiate cut short: the session exists (its URL takes a PUT), the body cannot be read", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ ...Fault.target("uploadInitiate"), fault: Fault.cutShort({ bytes: 10_000 }) })
      const failed = yield* Effect.flip(initiate(false))
      assert.strictEqual(failed._tag, "ResponseError")
      assert.strictEqual((yield* lastEntry).status, 200)
      // an initiate not targeted is answered whole
      const whole = yield* initiate(false)
      assert.strictEqual((yield* put(whole.upload_url)).status, 200)
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("single PUT reset after: the file is stored, the client sees a transport error; the same PUT succeeds again", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const initiated = yield* initiate(false)
      yield* platform.injectFault({ ...Fault.target("uploadPut"), fault: Fault.resetAfter })
      const lost = yield* Effect.flip(put(initiated.upload_url))
      assert.isTrue(isTransport(lost), String(lost))
      assert.strictEqual((yield* lastEntry).status, "reset")
      const stored = yield* cdnText(initiated.file_url)
      assert.deepStrictEqual(stored, { status: 200, text: "the bytes of an input file" })
      // the signed URL stays valid: a retried PUT after the bytes were stored succeeds
      assert.strictEqual((yield* put(initiated.upload_url)).status, 200)
      assert.strictEqual((yield* cdnText(initiated.file_url)).text, "the bytes of an input file")
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("multipart part PUT reset after: the part is kept (a complete with its etag succeeds); a repeated PUT answers the same etag", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const initiated = yield* initiate(true)
      yield* platform.injectFault({ ...Fault.target("partPut"), fault: Fault.resetAfter })
      const lost = yield* Effect.flip(put(partUrl(initiated.upload_url, 1)))
      assert.isTrue(isTransport(lost))
      const again = yield* put(partUrl(initiated.upload_url, 1))
      assert.strictEqual(again.status, 200)
      const { etag } = JSON.parse(again.text) as { etag: string }
      assert.strictEqual((yield* complete(initiated.upload_url, [{ partNumber: 1, etag }])).status, 200)
      assert.strictEqual((yield* cdnText(initiated.file_url)).text, "the bytes of an input file")
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("multipart complete reset after: the file exists; a repeated complete answers 200 with the same file URL", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const initiated = yield* initiate(true)
      const part = JSON.parse((yield* put(partUrl(initiated.upload_url, 1))).text) as { etag: string }
      const parts = [{ partNumber: 1, etag: part.etag }]
      yield* platform.injectFault({ ...Fault.target("multipartComplete"), fault: Fault.resetAfter })
      const lost = yield* Effect.flip(complete(initiated.upload_url, parts))
      assert.isTrue(isTransport(lost))
      assert.strictEqual((yield* lastEntry).status, "reset")
      assert.strictEqual((yield* cdnText(initiated.file_url)).status, 200, "the upload was completed")
      const repeated = yield* complete(initiated.upload_url, parts)
      assert.deepStrictEqual(repeated, { status: 200, text: JSON.stringify({ file_url: initiated.file_url }) })
      // other parts, or a part after completion: refused
      const other = yield* complete(initiated.upload_url, [{ partNumber: 1, etag: "\"other\"" }])
      assert.strictEqual(other.status, 409)
      assert.strictEqual((yield* put(partUrl(initiated.upload_url, 2))).status, 404)
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("v1 payload delete cut short: 200 and its headers arrive, the body cannot be read, the deletion is applied", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const job = yield* submit("fal-ai/image", { prompt: "p" })
      yield* platform.awaitStatus(job.request_id)
      yield* platform.injectFault({ ...Fault.target("payloadsDelete"), fault: Fault.cutShort() })
      const client = yield* HttpClient.HttpClient
      const response = yield* client.execute(
        HttpClientRequest.del(`${urls.api}/models/requests/${job.request_id}/payloads`).pipe(
          HttpClientRequest.setHeader("authorization", `Key ${admin}`)
        )
      )
      assert.strictEqual(response.status, 200)
      assert.isDefined(response.headers["content-length"])
      const body = yield* Effect.flip(response.text)
      assert.strictEqual(body._tag, "ResponseError")
      const entry = yield* lastEntry
      assert.isTrue(entry.fault !== undefined && Fault.is("CutShort")(entry.fault))
      const result = yield* send("GET", `${urls.queue}/fal-ai/image/requests/${job.request_id}`)
      assert.strictEqual(result.status, 404, "the payloads were deleted")
    }).pipe(Effect.scoped, Effect.provide(FalPlatform.layerClient())))

  it.effect("status, result and status stream reads answer 502, 504 and 500 once, then normally", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const job = yield* submit("fal-ai/echo", { token: "r" })
      yield* platform.awaitStatus(job.request_id)
      yield* platform.injectFault({ ...Fault.target("status"), fault: Fault.status(502) })
      yield* platform.injectFault({ ...Fault.target("result"), fault: Fault.status(504) })
      yield* platform.injectFault({ ...Fault.target("statusStream"), fault: Fault.status(500) })
      const base = `${urls.queue}/fal-ai/echo/requests/${job.request_id}`
      // the result fault does not hit the status read, nor the stream's
      assert.strictEqual((yield* send("GET", `${base}/status`)).status, 502)
      assert.strictEqual((yield* send("GET", `${base}/status`)).status, 200)
      assert.strictEqual((yield* send("GET", `${base}/status/stream`)).status, 500)
      assert.strictEqual((yield* send("GET", base)).status, 504)
      assert.strictEqual((yield* send("GET", base)).status, 200)
      const stream = yield* send("GET", `${base}/status/stream`)
      assert.include(stream.text, "COMPLETED")
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("closeStreamAfter: every status stream ends after 30 s of the TestClock, before COMPLETED", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({
        ...Fault.target("statusStream"),
        fault: Fault.closeStreamAfter("30 seconds"),
        times: Infinity
      })
      const job = yield* submit("fal-ai/slow", { seconds: 120 })
      const client = yield* HttpClient.HttpClient
      const read = client.execute(
        authorizedGet(`${urls.queue}/fal-ai/slow/requests/${job.request_id}/status/stream`)
      )
        .pipe(
          Effect.flatMap((response) => Stream.runCollect(Stream.decodeText(response.stream))),
          Effect.map((chunks) => [...chunks].join("")),
          Effect.scoped
        )
      const first = yield* Effect.fork(read)
      const second = yield* Effect.fork(read)
      yield* TestClock.adjust("29 seconds")
      const early = yield* Fiber.poll(first)
      assert.isTrue(early._tag === "None", `still open before 30 s: ${JSON.stringify(early)}`)
      yield* TestClock.adjust("1 second")
      for (const fiber of [first, second]) {
        const text = yield* Fiber.join(fiber)
        assert.include(text, "IN_PROGRESS")
        assert.notInclude(text, "COMPLETED")
      }
      const job2 = yield* platform.job(job.request_id)
      assert.isTrue(job2._tag === "Some" && job2.value.status === "IN_PROGRESS", "the job goes on")
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("closeStreamAfter abrupt: the stream's body fails after the duration", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({
        ...Fault.target("statusStream"),
        fault: Fault.closeStreamAfter("10 seconds", { abrupt: true })
      })
      const job = yield* submit("fal-ai/slow", { seconds: 60 })
      const client = yield* HttpClient.HttpClient
      const fiber = yield* client.execute(
        authorizedGet(`${urls.queue}/fal-ai/slow/requests/${job.request_id}/status/stream`)
      ).pipe(Effect.flatMap((response) => Stream.runDrain(response.stream)), Effect.scoped, Effect.either, Effect.fork)
      yield* TestClock.adjust("10 seconds")
      const ended = yield* Fiber.join(fiber)
      assert.isTrue(Either.isLeft(ended) && ended.left._tag === "ResponseError")
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})

describe("lost answers, over loopback", () => {
  const initiateOver = (storage: string) =>
    Effect.map(
      call("POST", `${storage}/storage/upload/initiate?storage_type=fal-cdn-v3`, {
        body: { content_type: "text/plain", file_name: "input.txt" }
      }),
      (answer) => answer.json as Initiated
    )
  const putOver = (url: string) =>
    Effect.either(Effect.tryPromise(() => fetch(url, { method: "PUT", body: bytes }).then((r) => r.status)))

  it.live("single PUT reset after: the socket is destroyed, the file is stored; the same PUT succeeds again", () =>
    withEmulator((bases, platform) =>
      Effect.gen(function*() {
        const initiated = yield* initiateOver(bases.storage)
        yield* platform.injectFault({ ...Fault.target("uploadPut"), fault: Fault.resetAfter })
        assert.isTrue(Either.isLeft(yield* putOver(initiated.upload_url)), "no answer reached the client")
        const stored = yield* call("GET", initiated.file_url, { key: null })
        assert.strictEqual(stored.text, "the bytes of an input file")
        assert.deepStrictEqual(yield* putOver(initiated.upload_url), Either.right(200))
      })
    ))

  it.live("multipart complete reset after: the file exists; the repeated complete answers the same file URL", () =>
    withEmulator((bases, platform) =>
      Effect.gen(function*() {
        const initiated =
          (yield* call("POST", `${bases.storage}/storage/upload/initiate-multipart?storage_type=fal-cdn-v3`, {
            body: { content_type: "text/plain", file_name: "input.txt" }
          })).json as Initiated
        const part = yield* Effect.promise(() =>
          fetch(partUrl(initiated.upload_url, 1), { method: "PUT", body: bytes }).then((r) => r.json())
        ) as Effect.Effect<{ etag: string }>
        const body = JSON.stringify({ parts: [{ partNumber: 1, etag: part.etag }] })
        yield* platform.injectFault({ ...Fault.target("multipartComplete"), fault: Fault.resetAfter })
        const completeOnce = Effect.either(
          Effect.tryPromise(() =>
            fetch(partUrl(initiated.upload_url, "complete"), { method: "POST", body }).then((r) => r.text())
          )
        )
        assert.isTrue(Either.isLeft(yield* completeOnce))
        assert.strictEqual((yield* call("GET", initiated.file_url, { key: null })).status, 200)
        assert.deepStrictEqual(yield* completeOnce, Either.right(JSON.stringify({ file_url: initiated.file_url })))
      })
    ))

  it.live("v1 payload delete cut short: the client reads 200 and headers, then the body fails; the deletion is applied", () =>
    withEmulator((bases, platform) =>
      Effect.gen(function*() {
        const submitted = yield* call("POST", `${bases.queue}/fal-ai/image`, { body: { prompt: "p" } })
        const id = (submitted.json as { request_id: string }).request_id
        yield* platform.awaitStatus(id)
        yield* platform.injectFault({ ...Fault.target("payloadsDelete"), fault: Fault.cutShort() })
        const outcome = yield* Effect.promise(async () => {
          const response = await fetch(`${bases.api}/models/requests/${id}/payloads`, {
            method: "DELETE",
            headers: { authorization: `Key ${admin}` }
          })
          const body = await response.text().then(() => "read", (error: unknown) => `failed: ${String(error)}`)
          return { status: response.status, body }
        })
        assert.strictEqual(outcome.status, 200)
        assert.match(outcome.body, /^failed/)
        const result = yield* call("GET", `${bases.queue}/fal-ai/image/requests/${id}`)
        assert.strictEqual(result.status, 404, "the payloads were deleted")
      })
    ))

  it.live("closeStreamAfter abrupt: the socket is destroyed mid-stream, the body read fails", () =>
    withEmulator((bases, platform) =>
      Effect.gen(function*() {
        yield* platform.injectFault({
          ...Fault.target("statusStream"),
          fault: Fault.closeStreamAfter("200 millis", { abrupt: true })
        })
        const submitted = yield* call("POST", `${bases.queue}/fal-ai/slow`, { body: { seconds: 30 } })
        const id = (submitted.json as { request_id: string }).request_id
        const outcome = yield* Effect.promise(async () => {
          const response = await fetch(`${bases.queue}/fal-ai/slow/requests/${id}/status/stream`, {
            headers: { authorization: `Key ${FalPlatform.defaultKeys.user}` }
          })
          const body = await response.text().then(() => "read", (error: unknown) => `failed: ${String(error)}`)
          return { status: response.status, body }
        })
        assert.strictEqual(outcome.status, 200)
        assert.match(outcome.body, /^failed/)
      })
    ))

  it.live("closeStreamAfter: the status stream ends cleanly after the duration, before COMPLETED", () =>
    withEmulator((bases, platform) =>
      Effect.gen(function*() {
        yield* platform.injectFault({ ...Fault.target("statusStream"), fault: Fault.closeStreamAfter("200 millis") })
        const submitted = yield* call("POST", `${bases.queue}/fal-ai/slow`, { body: { seconds: 30 } })
        const id = (submitted.json as { request_id: string }).request_id
        const stream = yield* call("GET", `${bases.queue}/fal-ai/slow/requests/${id}/status/stream`)
        assert.strictEqual(stream.status, 200)
        assert.include(stream.text, "data: ")
        assert.notInclude(stream.text, "COMPLETED")
      })
    ))
})
