import { Fal, FalClient, FalError, TokenProvider } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import { FalPlatform, Fault } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Duration, Effect, Exit, Fiber, Layer, Option, Schema, Stream, TestClock } from "effect"
import { inMemory, loopback } from "./utils/emulator.js"
import * as Fake from "./utils/fake.js"
import * as Tracing from "./utils/tracing.js"

const Count = Schema.Struct({ index: Schema.Int, count: Schema.Int, done: Schema.Boolean })

const failureOf = <A>(exit: Exit.Exit<A, FalError.FalError>): FalError.FalError => {
  assert.isTrue(Exit.isFailure(exit))
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = Cause.failureOption(exit.cause)
  assert.isTrue(Option.isSome(failure), Cause.pretty(exit.cause))
  return Option.getOrThrow(failure)
}

const posts = (log: ReadonlyArray<FalPlatform.HttpLogEntry>) => log.filter((e) => e.path.endsWith("/stream"))

describe("Fal.stream on the in-memory emulator", () => {
  it.scoped("the request id and meta come with the headers; partial outputs follow on the Clock; the last is final", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const call = yield* Fal.stream("fal-ai/counter", { count: 3, delay_ms: 1000 }, { output: Count })
      const [entry] = yield* platform.httpLog
      assert.strictEqual(call.requestId, entry.id)
      assert.strictEqual(call.meta.requestId, entry.id)
      assert.isTrue(call.isEventStream)
      assert.strictEqual(entry.path, "/fal-ai/counter/stream")
      assert.strictEqual(entry.headers.accept, "text/event-stream")
      assert.strictEqual(entry.auth, "user")
      const fiber = yield* Effect.fork(Stream.runCollect(call.events))
      yield* TestClock.adjust("2 seconds")
      const events = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(events, [
        { index: 1, count: 3, done: false },
        { index: 2, count: 3, done: false },
        { index: 3, count: 3, done: true }
      ])
      assert.strictEqual((yield* platform.awaitStreamEnd(entry.id)).outcome, "completed")
    }).pipe(Effect.provide(inMemory())))

  it.effect("streamEvents gives the bare stream; a sub-path model id keeps its path before /stream", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const last = yield* Fal.streamEvents("fal-ai/counter", { count: 4, delay_ms: 0 }).pipe(Stream.runLast)
      assert.deepStrictEqual(Option.getOrThrow(last), { index: 4, count: 4, done: true })
      yield* Fal.streamEvents("acme/tts/v2", {}).pipe(Stream.runDrain, Effect.ignore)
      const paths = (yield* platform.httpLog).map((e) => e.path)
      assert.deepStrictEqual(paths, ["/fal-ai/counter/stream", "/acme/tts/v2/stream"])
    }).pipe(Effect.provide(inMemory())))

  it.effect("an output schema that does not match is a DecodeError carrying the request id", () =>
    Effect.gen(function*() {
      const error = failureOf(
        yield* Effect.exit(
          Fal.streamEvents("fal-ai/counter", { count: 2, delay_ms: 0 }, {
            output: Schema.Struct({ text: Schema.String })
          }).pipe(Stream.runDrain)
        )
      )
      assert.strictEqual(error._tag, "DecodeError")
      assert.isString(FalError.requestId(error).pipe(Option.getOrUndefined))
    }).pipe(Effect.provide(inMemory())))

  it.scoped("a binary answer: bytes as they come; events fails with a DecodeError", () =>
    Effect.gen(function*() {
      const call = yield* Fal.stream("fal-ai/audio", { chunks: 3, size: 10 })
      assert.isFalse(call.isEventStream)
      assert.strictEqual(call.contentType, "audio/mpeg")
      const bytes = Chunk.toReadonlyArray(yield* Stream.runCollect(call.bytes))
      const all = bytes.flatMap((chunk) => Array.from(chunk))
      assert.deepStrictEqual(all, [...Array(10).fill(1), ...Array(10).fill(2), ...Array(10).fill(3)])
      const other = yield* Fal.stream("fal-ai/audio", { chunks: 1 })
      assert.strictEqual(failureOf(yield* Effect.exit(Stream.runDrain(other.events)))._tag, "DecodeError")
      const viaBytes = yield* Fal.streamBytes("fal-ai/audio", { chunks: 2, size: 5 }).pipe(Stream.runCollect)
      assert.strictEqual(Chunk.reduce(viaBytes, 0, (n, c) => n + c.byteLength), 10)
    }).pipe(Effect.provide(inMemory())))

  it.effect("a stream broken mid-way fails with a typed error carrying the request id, and is never re-POSTed", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const cases = [
        { how: "error", tag: "RequestFailed" },
        { how: "bad_json", tag: "DecodeError" },
        { how: "cut", tag: "TransportError" }
      ] as const
      for (const { how, tag } of cases) {
        yield* platform.clearHttpLog
        const seen: Array<unknown> = []
        const fiber = yield* Effect.fork(Effect.exit(
          Fal.streamEvents("fal-ai/stream-fail", { after: 2, how, error_type: "runner_server_error", delay_ms: 100 })
            .pipe(Stream.runForEach((event) => Effect.sync(() => seen.push(event))))
        ))
        yield* TestClock.adjust("1 second")
        const error = failureOf(yield* Fiber.join(fiber))
        assert.strictEqual(error._tag, tag, how)
        assert.deepStrictEqual(seen, [{ index: 1 }, { index: 2 }], how)
        const log = yield* platform.httpLog
        assert.strictEqual(posts(log).length, 1, how)
        assert.strictEqual(Option.getOrUndefined(FalError.requestId(error)), log[0].id, how)
        if (error._tag === "RequestFailed") assert.strictEqual(error.errorType, "runner_server_error")
      }
    }).pipe(Effect.provide(inMemory())))

  it.effect("an error before the stream starts is an ordinary error answer, not retried", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      // runner_disconnected is transient for a run; a stream is not sent again
      const error = failureOf(
        yield* Effect.exit(
          Effect.scoped(Fal.stream("fal-ai/stream-fail", { after: 0, error_type: "runner_disconnected" }))
        )
      )
      assert.strictEqual(error._tag, "RequestFailed")
      assert.strictEqual(posts(yield* platform.httpLog).length, 1)
      // nor a reset after sending: the model may be running
      yield* platform.injectFault({ endpoint: "run", fault: Fault.reset, times: 1 })
      const reset = failureOf(yield* Effect.exit(Effect.scoped(Fal.stream("fal-ai/counter", {}))))
      assert.strictEqual(reset._tag, "TransportError")
      assert.strictEqual(posts(yield* platform.httpLog).length, 2)
      // a 429 is retried: fal refused it unread
      yield* platform.injectFault({ endpoint: "run", fault: Fault.rateLimited("1 second"), times: 1 })
      const fiber = yield* Effect.fork(Fal.streamEvents("fal-ai/counter", { count: 1 }).pipe(Stream.runCollect))
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(Chunk.size(yield* Fiber.join(fiber)), 1)
      assert.strictEqual(posts(yield* platform.httpLog).length, 4)
    }).pipe(Effect.provide(inMemory())))

  it.effect("idle timeout: 15 s without a chunk fails with a TransportError (timeout body); settable per call", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const seen: Array<unknown> = []
      const fiber = yield* Effect.fork(Effect.exit(
        Fal.streamEvents("fal-ai/counter", { count: 3, delay_ms: 20_000 }).pipe(
          Stream.runForEach((event) => Effect.sync(() => seen.push(event)))
        )
      ))
      yield* TestClock.adjust("14 seconds")
      assert.strictEqual(seen.length, 1)
      assert.isNull(fiber.unsafePoll())
      yield* TestClock.adjust("1 second")
      const error = failureOf(yield* Fiber.join(fiber))
      assert.strictEqual(error._tag, "TransportError")
      if (error._tag === "TransportError") {
        assert.strictEqual(error.timeout, "body")
        assert.strictEqual(error.requestId, (yield* platform.httpLog)[0].id)
      }
      // the emulator saw the connection go
      assert.strictEqual((yield* platform.streams)[0].outcome, "cancelled")
      // a longer limit lets the same stream finish
      const longer = yield* Effect.fork(
        Fal.streamEvents("fal-ai/counter", { count: 3, delay_ms: 20_000 }, { idleTimeout: "30 seconds" }).pipe(
          Stream.runCollect
        )
      )
      yield* TestClock.adjust("41 seconds")
      assert.strictEqual(Chunk.size(yield* Fiber.join(longer)), 3)
    }).pipe(Effect.provide(inMemory())))

  it.effect("interrupting the stream, or closing the scope unread, aborts the request: the model's stream is cancelled", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const fiber = yield* Effect.fork(
        Fal.streamEvents("fal-ai/counter", { count: 100, delay_ms: 1000 }).pipe(Stream.runDrain)
      )
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.interrupt(fiber)
      const [first] = yield* platform.streams
      const ended = yield* platform.awaitStreamEnd(first.requestId)
      assert.strictEqual(ended.outcome, "cancelled")
      yield* Effect.scoped(Fal.stream("fal-ai/counter", { count: 100, delay_ms: 1000 }))
      const [, second] = yield* platform.streams
      assert.strictEqual((yield* platform.awaitStreamEnd(second.requestId)).outcome, "cancelled")
    }).pipe(Effect.provide(inMemory())))

  it.effect("bad input is a typed error before anything is sent", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      const attempts: ReadonlyArray<readonly [string, Effect.Effect<unknown, FalError.FalError, FalClient.FalClient>]> =
        [
          ["InvalidModelId", Effect.scoped(Fal.stream("not-a-model", {}))],
          ["InvalidModelId", Effect.scoped(Fal.stream("fal-ai/../x", {}))],
          [
            "InvalidRequestOptions",
            Effect.scoped(Fal.stream("fal-ai/counter", {}, { options: RequestOptions.webhookUrl("https://x.test/h") }))
          ],
          [
            "InvalidRequestOptions",
            Effect.scoped(Fal.stream("fal-ai/counter", {}, { options: RequestOptions.make({ runnerHint: "a\nb" }) }))
          ],
          ["ValidationError", Effect.scoped(Fal.stream("fal-ai/counter", {}, { idleTimeout: Duration.zero }))],
          ["ValidationError", Effect.scoped(Fal.stream("fal-ai/counter", cyclic))]
        ]
      for (const [tag, attempt] of attempts) {
        const error = failureOf(yield* Effect.exit(attempt))
        assert.strictEqual(error._tag, tag)
      }
      assert.deepStrictEqual(yield* platform.httpLog, [])
    }).pipe(Effect.provide(inMemory())))

  it.effect("auth token: a temporary token as fal_jwt_token, no key on the wire, none in errors", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const last = yield* Fal.streamEvents("fal-ai/counter", { count: 2, delay_ms: 0 }, { auth: "token" }).pipe(
        Stream.runLast
      )
      assert.deepStrictEqual(Option.getOrThrow(last), { index: 2, count: 2, done: true })
      const log = yield* platform.httpLog
      assert.deepStrictEqual(log.map((e) => [e.path, e.auth]), [["/tokens/", "user"], [
        "/fal-ai/counter/stream",
        "token"
      ]])
      assert.isUndefined(log[1].headers.authorization)
      assert.strictEqual(log[1].query.fal_jwt_token, "<redacted>")
      assert.strictEqual((yield* platform.streams)[0].auth, "token")
    }).pipe(Effect.provide(TokenProvider.layerKey()), Effect.provide(inMemory())))

  it.effect("auth token: bad input fails before a token is asked for", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      const error = failureOf(
        yield* Effect.exit(Fal.streamEvents("fal-ai/counter", cyclic, { auth: "token" }).pipe(Stream.runDrain))
      )
      assert.strictEqual(error._tag, "ValidationError")
      assert.deepStrictEqual(yield* platform.httpLog, [])
    }).pipe(Effect.provide(TokenProvider.layerKey()), Effect.provide(inMemory())))

  it.effect("auth token: a token for another app is Forbidden, an expired one Unauthorized; the token is in no error", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const issued = yield* platform.issueToken(["fal-ai/echo"], { expirationSeconds: 60 })
      const provider = TokenProvider.make(() => Effect.succeed(issued.token))
      const run = (modelId: string) =>
        Effect.exit(
          Fal.streamEvents(modelId, { count: 1 }, { auth: "token" }).pipe(
            Stream.runDrain,
            Effect.provideService(TokenProvider.TokenProvider, provider)
          )
        )
      const wrong = yield* run("fal-ai/counter")
      assert.strictEqual(failureOf(wrong)._tag, "Forbidden")
      yield* TestClock.adjust("61 seconds")
      const expired = yield* run("fal-ai/echo")
      assert.strictEqual(failureOf(expired)._tag, "Unauthorized")
      for (const exit of [wrong, expired]) {
        if (Exit.isFailure(exit)) {
          assert.notInclude(Cause.pretty(exit.cause), issued.token)
          assert.notInclude(JSON.stringify(Cause.squash(exit.cause)), issued.token)
        }
      }
      // a token is refused by a plain run
      assert.strictEqual(yield* platform.validateToken(issued.token, "fal-ai/echo"), "expired")
    }).pipe(Effect.provide(inMemory())))
})

