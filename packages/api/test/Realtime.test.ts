import type { FalClient } from "@effect-fal/api"
import { Realtime, TokenProvider, Tokens } from "@effect-fal/api"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Tracing from "./utils/tracing.js"

/**
 * Tokens asked of the emulator (`Tokens.create`, `lifetime` seconds on its Clock) and counted;
 * the first `refused` are tokens the emulator never issued.
 */
const countingProvider = (issued: Ref.Ref<Array<string>>, options: { lifetime: number; refused?: number }) =>
  Layer.effect(
    TokenProvider.TokenProvider,
    Effect.map(Effect.context<FalClient.FalClient>(), (context) => ({
      token: (app: string) =>
        Effect.gen(function*() {
          const n = (yield* Ref.get(issued)).length
          const token = n < (options.refused ?? 0)
            ? {
              value: Redacted.make(`invalid-secret-${n}`),
              app,
              expiresAt: DateTime.addDuration(yield* DateTime.now, `${options.lifetime} seconds`)
            }
            : yield* Effect.provide(Tokens.create(app, { expiration: `${options.lifetime} seconds` }), context)
          yield* Ref.update(issued, (list) => [...list, Redacted.value(token.value)])
          return token
        })
    }))
  )

const env = (issued: Ref.Ref<Array<string>>, options: { lifetime: number; refused?: number } = { lifetime: 120 }) =>
  Layer.mergeAll(NodeSocket.layerWebSocketConstructor, countingProvider(issued, options)).pipe(
    Layer.provideMerge(FalEmulator.layerClient())
  )

const run = <A, E>(
  body: (ctx: { readonly issued: Ref.Ref<Array<string>>; readonly platform: FalPlatform.Service }) => Effect.Effect<
    A,
    E,
    Scope.Scope | Layer.Layer.Success<ReturnType<typeof env>>
  >,
  options?: { lifetime: number; refused?: number }
) =>
  Effect.gen(function*() {
    const issued = yield* Ref.make<Array<string>>([])
    return yield* Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      return yield* body({ issued, platform })
    }).pipe(Effect.scoped, Effect.provide(env(issued, options)))
  })

const messages = (platform: FalPlatform.Service) =>
  Effect.map(
    platform.realtimeLog,
    (events) => events.filter((e): e is Extract<FalPlatform.RealtimeEvent, { _tag: "Message" }> => e._tag === "Message")
  )

