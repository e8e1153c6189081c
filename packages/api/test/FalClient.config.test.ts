import { Fal, FalClient } from "@effect-fal/api"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Either, Layer, Option, Redacted, Ref } from "effect"
import * as Fake from "./utils/fake.js"

describe("FalClient.layerConfig with Config values", () => {
  it.effect("reads the key, the admin key and the URLs from the given Configs instead of FAL_*", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make(() => Fake.json(200, { ok: true }))
      const env = ConfigProvider.fromMap(new Map([["MY_FAL_KEY", "mine"], ["FAL_KEY", "not-this-one"]]))
      const live = FalClient.layerConfig({
        key: Config.redacted("MY_FAL_KEY"),
        adminKey: Config.succeed(Option.some(Redacted.make("admin"))),
        urls: Config.succeed({ run: "http://127.0.0.1:9/run" })
      }).pipe(
        Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
        Layer.provide(Layer.setConfigProvider(env))
      )
      const service = yield* Effect.provide(FalClient.FalClient, live)
      assert.isTrue(service.hasAdminKey)
      assert.strictEqual(service.urls.run, "http://127.0.0.1:9/run")
      assert.strictEqual(service.urls.queue, FalClient.defaultUrls.queue)
      yield* Fal.run("acme/model", { x: 1 }).pipe(Effect.provide(live))
      const [seen] = yield* Ref.get(fake.log)
      assert.strictEqual(seen.url, "http://127.0.0.1:9/run/acme/model")
      assert.strictEqual(seen.headers["authorization"], "Key mine")
    }))

  it.effect("keeps the defaults for what is not given, and fails on a bad FAL_*_URL", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make(() => Fake.json(200, {}))
      const build = (entries: ReadonlyArray<readonly [string, string]>) =>
        Effect.provide(
          FalClient.FalClient,
          FalClient.layerConfig({ urls: FalClient.urlsConfig }).pipe(
            Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(entries))))
          )
        ).pipe(Effect.either)
      const ok = yield* build([["FAL_KEY", "k"], ["FAL_STORAGE_URL", "http://127.0.0.1:9/storage"]])
      assert.isTrue(
        Either.isRight(ok) && ok.right.urls.storage === "http://127.0.0.1:9/storage" && !ok.right.hasAdminKey
      )
      const bad = yield* build([["FAL_KEY", "k"], ["FAL_API_URL", "not a url"]])
      assert.isTrue(Either.isLeft(bad) && bad.left._tag === "InvalidConfiguration" && bad.left.option === "FAL_API_URL")
    }))

  it.effect("FAL_KEY unset is an InvalidConfiguration that says to set it or pass a key", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make(() => Fake.json(200, {}))
      const error = yield* Effect.provide(
        FalClient.FalClient,
        FalClient.layerConfig().pipe(
          Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))
        )
      ).pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidConfiguration")
      assert.strictEqual(error.option, "FAL_KEY")
      assert.include(error.message, "set FAL_KEY")
      assert.include(error.message, "FalClient.layer")
    }))
})