/** A keyless client (a browser) on the in-memory platform. */
const keyless = FalClient.layer({}).pipe(
  Layer.orDie,
  Layer.provide(FalPlatform.layerHttpClient),
  Layer.provideMerge(FalPlatform.layer())
)

describe("Fal.stream on a keyless client", () => {
  it.effect("streams with a token from the TokenProvider by default; without one, fails before sending", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const provider = TokenProvider.make((app) => Effect.map(platform.issueToken([app]), (issued) => issued.token))
      const last = yield* Fal.streamEvents("fal-ai/counter", { count: 2, delay_ms: 0 }).pipe(
        Stream.runLast,
        Effect.provideService(TokenProvider.TokenProvider, provider)
      )
      assert.deepStrictEqual(Option.getOrThrow(last), { index: 2, count: 2, done: true })
      const [entry] = yield* platform.httpLog
      assert.strictEqual(entry.auth, "token")
      assert.isUndefined(entry.headers.authorization)
      yield* platform.clearHttpLog
      const error = failureOf(yield* Effect.exit(Fal.streamEvents("fal-ai/counter", {}).pipe(Stream.runDrain)))
      assert.strictEqual(error._tag, "Unauthorized")
      assert.deepStrictEqual(yield* platform.httpLog, [])
      // other calls carry no Authorization at all
      assert.strictEqual(failureOf(yield* Effect.exit(Fal.run("fal-ai/echo", {})))._tag, "Unauthorized")
      assert.strictEqual((yield* platform.httpLog)[0].auth, "missing")
    }).pipe(Effect.provide(keyless)))
})

