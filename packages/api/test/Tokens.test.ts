import { FalError, TokenProvider, Tokens } from "@effect-fal/api"
import { FalPlatform } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, DateTime, Duration, Effect, Exit, Redacted, TestClock } from "effect"
import { inMemory } from "./utils/emulator.js"

const tokenOf = (token: Tokens.Token) => Redacted.value(token.value)

describe("Tokens.create", () => {
  it.effect("asks POST {rest}/tokens/ with the key, owner/app and the lifetime; the token expires on the Clock", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* TestClock.setTime(1_000_000)
      const token = yield* Tokens.create("fal-ai/flux/dev", { expiration: "5 minutes" })
      assert.strictEqual(token.app, "fal-ai/flux")
      assert.strictEqual(DateTime.toEpochMillis(token.expiresAt), 1_000_000 + 300_000)
      assert.match(tokenOf(token), /^[\w-]+\.[\w-]+\.[\w-]+$/)
      const [entry] = yield* platform.httpLog
      assert.strictEqual(entry.method, "POST")
      assert.strictEqual(entry.base, "rest")
      assert.strictEqual(entry.path, "/tokens/")
      assert.strictEqual(entry.auth, "user")
      assert.deepStrictEqual(JSON.parse(entry.body), { allowed_apps: ["fal-ai/flux"], token_expiration: 300 })
      // valid for its app (any sub-path), not for another; refused from its expiry on
      assert.strictEqual(yield* platform.validateToken(tokenOf(token), "fal-ai/flux/schnell"), "valid")
      assert.strictEqual(yield* platform.validateToken(tokenOf(token), "fal-ai/echo"), "wrong_app")
      assert.strictEqual(yield* platform.validateToken("nope", "fal-ai/flux"), "unknown")
      yield* TestClock.adjust(Duration.subtract(Duration.minutes(5), Duration.millis(1)))
      assert.strictEqual(yield* platform.validateToken(tokenOf(token), "fal-ai/flux"), "valid")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* platform.validateToken(tokenOf(token), "fal-ai/flux"), "expired")
    }).pipe(Effect.provide(inMemory())))

  it.effect("defaults to 120 s; a namespaced id keeps owner/app", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const token = yield* Tokens.create("workflows/acme/pipeline/step")
      assert.strictEqual(token.app, "acme/pipeline")
      const [entry] = yield* platform.httpLog
      assert.deepStrictEqual(JSON.parse(entry.body), { allowed_apps: ["acme/pipeline"], token_expiration: 120 })
      const [issued] = yield* platform.tokens
      assert.strictEqual(issued.expiresAt - issued.issuedAt, 120_000)
    }).pipe(Effect.provide(inMemory())))

  it.effect("a bad app id or lifetime is a typed error and nothing is sent", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      for (const app of ["", "flux", "fal-ai/../x", "fal-ai/flux?x=1", "workflows/acme"]) {
        const error = yield* Effect.flip(Tokens.create(app))
        assert.strictEqual(error._tag, "InvalidModelId", app)
      }
      for (const expiration of [Duration.zero, Duration.infinity, "-1 seconds" as Duration.DurationInput]) {
        const error = yield* Effect.flip(Tokens.create("fal-ai/flux", { expiration }))
        assert.strictEqual(error._tag, "ValidationError")
      }
      assert.deepStrictEqual(yield* platform.httpLog, [])
    }).pipe(Effect.provide(inMemory())))

  it.effect("an unknown key is Unauthorized, and the key is in no error text", () =>
    Effect.gen(function*() {
      const secret = "wrong-id:wrong-secret-123456789"
      const exit = yield* Effect.exit(Tokens.create("fal-ai/flux"))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = Cause.squash(exit.cause)
        assert.isTrue(FalError.isFalError(error) && error._tag === "Unauthorized")
        for (const text of [Cause.pretty(exit.cause), JSON.stringify(error), String(error)]) {
          assert.notInclude(text, secret)
          assert.notInclude(text, "wrong-secret")
        }
      }
    }).pipe(Effect.provide(inMemory({ key: Redacted.make("wrong-id:wrong-secret-123456789") }))))
})

describe("TokenProvider", () => {
  it.effect("layerKey asks fal with the client's key", () =>
    Effect.gen(function*() {
      const provider = yield* TokenProvider.TokenProvider
      const platform = yield* FalPlatform.FalPlatform
      const token = yield* provider.token("fal-ai/echo/stream")
      assert.strictEqual(token.app, "fal-ai/echo")
      assert.strictEqual(yield* platform.validateToken(tokenOf(token), "fal-ai/echo"), "valid")
    }).pipe(Effect.provide(TokenProvider.layerKey()), Effect.provide(inMemory())))

  it.effect("make: a string is taken to live assumedExpiration (default 120 s); the app is owner/app", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(5_000)
      const asked: Array<string> = []
      const provider = TokenProvider.make((app) => Effect.sync(() => (asked.push(app), "t0k3n")))
      const token = yield* provider.token("acme/model/sub/path")
      assert.deepStrictEqual(asked, ["acme/model"])
      assert.strictEqual(tokenOf(token), "t0k3n")
      assert.strictEqual(DateTime.toEpochMillis(token.expiresAt), 5_000 + 120_000)
      const longer = TokenProvider.make(() => Effect.succeed("x"), { assumedExpiration: "10 minutes" })
      assert.strictEqual(DateTime.toEpochMillis((yield* longer.token("a/b")).expiresAt), 5_000 + 600_000)
      // a bad id fails before the function is called
      assert.strictEqual((yield* Effect.flip(provider.token("nope")))._tag, "InvalidModelId")
      assert.deepStrictEqual(asked, ["acme/model"])
      // the token's value never prints
      assert.notInclude(String(token.value), "t0k3n")
      assert.notInclude(JSON.stringify(token), "t0k3n")
    }))

  it.effect("the emulator accepts a bare app name in allowed_apps (as fal's client sends) for that app", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const issued = yield* platform.issueToken(["echo"])
      assert.strictEqual(yield* platform.validateToken(issued.token, "fal-ai/echo"), "valid")
      assert.strictEqual(yield* platform.validateToken(issued.token, "other/echo/x"), "valid")
      assert.strictEqual(yield* platform.validateToken(issued.token, "fal-ai/slow"), "wrong_app")
    }).pipe(Effect.provide(inMemory())))
})
