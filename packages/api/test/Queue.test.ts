import { FalClient, FalError, Queue } from "@effect-fal/api"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Layer, Option, Ref, Schema, Stream, TestClock } from "effect"
import * as Fake from "./utils/fake.js"

const Q = "https://queue.fal.run"
const ref = { modelId: "fal-ai/flux/dev", requestId: "00000000-0000-4000-8000-000000000009" }

const submitted = (id: string, base = Q) => ({
  request_id: id,
  status_url: `${base}/fal-ai/flux/requests/${id}/status`,
  response_url: `${base}/fal-ai/flux/requests/${id}`,
  cancel_url: `${base}/fal-ai/flux/requests/${id}/cancel`,
  queue_position: 2
})

/** An SSE body: the given chunks, then either closes or stays open forever. */
const sse = (chunks: ReadonlyArray<string>, keepOpen = false) =>
  new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk))
        if (!keepOpen) controller.close()
      }
    }),
    { status: 200, headers: { "content-type": "text/event-stream" } }
  )

const Answer = Schema.Struct({ answer: Schema.Number })

const event = (body: unknown) => `data: ${JSON.stringify(body)}\n\n`

describe("Queue", () => {
  it.effect("submit posts to {queue}/{full id}; status, result and cancel use owner/app", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((seen) => {
        if (seen.method === "POST") {
          return Fake.json(200, submitted("00000000-0000-4000-8000-000000000001"), {
            "x-fal-request-id": "00000000-0000-4000-8000-000000000001"
          })
        }
        if (seen.url.includes("/status")) return Fake.json(202, { status: "IN_QUEUE", queue_position: 1 })
        if (seen.method === "PUT") return Fake.json(202, { status: "CANCELLATION_REQUESTED" })
        return Fake.json(200, { ok: true }, { "x-fal-billable-units": "1" })
      })
      const program = Effect.gen(function*() {
        const sub = yield* Queue.submit("fal-ai/flux/dev", { prompt: "x" })
        assert.strictEqual(sub.requestId, "00000000-0000-4000-8000-000000000001")
        assert.strictEqual(sub.queuePosition, 2)
        const status = yield* Queue.status(sub)
        assert.strictEqual(status.status, "IN_QUEUE")
        assert.strictEqual(status.status === "IN_QUEUE" && status.queuePosition, 1)
        const result = yield* Queue.result(sub)
        assert.deepStrictEqual<unknown>(result.data, { ok: true })
        assert.strictEqual(result.requestId, "00000000-0000-4000-8000-000000000001")
        assert.strictEqual(result.meta.billableUnits, 1)
        const outcome = yield* Queue.cancel({
          modelId: "fal-ai/flux/dev",
          requestId: "00000000-0000-4000-8000-000000000001"
        })
        assert.strictEqual(outcome._tag, "CancellationRequested")
      })
      yield* Effect.provide(program, fake.layer)
      const log = yield* Ref.get(fake.log)
      assert.deepStrictEqual(log.map((s) => `${s.method} ${s.url}`), [
        `POST ${Q}/fal-ai/flux/dev`,
        `GET ${Q}/fal-ai/flux/requests/00000000-0000-4000-8000-000000000001/status?logs=1`,
        `GET ${Q}/fal-ai/flux/requests/00000000-0000-4000-8000-000000000001`,
        `PUT ${Q}/fal-ai/flux/requests/00000000-0000-4000-8000-000000000001/cancel`
      ])
    }))

  it.effect("URLs returned by submit that point elsewhere are not followed (the key stays home)", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((seen) =>
        seen.method === "POST"
          ? Fake.json(200, submitted("00000000-0000-4000-8000-000000000002", "https://evil.example"))
          : Fake.json(200, { status: "COMPLETED", logs: [], metrics: { inference_time: 1.5 } })
      )
      const status = yield* Effect.flatMap(Queue.submit("fal-ai/flux", {}), (sub) => Queue.status(sub)).pipe(
        Effect.provide(fake.layer)
      )
      assert.strictEqual(status.status, "COMPLETED")
      assert.isTrue(status.status === "COMPLETED" && Option.contains(status.inferenceTime, Duration.seconds(1.5)))
      const log = yield* Ref.get(fake.log)
      assert.strictEqual(log[1].url, `${Q}/fal-ai/flux/requests/00000000-0000-4000-8000-000000000002/status?logs=1`)
      assert.isTrue(log.every((s) => !s.url.includes("evil")))
    }))

  it.effect("cancel: ALREADY_COMPLETED is an outcome, NOT_FOUND a NotFound failure", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((seen) =>
        seen.url.includes("/00000000-0000-4000-8000-0000000000d0/")
          ? Fake.json(400, { status: "ALREADY_COMPLETED" })
          : Fake.json(404, { status: "NOT_FOUND" })
      )
      const done = yield* Queue.cancel({ modelId: "a/b", requestId: "00000000-0000-4000-8000-0000000000d0" }).pipe(
        Effect.provide(fake.layer)
      )
      assert.strictEqual(done._tag, "AlreadyCompleted")
      const missing = yield* Queue.cancel({ modelId: "a/b", requestId: "00000000-0000-4000-8000-0000000000e0" }).pipe(
        Effect.flip,
        Effect.provide(fake.layer)
      )
      assert.strictEqual(missing._tag, "NotFound")
      assert.strictEqual(missing._tag === "NotFound" && missing.requestId, "00000000-0000-4000-8000-0000000000e0")
    }))

  it.effect("statusStream decodes SSE events, skips keep-alive comments and ends after COMPLETED", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() =>
        sse([
          ": keep-alive\n\n",
          event({ status: "IN_QUEUE", queue_position: 3 }),
          "data: {\"status\": \"IN_PROG",
          "RESS\", \"logs\": [{\"message\": \"step 1\", \"timestamp\": \"t\"}]}\n\n",
          ": ping\r\n\r\n",
          event({ status: "COMPLETED", logs: [], metrics: { inference_time: 0.2 } }),
          event({ status: "COMPLETED" })
        ], true)
      )
      const statuses = yield* Stream.runCollect(Queue.statusStream(ref)).pipe(Effect.provide(fake.layer))
      assert.deepStrictEqual(Chunk.toArray(statuses).map((s) => s.status), ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"])
      const progress = Chunk.toArray(statuses)[1]
      assert.deepStrictEqual(progress.logs, [{ message: "step 1", timestamp: "t" }])
      const [seen] = yield* Ref.get(fake.log)
      assert.strictEqual(
        seen.url,
        `${Q}/fal-ai/flux/requests/00000000-0000-4000-8000-000000000009/status/stream?logs=1`
      )
      assert.strictEqual(seen.headers["accept"], "text/event-stream")
    }))

  it.effect("the keep-alive watchdog drops a silent connection and reconnects", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((_, index) =>
        index === 0
          ? sse([event({ status: "IN_QUEUE", queue_position: 1 })], true) // then silence
          : sse([": hi\n\n", event({ status: "COMPLETED" })])
      )
      const fiber = yield* Stream.runCollect(Queue.statusStream(ref, { keepAlive: "10 seconds" })).pipe(
        Effect.provide(fake.layer),
        Effect.fork
      )
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual((yield* Ref.get(fake.log)).length, 1)
      yield* TestClock.adjust("1 minute")
      const statuses = yield* Fiber.join(fiber)
      assert.deepStrictEqual(Chunk.toArray(statuses).map((s) => s.status), ["IN_QUEUE", "COMPLETED"])
      assert.strictEqual((yield* Ref.get(fake.log)).length, 2)
    }))

  it.effect("without retries, a silent stream fails with a TransportError naming the watchdog", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => sse([], true))
      const fiber = yield* Stream.runDrain(Queue.statusStream(ref, { keepAlive: "5 seconds", retry: false })).pipe(
        Effect.flip,
        Effect.provide(fake.layer),
        Effect.fork
      )
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "TransportError")
      assert.include(error.message, "keep-alive")
    }))

  it.effect("a stream that closes before COMPLETED is reopened", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((_, index) =>
        index === 0 ? sse([event({ status: "IN_PROGRESS", logs: [] })]) : sse([event({ status: "COMPLETED" })])
      )
      const fiber = yield* Stream.runCollect(Queue.statusStream(ref)).pipe(Effect.provide(fake.layer), Effect.fork)
      yield* TestClock.adjust("1 minute")
      const statuses = yield* Fiber.join(fiber)
      assert.deepStrictEqual(Chunk.toArray(statuses).map((s) => s.status), ["IN_PROGRESS", "COMPLETED"])
    }))

  it.effect("subscribe (stream and poll) submits, follows and fetches the same result", () =>
    Effect.gen(function*() {
      const handler: Fake.Handler = (seen) => {
        if (seen.method === "POST") return Fake.json(200, submitted("00000000-0000-4000-8000-000000000003"))
        if (seen.url.includes("/status/stream")) {
          return sse([event({ status: "IN_QUEUE", queue_position: 0 }), event({ status: "COMPLETED" })])
        }
        if (seen.url.includes("/status")) return Fake.json(200, { status: "COMPLETED" })
        return Fake.json(200, { answer: 42 })
      }
      const streamed = yield* Fake.layer(handler)
      const polled = yield* Fake.layer(handler)
      const seen: Array<string> = []
      const a = yield* Queue.subscribe("fal-ai/flux/dev", { prompt: "x" }, {
        onStatus: (s) => Effect.sync(() => seen.push(s.status))
      }).pipe(Effect.provide(streamed.layer))
      const b = yield* Queue.subscribe("fal-ai/flux/dev", { prompt: "x" }, { mode: "poll" }).pipe(
        Effect.provide(polled.layer)
      )
      assert.deepStrictEqual(a.data, b.data)
      assert.strictEqual(a.requestId, "00000000-0000-4000-8000-000000000003")
      assert.deepStrictEqual(seen, ["IN_QUEUE", "COMPLETED"])
      assert.isTrue((yield* Ref.get(polled.log)).every((s) => !s.url.includes("/stream")))
    }))

  it.effect("interrupting subscribe aborts the stream and cancels the request upstream", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((seen) => {
        if (seen.method === "POST") return Fake.json(200, submitted("00000000-0000-4000-8000-000000000004"))
        if (seen.method === "PUT") return Fake.json(202, { status: "CANCELLATION_REQUESTED" })
        return sse([event({ status: "IN_QUEUE", queue_position: 5 })], true)
      })
      const queued = yield* Effect.makeLatch(false)
      const fiber = yield* Queue.subscribe("fal-ai/flux/dev", { prompt: "x" }, { onStatus: () => queued.open }).pipe(
        Effect.provide(fake.layer),
        Effect.fork
      )
      yield* queued.await
      yield* Fiber.interrupt(fiber)
      const log = yield* Ref.get(fake.log)
      assert.deepStrictEqual(log.map((s) => s.method), ["POST", "GET", "PUT"])
      assert.strictEqual(log[2].url, `${Q}/fal-ai/flux/requests/00000000-0000-4000-8000-000000000004/cancel`)
    }))

  it.effect("interrupting subscribe closes its status stream before the cancel is sent", () =>
    Effect.gen(function*() {
      let streamClosed = false
      let closedAtCancel: boolean | undefined
      const fake = yield* Fake.layer((seen) => {
        if (seen.method === "POST") return Fake.json(200, submitted("00000000-0000-4000-8000-000000000005"))
        if (seen.method === "PUT") {
          closedAtCancel = streamClosed
          return Fake.json(202, { status: "CANCELLATION_REQUESTED" })
        }
        return new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode(event({ status: "IN_PROGRESS" })))
            },
            cancel() {
              streamClosed = true
            }
          }),
          { status: 200, headers: { "content-type": "text/event-stream" } }
        )
      })
      const started = yield* Effect.makeLatch(false)
      const fiber = yield* Queue.subscribe("fal-ai/flux/dev", { prompt: "x" }, { onStatus: () => started.open }).pipe(
        Effect.provide(fake.layer),
        Effect.fork
      )
      yield* started.await
      yield* Fiber.interrupt(fiber)
      // the stream, run beside the caller since it acts on COMPLETED as it comes, is stopped
      // with the caller, not after the cancel (nor when the caller's fiber ends)
      assert.strictEqual(closedAtCancel, true)
      assert.isTrue(streamClosed)
    }))

  it.effect("result: a failed request fails with the FalError of its error_type", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() =>
        Fake.json(500, { detail: "boom", error_type: "runner_server_error" }, {
          "x-fal-error-type": "runner_server_error"
        })
      )
      const error = yield* Queue.result(ref).pipe(Effect.flip, Effect.provide(fake.layer))
      assert.instanceOf(error, FalError.RequestFailed)
      assert.strictEqual(error._tag === "RequestFailed" && error.errorType, "runner_server_error")
      assert.strictEqual(error._tag === "RequestFailed" && error.requestId, "00000000-0000-4000-8000-000000000009")
      assert.strictEqual((yield* Ref.get(fake.log)).length, 1)
    }))

  it.effect("a stream that closes before any event, every time, is given up for polling and the job completes", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((seen) => {
        if (seen.method === "POST") return Fake.json(200, submitted("00000000-0000-4000-8000-000000000005"))
        if (seen.url.includes("/status/stream")) return sse([": hi\n\n"])
        if (seen.url.includes("/status")) return Fake.json(200, { status: "COMPLETED" })
        return Fake.json(200, { answer: 5 })
      })
      const fiber = yield* Queue.subscribe("fal-ai/flux/dev", { prompt: "x" }, { output: Answer }).pipe(
        Effect.provide(fake.layer),
        Effect.fork
      )
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(result.data, { answer: 5 })
      const log = yield* Ref.get(fake.log)
      // the first connection and 5 reconnects without progress, then a status read
      assert.strictEqual(log.filter((s) => s.url.includes("/status/stream")).length, 6)
      assert.isTrue(log.some((s) => s.url.includes("/status?")))
    }))

  it.effect("a proxy that closes every status stream after one event: a long job still completes by streaming", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((seen, index) => {
        if (seen.method === "POST") return Fake.json(200, submitted("00000000-0000-4000-8000-000000000006"))
        if (seen.url.includes("/status/stream")) {
          // 20 connections that each deliver an event and are cut, far more than the 5 reconnects
          // allowed in a row without progress, then the job completes
          return index <= 20 ? sse([event({ status: "IN_PROGRESS", logs: [] })]) : sse([event({ status: "COMPLETED" })])
        }
        return Fake.json(200, { answer: 6 })
      })
      const fiber = yield* Queue.subscribe("fal-ai/flux/dev", { prompt: "x" }, { output: Answer }).pipe(
        Effect.provide(fake.layer),
        Effect.fork
      )
      for (let i = 0; i < 30; i++) yield* TestClock.adjust("10 seconds")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(result.data, { answer: 6 })
      const log = yield* Ref.get(fake.log)
      assert.strictEqual(log.filter((s) => s.url.includes("/status/stream")).length, 21)
      assert.isFalse(
        log.some((s) => s.url.includes("/status?")),
        "no fallback to polling: each connection made progress"
      )
    }))

  it.effect("stream reconnects spend the client's retry budget: an empty budget reconnects no more", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make((seen) => {
        if (seen.url.includes("/status/stream")) return sse([])
        if (seen.url.includes("/status")) return Fake.json(200, { status: "COMPLETED" })
        return Fake.json(200, {})
      })
      const layer = FalClient.layer({ key: Fake.redactedKey, retryBudget: { capacity: 0 } }).pipe(
        Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client))
      )
      const fiber = yield* Queue.resume(ref).pipe(Effect.provide(layer), Effect.fork)
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      const log = yield* Ref.get(fake.log)
      assert.strictEqual(log.filter((s) => s.url.includes("/status/stream")).length, 1)
    }))

  it.effect("a connection that stayed open past its keep-alive, with no status, counts as progress", () =>
    Effect.gen(function*() {
      const opened: Array<ReadableStreamDefaultController<Uint8Array>> = []
      const fake = yield* Fake.layer((seen) => {
        // were the stream given up, polling would meet this and fail
        if (!seen.url.includes("/status/stream")) return Fake.json(500, { detail: "no polling here" })
        return new Response(
          new ReadableStream<Uint8Array>({ start: (controller) => void opened.push(controller) }),
          { status: 200, headers: { "content-type": "text/event-stream" } }
        )
      })
      const fiber = yield* Stream.runCollect(Queue.statusStream(ref, { keepAlive: "10 seconds" })).pipe(
        Effect.provide(fake.layer),
        Effect.fork
      )
      const comment = new TextEncoder().encode(": keep-alive\n\n")
      // 8 connections, each alive 12 s on keep-alive comments alone, then closed: more than the 5
      // reconnects in a row the policy allows without progress
      for (let i = 0; i <= 8; i++) {
        for (let waited = 0; opened.length <= i && waited < 10; waited++) yield* TestClock.adjust("1 second")
        assert.strictEqual(opened.length, i + 1, `connection ${i + 1} was opened`)
        const controller = opened[i]
        if (i === 8) {
          controller.enqueue(new TextEncoder().encode(event({ status: "COMPLETED" })))
          controller.close()
          break
        }
        for (let t = 0; t < 3; t++) {
          controller.enqueue(comment)
          yield* TestClock.adjust("4 seconds")
        }
        controller.close()
      }
      const statuses = yield* Fiber.join(fiber)
      assert.deepStrictEqual(Chunk.toArray(statuses).map((s) => s.status), ["COMPLETED"])
      assert.isFalse((yield* Ref.get(fake.log)).some((s) => !s.url.includes("/status/stream")))
    }))
})
