/**
 * fal's official JS client, unmodified, streaming from the loopback emulator: in server mode
 * (the key) and in client mode (a temporary token from a `tokenProvider`, sent as
 * `fal_jwt_token`).
 */
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { createFalClient } from "@fal-ai/client"
import * as Effect from "effect/Effect"
import { officialClient, rewrite } from "./utils/officialClient.js"

const withEmulator = <A, E>(f: (urls: FalPlatform.Urls, platform: FalPlatform.Service) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const { urls } = yield* FalEmulator.FalEmulator
    return yield* f(urls, yield* FalPlatform.FalPlatform)
  }).pipe(Effect.provide(FalEmulator.layer()))

const attempt = <A>(promise: () => Promise<A>) => Effect.tryPromise({ try: promise, catch: (error) => error })

describe("@fal-ai/client fal.stream against the emulator", () => {
  it.live("server mode: partial events, done() gives the final output, the request id is the emulator's", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const fal = officialClient(urls, FalPlatform.defaultKeys.user)
        const events: Array<unknown> = []
        const stream = yield* Effect.promise(() => fal.stream("fal-ai/counter", { input: { count: 4, delay_ms: 10 } }))
        yield* Effect.promise(async () => {
          for await (const event of stream) events.push(event)
        })
        const done = yield* Effect.promise(() => stream.done())
        assert.deepStrictEqual(events, [1, 2, 3, 4].map((index) => ({ index, count: 4, done: index === 4 })))
        assert.deepStrictEqual(done, { index: 4, count: 4, done: true })
        const [entry] = yield* platform.httpLog
        assert.strictEqual(entry.path, "/fal-ai/counter/stream")
        assert.include(entry.headers.accept, "text/event-stream")
        assert.strictEqual(entry.auth, "user")
        assert.strictEqual(stream.requestId, entry.id)
        const record = yield* platform.awaitStreamEnd(entry.id)
        assert.strictEqual(record.outcome, "completed")
        assert.strictEqual(record.chunks, 4)
      })
    ))

  it.live("client mode: the tokenProvider's token is sent as fal_jwt_token and accepted for that app only", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const asked: Array<string> = []
        const fal = createFalClient({
          // no credentials: the browser case
          fetch: (input, init) => globalThis.fetch(rewrite(urls, String(input)), init)
        })
        const tokenProvider = async (app: string) => {
          asked.push(app)
          const issued = await Effect.runPromise(platform.issueToken(["fal-ai/counter"]))
          return issued.token
        }
        const stream = yield* Effect.promise(() =>
          fal.stream("fal-ai/counter", {
            input: { count: 3, delay_ms: 0 },
            connectionMode: "client",
            tokenProvider
          })
        )
        const done = yield* Effect.promise(() => stream.done())
        assert.deepStrictEqual(done, { index: 3, count: 3, done: true })
        assert.deepStrictEqual(asked, ["fal-ai/counter/stream"])
        const [entry] = yield* platform.httpLog
        assert.strictEqual(entry.auth, "token")
        assert.strictEqual(entry.query.fal_jwt_token, "<redacted>")
        assert.notInclude(entry.url, (yield* platform.tokens)[0].token)
        assert.strictEqual((yield* platform.awaitStreamEnd(entry.id)).auth, "token")

        // a token for another app is refused with 403
        const other = yield* Effect.promise(() =>
          fal.stream("fal-ai/stream-fail", {
            input: { after: 1 },
            connectionMode: "client",
            tokenProvider
          })
        )
        const refused = yield* Effect.flip(attempt(() => other.done()))
        assert.strictEqual((refused as { status?: number }).status, 403)
      })
    ))

  it.live("an error mid-stream surfaces: a cut connection and a line that is not JSON reject done()", () =>
    withEmulator((urls) =>
      Effect.gen(function*() {
        const fal = officialClient(urls, FalPlatform.defaultKeys.user)
        for (const how of ["cut", "bad_json"] as const) {
          const seen: Array<unknown> = []
          const stream = yield* Effect.promise(() => fal.stream("fal-ai/stream-fail", { input: { after: 2, how } }))
          stream.on("data", (event) => seen.push(event))
          const error = yield* Effect.flip(attempt(() => stream.done()))
          assert.isDefined(error, how)
          assert.deepStrictEqual(seen.slice(0, 2), [{ index: 1 }, { index: 2 }], how)
        }
        // before the stream starts: an ordinary error answer
        const early = yield* Effect.promise(() =>
          fal.stream("fal-ai/stream-fail", { input: { after: 0, error_type: "internal_error" } })
        )
        const error = yield* Effect.flip(attempt(() => early.done()))
        assert.strictEqual((error as { status?: number }).status, 500)
      })
    ))

  it.live("a binary answer streams Uint8Array chunks", () =>
    withEmulator((urls) =>
      Effect.gen(function*() {
        const fal = officialClient(urls, FalPlatform.defaultKeys.user)
        const chunks: Array<Uint8Array> = []
        const stream = yield* Effect.promise(() => fal.stream("fal-ai/audio", { input: { chunks: 3, size: 100 } }))
        stream.on("data", (chunk: Uint8Array) => chunks.push(chunk))
        yield* Effect.promise(() => stream.done())
        const total = chunks.reduce((n, c) => n + c.byteLength, 0)
        assert.strictEqual(total, 300)
        assert.isTrue(chunks.every((c) => c instanceof Uint8Array))
      })
    ))
})
