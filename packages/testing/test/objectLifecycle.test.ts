/**
 * The object-lifecycle header with an initial ACL (SPEC section 7): fal's official client sends
 * `{"initial_acl": {...}}` on its own; the emulator accepts it (no 400) and applies the
 * expiration part, if any, to the request's output files on the Effect clock.
 */
import { ObjectLifecycle } from "@effect-fal/headers"
import { FalPlatform } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as TestClock from "effect/TestClock"
import { call, withEmulator } from "./utils/fetch.js"
import { send } from "./utils/memory.js"

const aclAlone = "{\"initial_acl\":{\"default\":\"hide\",\"rules\":[{\"user\":\"ada\",\"decision\":\"allow\"}]}}"
const withExpiration = "{\"expiration_duration_seconds\": 60, \"initial_acl\": {\"default\": \"forbid\"}}"

const imageUrl = (json: unknown): string => (json as { images: Array<{ url: string }> }).images[0].url

describe("X-Fal-Object-Lifecycle-Preference with initial_acl", () => {
  it.effect("the ACL alone is accepted, read as such, and leaves the account's expiration (forever)", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const r = yield* send("POST", "https://fal.run/fal-ai/image", {
        body: { prompt: "p" },
        headers: { [ObjectLifecycle.name]: aclAlone }
      })
      assert.strictEqual(r.status, 200, r.text)
      const [entry] = yield* platform.httpLog
      assert.deepStrictEqual(Either.getOrThrow(entry.options).objectLifecycle, {
        initialAcl: { default: "hide", rules: [{ user: "ada", decision: "allow" }] }
      })
      yield* TestClock.adjust("3650 days")
      assert.strictEqual((yield* send("GET", imageUrl(r.json), { key: null })).status, 200)
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.effect("beside an expiration, the expiration applies: the file is gone after 60 s", () =>
    Effect.gen(function*() {
      const r = yield* send("POST", "https://fal.run/fal-ai/image", {
        body: { prompt: "p" },
        headers: { [ObjectLifecycle.name]: withExpiration }
      })
      assert.strictEqual(r.status, 200, r.text)
      const url = imageUrl(r.json)
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual((yield* send("GET", url, { key: null })).status, 200)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* send("GET", url, { key: null })).status, 404)
    }).pipe(Effect.provide(FalPlatform.layerClient())))

  it.live("over loopback HTTP: the ACL alone is a 200 on run and queue, a bad decision a 400", () =>
    withEmulator((urls) =>
      Effect.gen(function*() {
        const run = yield* call("POST", `${urls.run}/fal-ai/image`, {
          body: { prompt: "p" },
          headers: { [ObjectLifecycle.name]: aclAlone }
        })
        assert.strictEqual(run.status, 200)
        const queued = yield* call("POST", `${urls.queue}/fal-ai/image`, {
          body: { prompt: "p" },
          headers: { [ObjectLifecycle.name]: aclAlone }
        })
        assert.strictEqual(queued.status, 200)
        const bad = yield* call("POST", `${urls.run}/fal-ai/image`, {
          body: { prompt: "p" },
          headers: { [ObjectLifecycle.name]: "{\"initial_acl\": {\"default\": \"deny\"}}" }
        })
        assert.strictEqual(bad.status, 400)
      })
    ))
})
