/**
 * `FalEmulator.layerClient`: one layer gives a `FalClient` with every base on the emulator, in
 * memory and over loopback; a run, a queued job and an upload all reach the platform, and a base
 * left on a real fal host is refused by `checkBases` (which the layer applies) with its name.
 */
import { Fal, FalClient, Queue, Storage } from "@effect-fal/api"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Redacted } from "effect"

/** A run, a queued job and an upload through the client; what the platform saw of them. */
const exercise = Effect.gen(function*() {
  const platform = yield* FalPlatform.FalPlatform
  const ran = yield* Fal.run("fal-ai/echo", { hello: "run" })
  const queued = yield* Queue.subscribe("fal-ai/echo", { hello: "queue" })
  const file = yield* Storage.upload(new TextEncoder().encode("hello"), { contentType: "text/plain" })
  const stored = yield* platform.file(file.url)
  const bases = new Set((yield* platform.httpLog).map((entry) => entry.base))
  return { ran: ran.data, queued: queued.data, stored: Option.isSome(stored), bases }
})

const assertExercised = (result: Effect.Effect.Success<typeof exercise>) => {
  assert.deepStrictEqual(result.ran, { hello: "run" })
  assert.deepStrictEqual(result.queued, { hello: "queue" })
  assert.isTrue(result.stored, "the upload is on the platform's CDN")
  for (const base of ["run", "queue", "storage", "upload"]) assert.isTrue(result.bases.has(base as never), base)
}

describe("FalEmulator.layerClient", () => {
  it.effect("in memory: every base is one the in-memory platform serves", () =>
    Effect.gen(function*() {
      const client = yield* FalClient.FalClient
      assert.deepStrictEqual(Object.keys(client.urls).sort(), ["api", "queue", "rest", "run", "storage"])
      yield* FalEmulator.checkBases(client, { _tag: "Memory" })
      assertExercised(yield* exercise)
      // the HttpClient given is the in-memory transport: a real host is refused, not reached
      const http = yield* HttpClient.HttpClient
      const outside = yield* Effect.exit(http.get("https://example.com/"))
      assert.isTrue(Exit.isFailure(outside))
    }).pipe(Effect.provide(FalEmulator.layerClient({ transport: "memory" }))))

  it.live("over loopback: every base is on the emulator's origin", () =>
    Effect.gen(function*() {
      const client = yield* FalClient.FalClient
      const { origin } = yield* FalEmulator.FalEmulator
      for (const [base, url] of Object.entries(client.urls)) assert.isTrue(url.startsWith(`${origin}/`), base)
      assertExercised(yield* exercise)
      assert.isFalse(client.hasAdminKey)
    }).pipe(Effect.provide(FalEmulator.layerClient())))

  it.live("adminKey: true gives the platform's ADMIN key", () =>
    Effect.map(FalClient.FalClient, (client) => assert.isTrue(client.hasAdminKey)).pipe(
      Effect.provide(FalEmulator.layerClient({ adminKey: true }))
    ))

  it.live("checkBases names a base left on a real fal host", () =>
    Effect.gen(function*() {
      const { origin, urls } = yield* FalEmulator.FalEmulator
      // the old guide's set-up: four bases on the emulator, storage forgotten
      const forgotten = yield* FalClient.make({
        key: Redacted.make(FalPlatform.defaultKeys.user),
        urls: { run: urls.run, queue: urls.queue, api: urls.api, rest: urls.rest }
      }).pipe(Effect.provide(Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.never))))
      const exit = yield* Effect.exit(FalEmulator.checkBases(forgotten, { _tag: "Loopback", origin }))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(error))
      if (Option.isSome(error)) {
        assert.strictEqual(error.value.base, "storage")
        assert.strictEqual(error.value.url, "https://rest.fal.ai")
        assert.include(error.value.message, "could reach a real fal host")
      }
      // and a loopback base is not one the in-memory platform serves
      const onLoopback = yield* FalClient.make({
        key: Redacted.make(FalPlatform.defaultKeys.user),
        urls: { run: urls.run, queue: urls.queue, api: urls.api, rest: urls.rest, storage: urls.storage }
      }).pipe(Effect.provide(Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.never))))
      assert.isTrue(Exit.isFailure(yield* Effect.exit(FalEmulator.checkBases(onLoopback, { _tag: "Memory" }))))
      yield* FalEmulator.checkBases(onLoopback, { _tag: "Loopback", origin })
    }).pipe(Effect.provide(FalEmulator.layer())))
})
