import { Fal, FalClient, Queue } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Ref, Schema } from "effect"
import * as Fake from "./utils/fake.js"

describe("Fal.run", () => {
  it.effect("posts JSON to {run}/{modelId} with the key and the encoded options, and decodes the output", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() =>
        Fake.json(200, { images: [{ url: "https://cdn.example/x.png" }] }, {
          "x-fal-request-id": "req-1",
          "x-fal-billable-units": "0.50000000"
        })
      )
      const Output = Schema.Struct({ images: Schema.Array(Schema.Struct({ url: Schema.String })) })
      const result = yield* Fal.run("fal-ai/flux/dev", { prompt: "a fox" }, {
        options: RequestOptions.make({ startTimeout: "30 seconds", storeIO: false, priority: "low" }),
        output: Output
      }).pipe(Effect.provide(fake.layer))
      assert.strictEqual(result.requestId, "req-1")
      assert.strictEqual(result.meta.billableUnits, 0.5)
      assert.deepStrictEqual(result.data, { images: [{ url: "https://cdn.example/x.png" }] })
      const [seen] = yield* Ref.get(fake.log)
      assert.strictEqual(seen.method, "POST")
      assert.strictEqual(seen.url, "https://fal.run/fal-ai/flux/dev")
      assert.strictEqual(seen.headers["authorization"], `Key ${Fake.KEY}`)
      assert.strictEqual(seen.headers["x-fal-request-timeout"], "30")
      assert.strictEqual(seen.headers["x-fal-store-io"], "0")
      assert.strictEqual(seen.headers["x-fal-queue-priority"], "low")
      assert.deepStrictEqual(JSON.parse(seen.body), { prompt: "a fox" })
    }))

  it.effect("an output that does not match the schema is a DecodeError carrying the request id", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(200, { nope: 1 }, { "x-fal-request-id": "req-2" }))
      const error = yield* Fal.run("fal-ai/x", {}, { output: Schema.Struct({ images: Schema.Array(Schema.String) }) })
        .pipe(Effect.flip, Effect.provide(fake.layer))
      assert.strictEqual(error._tag, "DecodeError")
      assert.strictEqual(error._tag === "DecodeError" && error.requestId, "req-2")
    }))

  it.effect("invalid options, model ids and inputs fail before any request is sent", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(200, {}))
      const errors = yield* Effect.all([
        Fal.run("fal-ai/x", {}, { options: RequestOptions.startTimeout("50 millis") }).pipe(Effect.flip),
        Fal.run("fal-ai/x", {}, { options: RequestOptions.webhookUrl("ftp://nope") }).pipe(Effect.flip),
        Queue.submit("fal-ai/x", {}, { options: RequestOptions.maxQueueLength(-1) }).pipe(Effect.flip),
        Fal.run("fal-ai", {}).pipe(Effect.flip),
        Fal.run("fal-ai/../x", {}).pipe(Effect.flip),
        Fal.run("fal-ai/x?y", {}).pipe(Effect.flip),
        Fal.run("fal-ai/x", { n: 1n }).pipe(Effect.flip),
        Queue.status({ modelId: "fal-ai/x", requestId: "a/b" }).pipe(Effect.flip)
      ]).pipe(Effect.provide(fake.layer))
      assert.deepStrictEqual(errors.map((e) => e._tag), [
        "InvalidRequestOptions",
        "InvalidRequestOptions",
        "InvalidRequestOptions",
        "InvalidModelId",
        "InvalidModelId",
        "InvalidModelId",
        "ValidationError",
        "InvalidRequestId"
      ])
      assert.strictEqual((yield* Ref.get(fake.log)).length, 0)
    }))
})

describe("FalClient", () => {
  it.effect("sends Authorization to the four fal bases only", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make(() => Fake.json(200, {}))
      const service = yield* FalClient.make({ key: Fake.redactedKey }).pipe(
        Effect.provideService(HttpClient.HttpClient, fake.client)
      )
      const urls = [
        "https://fal.run/a/b",
        "https://queue.fal.run/a/b",
        "https://api.fal.ai/v1/models",
        "https://rest.alpha.fal.ai/requests/delete_io/x",
        "https://api.fal.ai/v2/other",
        "https://v3.fal.media/files/x.png",
        "https://hooks.example.com/fal",
        "https://fal.run.evil.com/a/b"
      ]
      for (const url of urls) {
        yield* service.httpClient.execute(
          HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("authorization", "x"))
        )
      }
      const log = yield* Ref.get(fake.log)
      assert.deepStrictEqual(log.map((seen) => seen.headers["authorization"] !== undefined), [
        true,
        true,
        true,
        true,
        false,
        false,
        false,
        false
      ])
      assert.isTrue(service.isFalUrl("https://queue.fal.run/x"))
    }))

  it.effect("a redirect off fal's hosts, followed by a transformClient, does not carry the key", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make((seen) =>
        seen.url.startsWith("https://fal.run/")
          ? new Response(null, { status: 302, headers: { location: "https://collector.example.com/steal" } })
          : Fake.json(200, { ok: true })
      )
      const layer = FalClient.layer({ key: Fake.redactedKey, transformClient: HttpClient.followRedirects(3) }).pipe(
        Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client))
      )
      const result = yield* Fal.run("fal-ai/echo", {}).pipe(Effect.provide(layer))
      assert.deepStrictEqual(result.data, { ok: true })
      const log = yield* Ref.get(fake.log)
      assert.deepStrictEqual(log.map((seen) => [seen.url, seen.headers["authorization"] !== undefined]), [
        ["https://fal.run/fal-ai/echo", true],
        ["https://collector.example.com/steal", false]
      ])
    }))

  it.effect("layerConfig reads FAL_KEY, FAL_ADMIN_KEY and URL overrides", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make(() => Fake.json(200, {}))
      const { ConfigProvider, Layer } = yield* Effect.promise(() => import("effect"))
      const service = yield* FalClient.FalClient.pipe(
        Effect.provide(
          FalClient.layerConfig().pipe(
            Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
            Layer.provide(
              Layer.setConfigProvider(
                ConfigProvider.fromMap(
                  new Map([["FAL_KEY", "k"], ["FAL_ADMIN_KEY", "a"], ["FAL_QUEUE_URL", "http://127.0.0.1:9/q/"]])
                )
              )
            )
          )
        )
      )
      assert.strictEqual(service.urls.queue, "http://127.0.0.1:9/q")
      assert.strictEqual(service.urls.run, "https://fal.run")
      assert.isTrue(service.hasAdminKey)
      // the service exposes a redactor, never the keys
      assert.deepStrictEqual(Object.keys(service).filter((name) => /key/i.test(name)), ["hasAdminKey", "hasKey"])
      assert.strictEqual(service.redact("x Key k y a"), "x <redacted> y <redacted>")
      const missing = yield* FalClient.FalClient.pipe(
        Effect.provide(
          FalClient.layerConfig().pipe(
            Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))
          )
        ),
        Effect.either
      )
      assert.isTrue(Either.isLeft(missing))
    }))
})