describe("Realtime.connect", () => {
  it.effect("sends MessagePack by default and streams the echoed output with its request id", () =>
    run(({ platform }) =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("fal-ai/echo")
        yield* connection.send({ prompt: "a cat" }, { requestId: "r-1" })
        const first = yield* Stream.runHead(connection.results)
        assert.deepStrictEqual(
          first._tag === "Some" ? first.value : undefined,
          Either.right({
            requestId: "r-1",
            output: { prompt: "a cat", request_id: "r-1" }
          })
        )
        const [message] = yield* messages(platform)
        assert.strictEqual(message.kind, "binary")
        const connected = (yield* platform.realtimeLog).find((e) => e._tag === "Connected")
        assert.strictEqual(connected?._tag === "Connected" ? connected.path : undefined, "/realtime")
      })
    ))

  it.effect("decodes outputs with the output Schema, a mismatch as a DecodeError element", () =>
    run(() =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("fal-ai/echo", {
          output: Schema.Struct({ n: Schema.Number }),
          throttle: 0
        })
        yield* connection.send({ n: 1 })
        yield* connection.send({ n: "one" })
        const [good, bad] = yield* Stream.runCollect(Stream.take(connection.results, 2)).pipe(
          Effect.map((chunk) => Array.from(chunk))
        )
        assert.deepStrictEqual(good, Either.right({ requestId: undefined, output: { n: 1 } }))
        assert.isTrue(Either.isLeft(bad) && bad.left._tag === "DecodeError")
      })
    ))

  it.effect("JSON option: text frames, answered as text", () =>
    run(({ platform }) =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("fal-ai/echo", { encoding: "json" })
        yield* connection.send({ x: [1, 2] })
        const first = yield* Stream.runHead(connection.results)
        assert.deepStrictEqual(
          first._tag === "Some" ? first.value : undefined,
          Either.right({ requestId: undefined, output: { x: [1, 2] } })
        )
        const [message] = yield* messages(platform)
        assert.strictEqual(message.kind, "text")
      })
    ))

  it.effect("an x-fal-error frame is a Left RequestFailed and the connection goes on", () =>
    run(() =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("fal-ai/validate", { throttle: 0 })
        yield* connection.send({ prompt: "", steps: 500 }, { requestId: "bad" })
        yield* connection.send({ prompt: "ok", steps: 5 }, { requestId: "good" })
        const [bad, good] = Array.from(yield* Stream.runCollect(Stream.take(connection.results, 2)))
        assert.isTrue(Either.isLeft(bad))
        if (Either.isLeft(bad)) {
          assert.strictEqual(bad.left._tag, "RequestFailed")
          if (bad.left._tag === "RequestFailed") {
            assert.strictEqual(bad.left.errorType, "VALIDATION_ERROR")
            assert.strictEqual(bad.left.requestId, "bad")
            assert.match(bad.left.detail ?? "", /steps/)
          }
        }
        assert.deepStrictEqual(
          good,
          Either.right({ requestId: "good", output: { prompt: "ok", steps: 5, request_id: "good" } })
        )
      })
    ))

  it.effect("throttle: the first input goes at once, then the latest one per interval (TestClock)", () =>
    run(({ platform }) =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("fal-ai/echo", { throttle: "128 millis" })
        yield* connection.send({ n: 1 })
        yield* platform.awaitRealtimeLog((e) => e._tag === "Message" && e.seq === 0)
        yield* connection.send({ n: 2 })
        yield* connection.send({ n: 3 })
        yield* connection.send({ n: 4 })
        yield* TestClock.adjust("127 millis")
        // nothing more before the interval has passed
        yield* Stream.runHead(connection.results)
        assert.strictEqual((yield* messages(platform)).length, 1)
        yield* TestClock.adjust("1 millis")
        yield* platform.awaitRealtimeLog((e) => e._tag === "Message" && e.seq === 1)
        yield* TestClock.adjust("1 second")
        yield* Stream.runHead(connection.results)
        const sent = yield* messages(platform)
        assert.deepStrictEqual(sent.map((m) => m.input), [{ n: 1 }, { n: 4 }])
      })
    ))

  it.effect("throttle 0 sends every input", () =>
    run(({ platform }) =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("fal-ai/echo", { throttle: 0 })
        for (let n = 0; n < 5; n++) yield* connection.send({ n })
        const outputs = yield* Stream.runCollect(Stream.take(connection.results, 5))
        assert.deepStrictEqual(
          Array.from(outputs, (o) => Either.getOrThrow(o).output),
          [0, 1, 2, 3, 4].map((n) => ({ n }))
        )
        assert.strictEqual((yield* messages(platform)).length, 5)
      })
    ))

  it.effect("maxBuffering outside 1..60 fails before any token or connection", () =>
    run(({ issued, platform }) =>
      Effect.gen(function*() {
        for (const maxBuffering of [0, 61, 1.5, Number.NaN]) {
          const error = yield* Effect.flip(Realtime.connect("fal-ai/echo", { maxBuffering }))
          assert.strictEqual(error._tag, "InvalidRequestOptions")
          assert.match(error.message, /max_buffering/)
        }
        assert.deepStrictEqual(yield* Ref.get(issued), [])
        assert.deepStrictEqual(yield* platform.realtimeLog, [])
        const bad = yield* Effect.flip(Realtime.connect("fal-ai/echo", { throttle: -1 }))
        assert.strictEqual(bad._tag, "InvalidConfiguration")
        const connection = yield* Realtime.connect("fal-ai/echo", { maxBuffering: 10, path: "/stream" })
        yield* connection.send({ ok: true })
        yield* Stream.runHead(connection.results)
        const connected = (yield* platform.realtimeLog)[0]
        assert.deepStrictEqual(
          connected._tag === "Connected" ? [connected.maxBuffering, connected.path] : [],
          ["10", "/stream"]
        )
      })
    ))

  it.effect("an input that cannot be encoded fails with a ValidationError and nothing is sent", () =>
    run(({ platform }) =>
      Effect.gen(function*() {
        const json = yield* Realtime.connect("fal-ai/echo", { encoding: "json", throttle: 0 })
        const big = yield* Effect.flip(json.send({ n: 1n }))
        assert.strictEqual(big._tag, "ValidationError")
        const notObject = yield* Effect.flip(json.send([1, 2] as never))
        assert.strictEqual(notObject._tag, "ValidationError")
        const typed = yield* Realtime.connect("fal-ai/echo", {
          input: Schema.Struct({ prompt: Schema.NonEmptyString }),
          throttle: 0
        })
        const empty = yield* Effect.flip(typed.send({ prompt: "" }))
        assert.strictEqual(empty._tag, "ValidationError")
        yield* typed.send({ prompt: "fine" })
        yield* Stream.runHead(typed.results)
        assert.deepStrictEqual((yield* messages(platform)).map((m) => m.input), [{ prompt: "fine" }])
      })
    ))

  it.effect("closing the scope closes the socket: the emulator sees the close", () =>
    run(({ platform }) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const connection = yield* Realtime.connect("fal-ai/echo").pipe(Scope.extend(scope))
        yield* connection.send({ a: 1 })
        yield* Stream.runHead(connection.results)
        yield* Scope.close(scope, Effect.void as never)
        const closed = yield* platform.awaitRealtimeLog((e) => e._tag === "Closed")
        assert.strictEqual(closed._tag === "Closed" ? closed.code : 0, 1000)
      })
    ))

  it.effect("a refused token: reconnects with a fresh token and sends the unanswered input again", () =>
    run(({ issued, platform }) =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("fal-ai/echo", { reconnect: Schedule.recurs(2) })
        yield* connection.send({ hello: "again" })
        const first = yield* Stream.runHead(connection.results)
        assert.deepStrictEqual(
          first._tag === "Some" ? first.value : undefined,
          Either.right({ requestId: undefined, output: { hello: "again" } })
        )
        assert.strictEqual((yield* Ref.get(issued)).length, 2)
        const closes = (yield* platform.realtimeLog).filter((e) => e._tag === "Closed")
        assert.deepStrictEqual(closes.map((e) => e._tag === "Closed" ? e.code : 0), [1008])
      }), { lifetime: 120, refused: 1 }))

  it.effect("tokens refused every time: an Unauthorized failure that does not hold the token", () =>
    run(({ issued, platform }) =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("fal-ai/echo", { reconnect: Schedule.recurs(2) })
        yield* connection.send({ a: 1 })
        const error = yield* Effect.flip(Stream.runDrain(connection.results))
        assert.strictEqual(error._tag, "Unauthorized")
        assert.strictEqual((yield* Ref.get(issued)).length, 3)
        assert.notMatch(`${error.message} ${JSON.stringify(error)} ${String(error.stack)}`, /invalid-secret/)
        const logged = JSON.stringify(yield* platform.httpLog)
        assert.notMatch(logged, /invalid-secret/)
        assert.match(logged, /fal_jwt_token=<redacted>/)
      }), { lifetime: 120, refused: 10 }))

  it.effect("refreshes the token at 90% of its lifetime (TestClock)", () =>
    run(({ issued }) =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("fal-ai/echo")
        yield* connection.send({ a: 1 })
        yield* Stream.runHead(connection.results)
        assert.strictEqual((yield* Ref.get(issued)).length, 1)
        yield* TestClock.adjust("89 seconds")
        assert.strictEqual((yield* Ref.get(issued)).length, 1)
        yield* TestClock.adjust("1 second")
        // the refresh is a real request to the emulator: wait for it (a missing refresh times out)
        yield* Effect.repeat(Ref.get(issued), { until: (list) => list.length === 2 })
        yield* TestClock.adjust("89 seconds")
        assert.strictEqual((yield* Ref.get(issued)).length, 2)
        yield* TestClock.adjust("1 second")
        yield* Effect.repeat(Ref.get(issued), { until: (list) => list.length === 3 })
      }), { lifetime: 100 }))

  it.effect("an expired token: the emulator refuses the next input, the connection reopens with the refreshed token", () =>
    run(({ issued, platform }) =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("fal-ai/echo", { throttle: 0 })
        yield* connection.send({ n: 1 })
        yield* Stream.runHead(connection.results)
        // the refresh at 9 s, then the first token expires at 10 s
        yield* TestClock.adjust("9 seconds")
        yield* Effect.repeat(Ref.get(issued), { until: (list) => list.length === 2 })
        yield* TestClock.adjust("2 seconds")
        yield* connection.send({ n: 2 })
        const answer = yield* Stream.runHead(connection.results)
        assert.deepStrictEqual(
          answer._tag === "Some" ? answer.value : undefined,
          Either.right({ requestId: undefined, output: { n: 2 } })
        )
        // no token beyond the refreshed one: the reconnect used it
        assert.strictEqual((yield* Ref.get(issued)).length, 2)
        const log = yield* platform.realtimeLog
        assert.deepStrictEqual(log.map((e) => e._tag), [
          "Connected",
          "Message",
          "Message",
          "Closed",
          "Connected",
          "Message"
        ])
        const closed = log.find((e) => e._tag === "Closed")
        assert.strictEqual(closed?._tag === "Closed" ? closed.code : 0, 1008)
      }), { lifetime: 10 }))

  it.effect("spans: connect and each session; no span holds the token", () =>
    run(({ issued }) =>
      Effect.gen(function*() {
        const { spans, tracer } = yield* Tracing.recorder
        yield* Effect.gen(function*() {
          const connection = yield* Realtime.connect("fal-ai/echo")
          yield* connection.send({ a: 1 })
          yield* Stream.runHead(connection.results)
        }).pipe(Effect.withTracer(tracer))
        const names = spans.map((span) => span.name)
        for (const name of ["fal.realtime.connect", "fal.realtime.session"]) {
          assert.include(names, name)
        }
        const session = spans.find((span) => span.name === "fal.realtime.session")
        assert.strictEqual(session?.attributes.get("fal.model_id"), "fal-ai/echo")
        const [token] = yield* Ref.get(issued)
        const everything = JSON.stringify(spans.map((span) => [span.name, Array.from(span.attributes)]))
        assert.notInclude(everything, token)
      })
    ))

  it.effect("an app the server does not serve: a TransportError", () =>
    run(({ issued }) =>
      Effect.gen(function*() {
        const connection = yield* Realtime.connect("acme/missing")
        const error = yield* Effect.flip(Stream.runDrain(connection.results))
        assert.strictEqual(error._tag, "TransportError")
        const [token] = yield* Ref.get(issued)
        assert.notInclude(`${error.message} ${JSON.stringify(error)}`, token)
      })
    ))

  it.effect("a malformed app id fails before anything is fetched", () =>
    run(({ issued }) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Realtime.connect("no-slash"))
        assert.strictEqual(error._tag, "InvalidModelId")
        assert.deepStrictEqual(yield* Ref.get(issued), [])
      })
    ))
})
