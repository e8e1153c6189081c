/**
 * The platform on the TestClock, through the in-memory HttpClient: start timeouts, retention,
 * CDN lifecycle, server-side retries, priority, hints, fallbacks, webhooks, idempotency window.
 */
import { FalPlatform, Fault, Model } from "@effect-fal/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { send, submit } from "./utils/memory.js"

const admin = FalPlatform.defaultKeys.admin

const statusOf = (platform: FalPlatform.Service, id: string) =>
  Effect.map(platform.job(id), (r) => Option.map(r, (x) => x.status).pipe(Option.getOrUndefined))

describe("start timeout", () => {
  it.effect("expires while queued: 504 with X-Fal-Request-Timeout-Type: user", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const busy = yield* submit("fal-ai/slow", { seconds: 60 })
      yield* platform.awaitStatus(busy.request_id, "IN_PROGRESS")
      const queued = yield* submit("fal-ai/echo", {}, {}, "")
      const waiting = yield* submit("fal-ai/slow", { seconds: 1 }, { "X-Fal-Request-Timeout": "5" })
      assert.strictEqual(queued.request_id.length, 36)
      yield* TestClock.adjust("4999 millis")
      assert.strictEqual(yield* statusOf(platform, waiting.request_id), "IN_QUEUE")
      yield* TestClock.adjust("1 millis")
      const record = yield* platform.awaitStatus(waiting.request_id)
      assert.strictEqual(record.attempts, 0)
      const result = yield* send("GET", waiting.response_url)
      assert.strictEqual(result.status, 504)
      assert.strictEqual(result.headers["x-fal-request-timeout-type"], "user")
      assert.strictEqual(result.headers["x-fal-error-type"], "request_timeout")
      const status = (yield* send("GET", waiting.status_url)).json as { status: string; error_type: string }
      assert.strictEqual(status.status, "COMPLETED")
      assert.strictEqual(status.error_type, "request_timeout")
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("a sync run answers the 504 directly", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const busy = yield* submit("fal-ai/slow", { seconds: 60 })
      yield* platform.awaitStatus(busy.request_id, "IN_PROGRESS")
      const run = yield* Effect.fork(
        send("POST", "https://fal.run/fal-ai/slow", { body: {}, headers: { "X-Fal-Request-Timeout": "0.5" } })
      )
      yield* platform.awaitHttpLog((r) => r.base === "run")
      yield* TestClock.adjust("500 millis")
      const answer = yield* Fiber.join(run)
      assert.strictEqual(answer.status, 504)
      assert.strictEqual(answer.headers["x-fal-request-timeout-type"], "user")
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("covers failed attempts: a deadline passing during a failing attempt ends the request", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.register(Model.make({
        id: "acme/flaky",
        input: Schema.Unknown,
        handler: () =>
          Effect.zipRight(
            Effect.sleep("2 seconds"),
            Effect.fail(new Model.ModelError({ status: 503, errorType: "runner_disconnected", detail: "lost" }))
          )
      }))
      const job = yield* submit("acme/flaky", {}, { "X-Fal-Request-Timeout": "5" })
      yield* TestClock.adjust("6 seconds")
      const record = yield* platform.awaitStatus(job.request_id)
      assert.strictEqual(record.attempts, 3)
      assert.strictEqual(record.result?.status, 504)
      assert.strictEqual(record.result?.headers["X-Fal-Request-Timeout-Type"], "user")
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("no longer applies once a runner has started", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const job = yield* submit("fal-ai/slow", { seconds: 10 }, { "X-Fal-Request-Timeout": "1" })
      yield* TestClock.adjust("10 seconds")
      const record = yield* platform.awaitStatus(job.request_id)
      assert.strictEqual(record.result?.status, 200)
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})

describe("server-side retries", () => {
  it.effect("10 attempts in all on 503, then the failure", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({
        endpoint: "runner",
        modelId: "fal-ai/echo",
        times: 100,
        fault: Fault.status(503, "runner_connection_error")
      })
      const job = yield* submit("fal-ai/echo", {})
      const record = yield* platform.awaitStatus(job.request_id)
      assert.strictEqual(record.attempts, 10)
      const result = yield* send("GET", job.response_url)
      assert.strictEqual(result.status, 503)
      assert.strictEqual(result.headers["x-fal-error-type"], "runner_connection_error")
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("a connection failure is retried and may then succeed", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "runner", modelId: "fal-ai/echo", times: 2, fault: Fault.reset })
      const job = yield* submit("fal-ai/echo", { ok: true })
      const record = yield* platform.awaitStatus(job.request_id)
      assert.strictEqual(record.attempts, 3)
      assert.deepStrictEqual((yield* send("GET", job.response_url)).json, { ok: true })
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("none with X-Fal-No-Retry", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({
        endpoint: "runner",
        modelId: "fal-ai/echo",
        times: 100,
        fault: Fault.status(504, "request_timeout")
      })
      const job = yield* submit("fal-ai/echo", {}, { "X-Fal-No-Retry": "1" })
      const record = yield* platform.awaitStatus(job.request_id)
      assert.strictEqual(record.attempts, 1)
      assert.strictEqual(record.result?.status, 504)
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("non-transient failures are not retried", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const job = yield* submit("fal-ai/fail", { error_type: "runner_server_error" })
      assert.strictEqual((yield* platform.awaitStatus(job.request_id)).attempts, 1)
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("falls back to the configured model unless fallbacks are disabled", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const echo = (id: string, fallback?: string) =>
        Model.make({
          id,
          input: Schema.Unknown,
          handler: (input) => Effect.succeed({ from: id, input }),
          ...(fallback === undefined ? {} : { fallback })
        })
      yield* platform.register(echo("acme/backup"))
      yield* platform.register(echo("acme/primary", "acme/backup"))
      yield* platform.injectFault({ endpoint: "runner", modelId: "acme/primary", times: 1, fault: Fault.reset })
      const moved = yield* submit("acme/primary", {})
      const record = yield* platform.awaitStatus(moved.request_id)
      assert.strictEqual(record.servedFrom, "acme-backup-runner-0")
      assert.deepStrictEqual((yield* send("GET", moved.response_url)).json, { from: "acme/backup", input: {} })

      yield* platform.injectFault({ endpoint: "runner", modelId: "acme/primary", times: 1, fault: Fault.reset })
      const pinned = yield* submit("acme/primary", {}, { "x-app-fal-disable-fallback": "true" })
      const pinnedRecord = yield* platform.awaitStatus(pinned.request_id)
      assert.strictEqual(pinnedRecord.servedFrom, "acme-primary-runner-0")
      assert.strictEqual(pinnedRecord.attempts, 2)
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})

describe("queue order and routing", () => {
  it.effect("a low request waits behind every normal one", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const busy = yield* submit("fal-ai/slow", { seconds: 1 })
      yield* platform.awaitStatus(busy.request_id, "IN_PROGRESS")
      const low = yield* submit("fal-ai/slow", { seconds: 1 }, { "X-Fal-Queue-Priority": "low" })
      const normal1 = yield* submit("fal-ai/slow", { seconds: 1 })
      const normal2 = yield* submit("fal-ai/slow", { seconds: 1 }, { "X-Fal-Queue-Priority": "normal" })
      const lowStatus = (yield* send("GET", low.status_url)).json as { queue_position: number }
      assert.strictEqual(lowStatus.queue_position, 2)
      for (let i = 0; i < 3; i++) yield* TestClock.adjust("1 second")
      const started = yield* Effect.forEach(
        [normal1, normal2, low],
        (j) => Effect.map(platform.job(j.request_id), (r) => Option.map(r, (x) => x.startedAt).pipe(Option.getOrNull))
      )
      assert.deepStrictEqual(started, [1000, 2000, 3000])
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("a hint routes to that runner when free; answers carry X-Fal-Served-From and hints", () =>
    Effect.gen(function*() {
      const hinted = yield* send("POST", "https://fal.run/fal-ai/echo", {
        body: {},
        headers: { "X-Fal-Runner-Hint": "fal-ai-echo-runner-2" }
      })
      assert.strictEqual(hinted.headers["x-fal-served-from"], "fal-ai-echo-runner-2")
      assert.strictEqual(hinted.headers["x-fal-runner-hints"], "fal-ai-echo-runner-2")
      const sticky = yield* send("POST", "https://fal.run/fal-ai/echo", {
        body: {},
        headers: { "X-Fal-Runner-Hint": hinted.headers["x-fal-runner-hints"] }
      })
      assert.strictEqual(sticky.headers["x-fal-served-from"], "fal-ai-echo-runner-2")
      const unknown = yield* send("POST", "https://fal.run/fal-ai/echo", {
        body: {},
        headers: { "X-Fal-Runner-Hint": "gone" }
      })
      assert.strictEqual(unknown.headers["x-fal-served-from"], "fal-ai-echo-runner-0")
    }).pipe(Effect.provide(FalPlatform.layerClient({ demoRunners: 3 }))))
})

describe("retention", () => {
  it.effect("payloads expire exactly at 30 days; the result then falls back to its 1 hour window", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const job = yield* submit("fal-ai/echo", { keep: 1 })
      yield* platform.awaitStatus(job.request_id)
      yield* TestClock.adjust("2 hours")
      assert.strictEqual((yield* send("GET", job.response_url)).status, 200, "stored payloads keep the result")
      yield* TestClock.adjust(30 * 24 * 3600 * 1000 - 2 * 3600 * 1000 - 1)
      assert.strictEqual((yield* platform.payloads).length, 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* platform.payloads).length, 0)
      assert.strictEqual((yield* send("GET", job.response_url)).status, 404)
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("without stored payloads the result is kept 1 hour", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const job = yield* submit("fal-ai/echo", {}, { "X-Fal-Store-IO": "0" })
      yield* platform.awaitStatus(job.request_id)
      yield* TestClock.adjust("59 minutes")
      assert.strictEqual((yield* send("GET", job.response_url)).status, 200)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* send("GET", job.response_url)).status, 404)
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("a result of 10 KB or more is kept 6 minutes without stored payloads", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const job = yield* submit("fal-ai/echo", { text: "x".repeat(10 * 1024) }, { "X-Fal-Store-IO": "0" })
      yield* platform.awaitStatus(job.request_id)
      yield* TestClock.adjust("5 minutes")
      const kept = yield* send("GET", job.response_url)
      assert.strictEqual(kept.status, 200)
      assert.isAtLeast(kept.text.length, 10 * 1024)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* send("GET", job.response_url)).status, 404)
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("CDN files expire at their lifecycle, then answer 404 for good", () =>
    Effect.gen(function*() {
      const r = yield* send("POST", "https://fal.run/fal-ai/image", {
        body: { prompt: "p" },
        headers: { "X-Fal-Object-Lifecycle-Preference": "{\"expiration_duration_seconds\": 60}" }
      })
      const url = (r.json as { images: Array<{ url: string }> }).images[0].url
      assert.isTrue(url.startsWith("https://v3.fal.media/files/"))
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual((yield* send("GET", url, { key: null })).status, 200)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* send("GET", url, { key: null })).status, 404)
      yield* TestClock.adjust("-10 seconds")
      assert.strictEqual((yield* send("GET", url, { key: null })).status, 404)
      const forever = yield* send("POST", "https://fal.run/fal-ai/image", { body: { prompt: "p" } })
      const kept = (forever.json as { images: Array<{ url: string }> }).images[0].url
      yield* TestClock.adjust("3650 days")
      assert.strictEqual((yield* send("GET", kept, { key: null })).status, 200)
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("an Idempotency-Key is replayed for 10 minutes", () =>
    Effect.gen(function*() {
      const r = yield* send("POST", "https://fal.run/fal-ai/image", { body: { prompt: "p" } })
      const id = r.headers["x-fal-request-id"]
      const url = `https://api.fal.ai/v1/models/requests/${id}/payloads`
      const headers = { "Idempotency-Key": "k-1" }
      const first = yield* send("DELETE", url, { key: admin, headers })
      yield* TestClock.adjust("9 minutes")
      const replay = yield* send("DELETE", url, { key: admin, headers })
      assert.strictEqual(replay.text, first.text)
      yield* TestClock.adjust("1 minute")
      const fresh = yield* send("DELETE", url, { key: admin, headers })
      assert.notStrictEqual(fresh.text, first.text)
      assert.strictEqual(
        (fresh.json as { cdn_delete_results: Array<{ exception: string }> }).cdn_delete_results[0].exception,
        "File not found"
      )
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})

describe("status stream", () => {
  it.effect("sends a keep-alive comment every 15 seconds of silence", () =>
    Effect.gen(function*() {
      const job = yield* submit("fal-ai/slow", { seconds: 40 })
      const client = yield* HttpClient.HttpClient
      const chunks = yield* Ref.make<Array<string>>([])
      const reader = yield* client.get(`${job.status_url}/stream`, {
        headers: { authorization: `Key ${FalPlatform.defaultKeys.user}` }
      }).pipe(
        HttpClientResponse.stream,
        Stream.decodeText(),
        Stream.runForEach((chunk) => Ref.update(chunks, (list) => [...list, chunk])),
        Effect.fork
      )
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.awaitHttpLog((r) => r.path.endsWith("/status/stream"))
      for (let i = 0; i < 40; i++) yield* TestClock.adjust("1 second")
      yield* Fiber.join(reader)
      const text = (yield* Ref.get(chunks)).join("")
      const events = text.split("\n\n").filter((e) => e !== "")
      assert.deepStrictEqual(events.map((e) => e.startsWith("data: ") ? JSON.parse(e.slice(6)).status : e), [
        "IN_PROGRESS",
        ": keep-alive",
        ": keep-alive",
        "COMPLETED"
      ])
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})

describe("webhooks", () => {
  it.effect("POSTs the documented body, retrying until the receiver answers 2xx", () =>
    Effect.gen(function*() {
      const received = yield* Ref.make<Array<{ url: string; body: unknown; at: number }>>([])
      const webhookClient = HttpClient.make((request, url) =>
        Effect.gen(function*() {
          const body = request.body._tag === "Uint8Array"
            ? JSON.parse(new TextDecoder().decode(request.body.body))
            : null
          const count = yield* Ref.modify(
            received,
            (list) => [list.length, [...list, { url: url.toString(), body, at: 0 }]]
          )
          return HttpClientResponse.fromWeb(request, new Response(null, { status: count === 0 ? 500 : 204 }))
        })
      )
      const program = Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const job = yield* submit("fal-ai/echo", { a: 1 }, {}, "?fal_webhook=https://example.com/hook")
        yield* platform.awaitStatus(job.request_id)
        yield* TestClock.adjust("15 seconds")
        const deliveries = yield* platform.webhooks
        assert.deepStrictEqual(deliveries.map((d) => [d.attempt, d.outcome, d.at]), [[1, 500, 0], [2, 204, 15_000]])
        const bodies = (yield* Ref.get(received)).map((r) => r.body)
        assert.deepStrictEqual(bodies[0], {
          request_id: job.request_id,
          gateway_request_id: job.request_id,
          status: "OK",
          payload: { a: 1 }
        })
        assert.strictEqual((yield* Ref.get(received))[0].url, "https://example.com/hook")
        const failed = yield* submit("fal-ai/validate", {}, {}, "?fal_webhook=https://example.com/hook")
        yield* platform.awaitStatus(failed.request_id)
        const last = (yield* Ref.get(received)).at(-1)?.body as Record<string, unknown>
        assert.strictEqual(last.status, "ERROR")
        assert.strictEqual(last.error, "Invalid status code: 422")
      })
      yield* program.pipe(Effect.provide(FalPlatform.layerClient({ webhookClient })))
    }))
})

describe("in-memory transport", () => {
  it.effect("other hosts and connection resets are transport RequestErrors", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const other = yield* Effect.flip(send("GET", "https://example.com/"))
      assert.strictEqual(other._tag, "RequestError")
      assert.isTrue(other._tag === "RequestError" && other.reason === "Transport")
      yield* platform.injectFault({ endpoint: "queue", fault: Fault.reset })
      const reset = yield* Effect.flip(submit("fal-ai/echo", {}))
      assert.isTrue(reset._tag === "RequestError" && reset.reason === "Transport")
      const delayed = yield* platform.injectFault({ endpoint: "run", fault: Fault.delay("3 seconds") })
      assert.isUndefined(delayed)
      const run = yield* Effect.fork(send("POST", "https://fal.run/fal-ai/echo", { body: {} }))
      yield* platform.awaitHttpLog((r) => r.base === "run")
      yield* TestClock.adjust("2 seconds")
      assert.isNull(yield* Fiber.poll(run).pipe(Effect.map(Option.getOrNull)))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(run)).status, 200)
      const log = yield* platform.httpLog
      assert.deepStrictEqual(log.map((r) => [r.base, r.status, r.receivedAt]), [
        ["queue", "reset", 0],
        ["run", 200, 0]
      ])
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})

describe("model crashes", () => {
  it.effect("a handler that dies completes as a 500 runner_server_error, not as a cancellation", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.register(Model.make({
        id: "acme/buggy",
        input: Schema.Unknown,
        handler: () => Effect.die(new Error("division by zero"))
      }))
      const job = yield* submit("acme/buggy", {})
      const record = yield* platform.awaitStatus(job.request_id)
      assert.strictEqual(record.result?.status, 500)
      const result = yield* send("GET", job.response_url)
      assert.strictEqual(result.status, 500)
      assert.strictEqual(result.headers["x-fal-error-type"], "runner_server_error")
      const status = (yield* send("GET", job.status_url)).json as { status: string; error_type: string }
      assert.strictEqual(status.error_type, "runner_server_error")
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})
