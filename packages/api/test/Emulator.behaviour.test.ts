/**
 * Retries, interruption, subscription and payload deletion against @effect-fal/testing: the
 * in-memory platform (TestClock) and the loopback HTTP emulator (real sockets, undici).
 */
import { Fal, FalClient, Payloads, Queue } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import { FalPlatform, Fault } from "@effect-fal/testing"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import * as Emulator from "./utils/emulator.js"

const { echo, image, slow, validate } = FalPlatform.demoModelIds

const requestsTo = (base: FalPlatform.Base, method?: string) =>
  Effect.map(
    Effect.flatMap(FalPlatform.FalPlatform, (p) => p.httpLog),
    (log) => log.filter((r) => r.base === base && (method === undefined || r.method === method))
  )

const occupy = Effect.gen(function*() {
  const platform = yield* FalPlatform.FalPlatform
  const busy = yield* Queue.submit(slow, { seconds: 20 })
  yield* platform.awaitStatus(busy.requestId, "IN_PROGRESS")
  return busy
})

describe("retries, as the emulator's request log shows them", () => {
  it.effect("transient 503s are retried with exponential backoff, then succeed", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({
        endpoint: "run",
        fault: Fault.status(503, "runner_scheduling_failure"),
        times: 3
      })
      const fiber = yield* Effect.fork(Fal.run(echo, { n: 1 }))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(result.data, { n: 1 })
      const runs = yield* requestsTo("run")
      assert.strictEqual(runs.length, 4)
      const gaps = runs.slice(1).map((r, i) => r.receivedAt - runs[i].receivedAt)
      // 500 ms, 1 s, 2 s, each ±20 %
      assert.isTrue(gaps[0] >= 400 && gaps[0] <= 600, `gap 0: ${gaps[0]}`)
      assert.isTrue(gaps[1] >= 800 && gaps[1] <= 1200, `gap 1: ${gaps[1]}`)
      assert.isTrue(gaps[2] >= 1600 && gaps[2] <= 2400, `gap 2: ${gaps[2]}`)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("the default gives up after 3 retries: 4 attempts", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "queue", method: "POST", fault: Fault.status(502), times: 10 })
      const fiber = yield* Effect.fork(Effect.flip(Queue.submit(echo, {})))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Fiber.join(fiber))._tag, "ServerError")
      assert.strictEqual((yield* requestsTo("queue", "POST")).length, 4)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("Retry-After is honoured: the retry comes no sooner", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({
        endpoint: "queue",
        method: "POST",
        fault: Fault.status(429, undefined, { headers: { "retry-after": "5", "x-fal-needs-retry": "1" } })
      })
      const fiber = yield* Effect.fork(Queue.submit(echo, {}))
      yield* TestClock.adjust("4 seconds")
      assert.strictEqual((yield* requestsTo("queue", "POST")).length, 1)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const posts = yield* requestsTo("queue", "POST")
      assert.strictEqual(posts.length, 2)
      assert.isTrue(posts[1].receivedAt - posts[0].receivedAt >= 5000)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("never retried: user start timeout, queue full, 401, 403, 404, 422", () =>
    Effect.gen(function*() {
      yield* occupy
      const timeout = yield* Fal.run(slow, {}, { options: RequestOptions.startTimeout("1 second") }).pipe(
        Effect.flip,
        Effect.fork
      )
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* Fiber.join(timeout))._tag, "StartTimeout")
      yield* Queue.submit(slow, {})
      const full = yield* Queue.submit(slow, {}, { options: RequestOptions.maxQueueLength(0) }).pipe(Effect.flip)
      const notFound = yield* Queue.status({ modelId: echo, requestId: "00000000-0000-4000-8000-0000000000ff" }).pipe(
        Effect.flip
      )
      const invalid = yield* Fal.run(validate, { prompt: "" }).pipe(Effect.flip)
      const forbidden = yield* Payloads.delete("0b6f1cde-0000-4000-8000-000000000000").pipe(Effect.flip)
      const unauthorized = yield* Fal.run(echo, {}).pipe(
        Effect.flip,
        Effect.provide(
          FalClient.layer({ key: Redacted.make("wrong") }).pipe(Layer.provide(FalPlatform.layerHttpClient))
        )
      )
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(
        [full, notFound, invalid, forbidden, unauthorized].map((e) => e._tag),
        ["QueueFull", "NotFound", "ValidationError", "Forbidden", "Unauthorized"]
      )
      const log = yield* Effect.flatMap(FalPlatform.FalPlatform, (p) => p.httpLog)
      const count = (f: (r: FalPlatform.HttpLogEntry) => boolean) => log.filter(f).length
      assert.strictEqual(count((r) => r.base === "run" && r.path === `/${slow}`), 1)
      assert.strictEqual(count((r) => r.base === "queue" && r.method === "POST"), 3)
      assert.strictEqual(count((r) => r.path.endsWith("/00000000-0000-4000-8000-0000000000ff/status")), 1)
      assert.strictEqual(count((r) => r.path === `/${validate}`), 1)
      assert.strictEqual(count((r) => r.base === "api"), 1)
      assert.strictEqual(count((r) => r.auth === "unknown"), 1)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("an ambiguous submit failure is not retried: one POST, one job at most", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "queue", method: "POST", fault: Fault.reset })
      const fiber = yield* Effect.fork(Effect.flip(Queue.submit(echo, {})))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "TransportError")
      assert.strictEqual((yield* requestsTo("queue", "POST")).length, 1)
    }).pipe(Effect.provide(Emulator.inMemory())))
})

