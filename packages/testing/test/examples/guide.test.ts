/**
 * The examples of docs/testing.md, type-checked and run.
 */
import { Fal, Storage } from "@effect-fal/api"
import { FalEmulator, FalPlatform, Fault, Model } from "@effect-fal/testing"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"

// --- the application code under test: it only needs an HttpClient ---------------------------

const Caption = Schema.Struct({ caption: Schema.String })

/** Calls a captioning model synchronously on fal. */
const caption = (imageUrl: string) =>
  Effect.gen(function*() {
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const response = yield* client.execute(
      HttpClientRequest.post("https://fal.run/acme/caption").pipe(
        HttpClientRequest.setHeader("authorization", `Key ${FalPlatform.defaultKeys.user}`),
        HttpClientRequest.setHeader("X-Fal-Request-Timeout", "30"),
        HttpClientRequest.setBody(HttpBody.unsafeJson({ image_url: imageUrl }))
      )
    )
    return yield* Schema.decodeUnknown(Caption)(yield* response.json)
  })

// --- a model of your own ----------------------------------------------------------------------

const captionModel = Model.make({
  id: "acme/caption",
  input: Schema.Struct({ image_url: Schema.String }),
  handler: ({ image_url }, ctx) =>
    Effect.gen(function*() {
      yield* ctx.log(`captioning ${image_url}`)
      yield* Effect.sleep("2 seconds") // platform time: the TestClock drives it
      return { caption: "a cat on a mat" }
    })
})

describe("in memory", () => {
  it.effect("tests application code without a socket", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const fiber = yield* Effect.fork(caption("https://example.com/cat.png"))
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(result, { caption: "a cat on a mat" })

      // inspect what the platform received
      const [request] = yield* platform.httpLog
      assert.strictEqual(request.base, "run")
      assert.strictEqual(request.path, "/acme/caption")
      assert.isTrue(request.options._tag === "Right" && request.options.right.startTimeout !== undefined)
    }).pipe(Effect.provide(FalPlatform.layerClient({ models: [captionModel] }))))

  it.effect("injects a fault", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({
        endpoint: "run",
        modelId: "acme/caption",
        fault: Fault.status(503, "runner_scheduling_failure")
      })
      const error = yield* Effect.flip(caption("https://example.com/cat.png"))
      assert.strictEqual(error._tag, "ResponseError")
    }).pipe(Effect.provide(FalPlatform.layerClient({ models: [captionModel] }))))
})

// --- over real HTTP, one emulator shared by a suite -------------------------------------------

layer(FalEmulator.layer(), { excludeTestServices: true })("loopback", (it) => {
  it.effect("any HTTP client can call the emulator", () =>
    Effect.gen(function*() {
      const { urls } = yield* FalEmulator.FalEmulator
      const response = yield* Effect.promise(() =>
        fetch(`${urls.run}/fal-ai/echo`, {
          method: "POST",
          headers: { authorization: `Key ${FalPlatform.defaultKeys.user}`, "content-type": "application/json" },
          body: JSON.stringify({ hello: "world" })
        })
      )
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(yield* Effect.promise(() => response.json()), { hello: "world" })
    }))
})

// --- a FalClient on the emulator, one layer ----------------------------------------------------

describe("FalEmulator.layerClient", () => {
  it.effect("a run and an upload, in memory", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const result = yield* Fal.run("fal-ai/echo", { hello: "world" })
      assert.deepStrictEqual(result.data, { hello: "world" })
      const file = yield* Storage.upload(new TextEncoder().encode("hi"), { contentType: "text/plain" })
      assert.isTrue((yield* platform.files).some((stored) => stored.url === file.url))
    }).pipe(Effect.provide(FalEmulator.layerClient({ transport: "memory" }))))

  it.live("the same over loopback", () =>
    Effect.gen(function*() {
      const result = yield* Fal.run("fal-ai/echo", { hello: "world" })
      assert.deepStrictEqual(result.data, { hello: "world" })
    }).pipe(Effect.provide(FalEmulator.layerClient())))
})
