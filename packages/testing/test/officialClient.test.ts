/**
 * fal's official JS client, unmodified, against the loopback emulator. If they disagree, the
 * emulator is wrong.
 */
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { ApiError } from "@fal-ai/client"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { officialClient } from "./utils/officialClient.js"

const withEmulator = <A, E>(
  f: (fal: ReturnType<typeof officialClient>, platform: FalPlatform.Service) => Effect.Effect<A, E>,
  config?: FalEmulator.Config
) =>
  Effect.gen(function*() {
    const { urls } = yield* FalEmulator.FalEmulator
    const platform = yield* FalPlatform.FalPlatform
    return yield* f(officialClient(urls, FalPlatform.defaultKeys.user), platform)
  }).pipe(Effect.provide(FalEmulator.layer(config)))

const attempt = <A>(promise: () => Promise<A>) => Effect.tryPromise({ try: promise, catch: (error) => error })

describe("@fal-ai/client against the emulator", () => {
  it.live("fal.run answers the model output and the request id", () =>
    withEmulator((fal, platform) =>
      Effect.gen(function*() {
        const result = yield* Effect.promise(() => fal.run("fal-ai/echo", { input: { prompt: "a cat" } }))
        assert.deepStrictEqual(result.data, { prompt: "a cat" })
        const requests = yield* platform.httpLog
        assert.strictEqual(requests.length, 1)
        assert.strictEqual(requests[0].base, "run")
        assert.strictEqual(requests[0].path, "/fal-ai/echo")
        assert.strictEqual(result.requestId, requests[0].id)
        const record = yield* platform.job(result.requestId)
        assert.isTrue(Option.isSome(record) && record.value.mode === "sync")
      })
    ))

  it.live("fal.subscribe in polling mode follows the status and fetches the result", () =>
    withEmulator((fal, platform) =>
      Effect.gen(function*() {
        const statuses: Array<string> = []
        const result = yield* Effect.promise(() =>
          fal.subscribe("fal-ai/slow", {
            input: { seconds: 0.3 },
            logs: true,
            mode: "polling",
            pollInterval: 50,
            onQueueUpdate: (update) => statuses.push(update.status)
          })
        )
        assert.deepStrictEqual(result.data, { slept: 0.3 })
        assert.strictEqual(statuses[statuses.length - 1], "COMPLETED")
        assert.isTrue(statuses.includes("IN_PROGRESS"))
        const requests = yield* platform.httpLog
        const statusCalls = requests.filter((r) => r.path.endsWith("/status"))
        assert.isTrue(statusCalls.length >= 2)
        assert.strictEqual(statusCalls[0].query.logs, "1")
        assert.strictEqual(requests[requests.length - 1].path, `/fal-ai/slow/requests/${result.requestId}`)
      })
    ))

  it.live("fal.subscribe in streaming mode reads the SSE status stream", () =>
    withEmulator((fal, platform) =>
      Effect.gen(function*() {
        const updates: Array<{ status: string; logs?: unknown }> = []
        const result = yield* Effect.promise(() =>
          fal.subscribe("fal-ai/slow", {
            input: { seconds: 1.2 },
            logs: true,
            mode: "streaming",
            onQueueUpdate: (update) => updates.push(update)
          })
        )
        assert.deepStrictEqual(result.data, { slept: 1.2 })
        assert.strictEqual(updates[updates.length - 1].status, "COMPLETED")
        assert.isTrue(updates.some((u) => u.status === "IN_PROGRESS"))
        const requests = yield* platform.httpLog
        assert.isTrue(requests.some((r) => r.path.endsWith("/status/stream") && r.status === 200))
        assert.isFalse(requests.some((r) => r.path.endsWith("/status")))
      })
    ))

  it.live("fal.queue submit, status, result", () =>
    withEmulator((fal) =>
      Effect.gen(function*() {
        const submitted = yield* Effect.promise(() =>
          fal.queue.submit("fal-ai/image", { input: { prompt: "a fox", num_images: 2 } })
        )
        assert.match(submitted.request_id, /^[0-9a-f-]{36}$/)
        assert.isTrue(submitted.status_url.endsWith(`/fal-ai/image/requests/${submitted.request_id}/status`))
        const done = yield* Effect.promise(() =>
          fal.queue.subscribeToStatus("fal-ai/image", { requestId: submitted.request_id, pollInterval: 20 })
        )
        assert.strictEqual(done.status, "COMPLETED")
        const status = yield* Effect.promise(() =>
          fal.queue.status("fal-ai/image", { requestId: submitted.request_id, logs: true })
        )
        assert.strictEqual(status.status, "COMPLETED")
        const result = yield* Effect.promise(() =>
          fal.queue.result("fal-ai/image", { requestId: submitted.request_id })
        )
        assert.strictEqual(result.requestId, submitted.request_id)
        const images = (result.data as { images: Array<{ url: string }> }).images
        assert.strictEqual(images.length, 2)
        const file = yield* Effect.promise(() => fetch(images[0].url))
        assert.strictEqual(file.status, 200)
        assert.strictEqual(file.headers.get("content-type"), "image/png")
      })
    ))

  it.live("fal.queue.cancel: accepted while queued, ApiError 400 once completed", () =>
    withEmulator((fal) =>
      Effect.gen(function*() {
        const busy = yield* Effect.promise(() => fal.queue.submit("fal-ai/slow", { input: { seconds: 30 } }))
        const queued = yield* Effect.promise(() => fal.queue.submit("fal-ai/slow", { input: { seconds: 30 } }))
        const position = yield* Effect.promise(() => fal.queue.status("fal-ai/slow", { requestId: queued.request_id }))
        assert.deepStrictEqual(position, {
          status: "IN_QUEUE",
          request_id: queued.request_id,
          response_url: queued.response_url,
          status_url: queued.status_url,
          cancel_url: queued.cancel_url,
          queue_position: 0
        })
        yield* Effect.promise(() => fal.queue.cancel("fal-ai/slow", { requestId: queued.request_id }))
        const status = yield* Effect.promise(() => fal.queue.status("fal-ai/slow", { requestId: queued.request_id }))
        assert.strictEqual(status.status, "COMPLETED")
        assert.strictEqual((status as { error_type?: string }).error_type, "client_cancelled")
        const again = yield* attempt(() => fal.queue.cancel("fal-ai/slow", { requestId: queued.request_id }))
          .pipe(Effect.flip)
        assert.instanceOf(again, ApiError)
        assert.strictEqual(again instanceof ApiError && again.status, 400)
        assert.deepStrictEqual(again instanceof ApiError && again.body, { status: "ALREADY_COMPLETED" })
        // the running one can be cancelled too
        yield* Effect.promise(() => fal.queue.cancel("fal-ai/slow", { requestId: busy.request_id }))
      })
    ))

  it.effect("a start timeout that expires: ApiError 504 with the user timeout type (TestClock drives the emulator)", () =>
    withEmulator((fal, platform) =>
      Effect.gen(function*() {
        // the only runner is busy for a minute of platform time
        const busy = yield* Effect.promise(() => fal.queue.submit("fal-ai/slow", { input: { seconds: 60 } }))
        yield* platform.awaitStatus(busy.request_id, "IN_PROGRESS")
        const run = yield* Effect.fork(
          attempt(() => fal.run("fal-ai/slow", { input: { seconds: 1 }, startTimeout: 2 }))
        )
        yield* platform.awaitHttpLog((r) => r.base === "run")
        yield* TestClock.adjust("2 seconds")
        const error = yield* Effect.flip(Fiber.join(run))
        assert.instanceOf(error, ApiError)
        if (!(error instanceof ApiError)) return
        assert.strictEqual(error.status, 504)
        assert.strictEqual(error.timeoutType, "user")
        assert.isTrue(error.isUserTimeout)
        const runs = (yield* platform.httpLog).filter((r) => r.base === "run")
        assert.strictEqual(runs.length, 1, "the official client does not retry a user timeout")
        assert.strictEqual(runs[0].headers["x-fal-request-timeout"], "2")
      })
    ))

  it.live("priority and runner hint reach the platform, and the hinted runner serves", () =>
    withEmulator((fal, platform) =>
      Effect.gen(function*() {
        const submitted = yield* Effect.promise(() =>
          fal.queue.submit("fal-ai/echo", {
            input: { n: 1 },
            priority: "low",
            hint: "fal-ai-echo-runner-1"
          })
        )
        const record = yield* platform.awaitStatus(submitted.request_id)
        assert.strictEqual(record.options.priority, "low")
        assert.strictEqual(record.options.runnerHint, "fal-ai-echo-runner-1")
        assert.strictEqual(record.servedFrom, "fal-ai-echo-runner-1")
        const result = yield* Effect.promise(() => fal.queue.result("fal-ai/echo", { requestId: submitted.request_id }))
        assert.deepStrictEqual(result.data, { n: 1 })
      }), { demoRunners: 2 }))

  it.live("fal.storage.upload(blob) returns a CDN URL whose bytes match", () =>
    withEmulator((fal, platform) =>
      Effect.gen(function*() {
        const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff)
        const url = yield* Effect.promise(() => fal.storage.upload(new Blob([bytes], { type: "image/png" })))
        const back = yield* Effect.promise(() => fetch(url).then(async (r) => new Uint8Array(await r.arrayBuffer())))
        assert.deepStrictEqual(back, bytes)
        const log = yield* platform.httpLog
        const initiate = log.find((r) => r.base === "storage")
        assert.strictEqual(initiate?.path, "/storage/upload/initiate")
        const put = log.find((r) => r.base === "upload")
        assert.strictEqual(put?.method, "PUT")
        assert.isUndefined(put?.headers["authorization"])
        const files = yield* platform.files
        assert.deepStrictEqual(files.map((f) => [f.url, f.kind, f.contentType]), [[url, "input", "image/png"]])
      })
    ))

  it.live("fal.subscribe with a Blob in its input uploads it and the model sees its URL", () =>
    withEmulator((fal, platform) =>
      Effect.gen(function*() {
        const bytes = new TextEncoder().encode("a picture of a cat")
        const result = yield* Effect.promise(() =>
          fal.subscribe("fal-ai/echo", {
            input: { prompt: "a cat", image: new Blob([bytes], { type: "image/jpeg" }) },
            mode: "polling",
            pollInterval: 50
          })
        )
        const data = result.data as { readonly prompt: string; readonly image: unknown }
        assert.strictEqual(data.prompt, "a cat")
        assert.isString(data.image)
        const url = String(data.image)
        const back = yield* Effect.promise(() => fetch(url).then(async (r) => new Uint8Array(await r.arrayBuffer())))
        assert.deepStrictEqual(back, bytes)
        // the model's input, as stored, holds the URL
        const stored = yield* platform.payloads
        assert.deepStrictEqual(stored.map((p) => p.input), [{ prompt: "a cat", image: url }])
      })
    ))
})