describe("subscribe", () => {
  it.effect("interrupting it mid-queue cancels upstream: the job never runs", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* occupy
      const queued = yield* Effect.makeLatch(false)
      const fiber = yield* Effect.fork(
        Queue.subscribe(slow, { seconds: 1 }, {
          onStatus: (s) => (s.status === "IN_QUEUE" ? queued.open : Effect.void)
        })
      )
      yield* queued.await
      yield* Fiber.interrupt(fiber)
      const cancels = (yield* platform.httpLog).filter((r) => r.method === "PUT" && r.path.endsWith("/cancel"))
      assert.strictEqual(cancels.length, 1)
      const id = cancels[0].path.split("/")[4]
      // the runner frees up after 20 s: the cancelled request still never runs
      yield* TestClock.adjust("1 minute")
      const record = Option.getOrThrow(yield* platform.job(id))
      assert.isTrue(record.cancelled)
      assert.isUndefined(record.startedAt)
      assert.strictEqual(record.attempts, 0)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("streaming and polling give the same result", () =>
    Effect.gen(function*() {
      const follow = (mode: "stream" | "poll") =>
        Effect.fork(Queue.subscribe(echo, { prompt: "same" }, { mode, pollInterval: "100 millis" }))
      const a = yield* follow("stream")
      const b = yield* follow("poll")
      yield* TestClock.adjust("1 minute")
      const [streamed, polled] = [yield* Fiber.join(a), yield* Fiber.join(b)]
      assert.deepStrictEqual(streamed.data, { prompt: "same" })
      assert.deepStrictEqual(streamed.data, polled.data)
      const log = yield* Effect.flatMap(FalPlatform.FalPlatform, (p) => p.httpLog)
      assert.isTrue(log.some((r) => r.path.endsWith(`${streamed.requestId}/status/stream`)))
      assert.isTrue(log.some((r) => r.path.endsWith(`${polled.requestId}/status`)))
      assert.isFalse(log.some((r) => r.path.endsWith(`${polled.requestId}/status/stream`)))
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("resume follows a saved request id to its result", () =>
    Effect.gen(function*() {
      const submitted = yield* Queue.submit(slow, { seconds: 3 })
      const fiber = yield* Effect.fork(Queue.resume({ modelId: slow, requestId: submitted.requestId }))
      yield* TestClock.adjust("5 seconds")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.requestId, submitted.requestId)
      assert.deepStrictEqual(result.data, { slept: 3 })
    }).pipe(Effect.provide(Emulator.inMemory())))
})

describe("over loopback HTTP (undici)", () => {
  it.live("subscribe follows the real SSE stream; interrupting it cancels upstream", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const statuses: Array<string> = []
      const done = yield* Queue.subscribe(slow, { seconds: 0.2 }, {
        onStatus: (s) => Effect.sync(() => statuses.push(s.status))
      })
      assert.deepStrictEqual(done.data, { slept: 0.2 })
      assert.strictEqual(statuses[statuses.length - 1], "COMPLETED")
      const streamed = (yield* platform.httpLog).filter((r) => r.path.endsWith(`${done.requestId}/status/stream`))
      assert.strictEqual(streamed.length, 1)
      assert.strictEqual(streamed[0].status, 200)

      yield* occupy
      const queued = yield* Effect.makeLatch(false)
      const fiber = yield* Effect.fork(
        Queue.subscribe(slow, { seconds: 1 }, {
          onStatus: (s) => (s.status === "IN_QUEUE" ? queued.open : Effect.void)
        })
      )
      yield* queued.await
      yield* Fiber.interrupt(fiber)
      const cancel = yield* platform.awaitHttpLog((r) => r.method === "PUT" && r.path.endsWith("/cancel"))
      const id = cancel.path.split("/")[4]
      const record = Option.getOrThrow(yield* platform.job(id))
      assert.isTrue(record.cancelled)
      assert.isUndefined(record.startedAt)
    }).pipe(Effect.provide(Emulator.loopback())))
})

describe("payload deletion", () => {
  const withFiles = Effect.gen(function*() {
    const platform = yield* FalPlatform.FalPlatform
    const input = yield* platform.uploadFile({ fileName: "in.png", contentType: "image/png", content: "input" })
    const result = yield* Queue.subscribe(image, { prompt: "p", num_images: 2, image_url: input }, { mode: "poll" })
    const record = Option.getOrThrow(yield* platform.job(result.requestId))
    return { input, result, outputs: record.outputFiles }
  })

  it.effect("deletes the output files and keeps the input file; the CDN answers 404 and 200", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const client = yield* FalClient.FalClient
      const { input, outputs, result } = yield* withFiles
      assert.strictEqual(outputs.length, 2)
      const deletion = yield* Payloads.delete(result.requestId)
      assert.deepStrictEqual([...Payloads.deleted(deletion)].sort(), [...outputs].sort())
      assert.deepStrictEqual(Payloads.failed(deletion), [])
      for (const url of outputs) assert.isTrue(Option.isNone(yield* platform.file(url)))
      assert.isTrue(Option.isSome(yield* platform.file(input)))
      const status = (url: string) =>
        Effect.map(Effect.orDie(client.httpClient.execute(HttpClientRequest.get(url))), (r) => r.status)
      assert.strictEqual(yield* status(outputs[0]), 404)
      assert.strictEqual(yield* status(input), 200)
      // fetching files through the client never sends the key
      const cdn = yield* requestsTo("cdn")
      assert.strictEqual(cdn.length, 2)
      assert.isTrue(cdn.every((r) => r.headers["authorization"] === undefined))
    }).pipe(Effect.provide(Emulator.inMemory({ adminKey: true }))))

  it.effect("retried attempts carry the same Idempotency-Key", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const { result } = yield* withFiles
      yield* platform.injectFault({ endpoint: "api", fault: Fault.status(503), times: 2 })
      const fiber = yield* Effect.fork(Payloads.delete(result.requestId))
      yield* TestClock.adjust("1 minute")
      const deletion = yield* Fiber.join(fiber)
      assert.strictEqual(deletion.links.length, 2)
      const deletes = yield* requestsTo("api", "DELETE")
      assert.strictEqual(deletes.length, 3)
      const keys = new Set(deletes.map((r) => r.headers["idempotency-key"]))
      assert.strictEqual(keys.size, 1)
      assert.isDefined(deletes[0].headers["idempotency-key"])
      assert.isTrue(deletes.every((r) => r.auth === "admin"))
    }).pipe(Effect.provide(Emulator.inMemory({ adminKey: true }))))

  it.effect("legacy and v1 give equal results", () =>
    Effect.gen(function*() {
      const a = yield* withFiles
      const b = yield* withFiles
      const v1 = yield* Payloads.delete(a.result.requestId)
      const legacy = yield* Payloads.deleteLegacy(b.result.requestId)
      const shape = (d: Payloads.PayloadDeletion) => d.links.map((l) => [l.link.replace(/[^/]+\/[^/]+$/, ""), l.error])
      assert.deepStrictEqual(shape(v1), shape(legacy))
      assert.deepStrictEqual([...Payloads.deleted(v1)].sort(), [...a.outputs].sort())
      assert.deepStrictEqual([...Payloads.deleted(legacy)].sort(), [...b.outputs].sort())
      // deleting again: the same links, each now reported as not found, on both endpoints
      const again = yield* Effect.all([Payloads.delete(a.result.requestId), Payloads.deleteLegacy(a.result.requestId)])
      assert.deepStrictEqual(again[0].links, again[1].links)
      assert.deepStrictEqual(again[0].links, v1.links.map((l) => ({ ...l, error: Option.some("File not found") })))
    }).pipe(Effect.provide(Emulator.inMemory({ adminKey: true }))))

  it.effect("a key without ADMIN scope is Forbidden on both endpoints", () =>
    Effect.gen(function*() {
      const { result } = yield* withFiles
      const errors = yield* Effect.all([
        Effect.flip(Payloads.delete(result.requestId)),
        Effect.flip(Payloads.deleteLegacy(result.requestId))
      ])
      assert.deepStrictEqual(errors.map((e) => e._tag), ["Forbidden", "Forbidden"])
      const platform = yield* FalPlatform.FalPlatform
      assert.isTrue((yield* platform.files).some((f) => f.kind === "output"))
    }).pipe(Effect.provide(Emulator.inMemory())))
})

describe("webhooks", () => {
  it.effect("the platform's webhook POST carries no Authorization", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const submitted = yield* Queue.submit(echo, { x: 1 }, {
        options: RequestOptions.webhookUrl("https://hooks.example.com/fal")
      })
      yield* platform.awaitStatus(submitted.requestId)
      yield* TestClock.adjust("1 minute")
      const deliveries = yield* platform.webhooks
      assert.isTrue(deliveries.length >= 1)
      const log = yield* platform.httpLog
      assert.isFalse(log.some((r) => r.url.startsWith("https://hooks.example.com")))
      const submit = log.find((r) => r.base === "queue" && r.method === "POST")
      assert.strictEqual(submit?.query["fal_webhook"], "https://hooks.example.com/fal")
    }).pipe(Effect.provide(Emulator.inMemory())))
})