describe("Fal.stream tracing", () => {
  it.effect("fal.stream is a client span with the model and request id; the token is in no span", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const issued = yield* platform.issueToken(["fal-ai/counter"])
      const { spans, tracer } = yield* Tracing.recorder
      yield* Fal.streamEvents("fal-ai/counter", { count: 2, delay_ms: 0 }, { auth: "token" }).pipe(
        Stream.runDrain,
        Effect.provideService(TokenProvider.TokenProvider, TokenProvider.make(() => Effect.succeed(issued.token))),
        Effect.withTracer(tracer)
      )
      const span = spans.find((s) => s.name === "fal.stream")
      assert.isDefined(span)
      assert.strictEqual(span!.kind, "client")
      assert.strictEqual(span!.attributes.get("fal.model_id"), "fal-ai/counter")
      assert.strictEqual(span!.attributes.get("fal.request_id"), (yield* platform.streams)[0].requestId)
      assert.isTrue(spans.some((s) => s.name === "http.client POST"))
      for (const s of spans) {
        for (const [name, value] of s.attributes) assert.notInclude(String(value), issued.token, `${s.name} ${name}`)
      }
    }).pipe(Effect.provide(inMemory())))
})

describe("Fal.stream retries", () => {
  it.effect("a refused connection is sent again; a reset after sending is not", () =>
    Effect.gen(function*() {
      const sse = () =>
        new Response("data: {\"index\":1}\n\n", {
          status: 200,
          headers: { "content-type": "text/event-stream", "x-fal-request-id": "req-1" }
        })
      const refused = yield* Fake.layer((_, index) => index === 0 ? "refused" : sse())
      const fiber = yield* Effect.fork(
        Fal.streamEvents("a/b", {}).pipe(Stream.runCollect, Effect.provide(refused.layer))
      )
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(fiber)), [{ index: 1 }])
      assert.strictEqual((yield* refused.log).length, 2)
      const reset = yield* Fake.layer((_, index) => index === 0 ? "reset" : sse())
      const exit = yield* Effect.fork(Fal.streamEvents("a/b", {}).pipe(Stream.runCollect, Effect.provide(reset.layer)))
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(failureOf(yield* Fiber.await(exit))._tag, "TransportError")
      assert.strictEqual((yield* reset.log).length, 1)
      // a 503 (fal's retryable hint included) is not sent again either
      const busy = yield* Fake.layer(() => Fake.json(503, { detail: "busy" }, { "x-fal-retryable": "true" }))
      const third = yield* Effect.fork(Fal.streamEvents("a/b", {}).pipe(Stream.runCollect, Effect.provide(busy.layer)))
      yield* TestClock.adjust("5 seconds")
      assert.isTrue(Exit.isFailure(yield* Fiber.await(third)))
      assert.strictEqual((yield* busy.log).length, 1)
    }))
})

describe("Fal.stream on the loopback emulator", () => {
  it.live("streams partial outputs over HTTP; interrupting it closes the connection and cancels the model's stream", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const events = yield* Fal.streamEvents("fal-ai/counter", { count: 5, delay_ms: 1 }, { output: Count }).pipe(
        Stream.runCollect
      )
      assert.strictEqual(Chunk.size(events), 5)
      const bytes = yield* Fal.streamBytes("fal-ai/audio", { chunks: 4, size: 1000 }).pipe(Stream.runCollect)
      assert.strictEqual(Chunk.reduce(bytes, 0, (n, c) => n + c.byteLength), 4000)
      const fiber = yield* Effect.fork(
        Fal.streamEvents("fal-ai/counter", { count: 1000, delay_ms: 20 }).pipe(Stream.take(2), Stream.runDrain)
      )
      yield* Fiber.join(fiber)
      const [, , third] = yield* platform.streams
      const ended = yield* platform.awaitStreamEnd(third.requestId).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(ended.outcome, "cancelled")
      assert.isBelow(ended.chunks, 1000)
      // an error mid-stream
      const error = failureOf(
        yield* Effect.exit(Fal.streamEvents("fal-ai/stream-fail", { after: 1, how: "cut" }).pipe(Stream.runDrain))
      )
      assert.strictEqual(error._tag, "TransportError")
    }).pipe(Effect.provide(loopback())))
})
