import { Fal, FalClient, FalError, Payloads, Queue } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import {
  Cause,
  Duration,
  Effect,
  Exit,
  Fiber,
  Inspectable,
  Layer,
  Option,
  Redacted,
  Ref,
  TestClock,
  Tracer
} from "effect"
import * as Fake from "./utils/fake.js"

const ID = "0b6b7d3e-4a8f-4c55-9e1a-2f3b4c5d6e7f"

const failure = <A>(exit: Exit.Exit<A, unknown>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/** Forks `effect` on a fake transport, moves the clock, returns the exit and the request log. */
const run = <A, E>(
  handler: Fake.Handler,
  effect: Effect.Effect<A, E, FalClient.FalClient>,
  advance: Duration.DurationInput = "30 minutes"
) =>
  Effect.gen(function*() {
    const fake = yield* Fake.layer(handler)
    const fiber = yield* Effect.fork(Effect.provide(effect, fake.layer))
    yield* TestClock.adjust(advance)
    const exit = yield* Fiber.await(fiber)
    return { exit, error: failure(exit), log: yield* Ref.get(fake.log) }
  })

/** A body that sends `head` and then nothing, never closing. */
const stalled = (head: string) =>
  new Response(
    new ReadableStream<Uint8Array>({
      start: (controller) => controller.enqueue(new TextEncoder().encode(head))
    }),
    { status: 200, headers: { "content-type": "application/json" } }
  )

const isTag = <T extends string>(u: unknown, tag: T): u is { readonly _tag: T } =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === tag

describe("timeouts", () => {
  it.effect("a server that never answers: a run ends with a headers timeout that may have reached fal, not retried", () =>
    Effect.gen(function*() {
      const { error, log } = yield* run(() => Effect.never, Fal.run("a/b", {}, { timeouts: { headers: "5 seconds" } }))
      assert.isTrue(error instanceof FalError.TransportError)
      const e = error as FalError.TransportError
      assert.strictEqual(e.timeout, "headers")
      assert.isTrue(e.mayHaveReached)
      assert.strictEqual(log.length, 1)
    }))

  it.effect("the sync run's default allows long model runs: still waiting after 10 minutes, ends at 15", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Effect.never)
      const fiber = yield* Effect.fork(Effect.provide(Fal.run("a/b", {}), fake.layer))
      yield* TestClock.adjust("10 minutes")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("5 minutes")
      const exit = yield* Fiber.await(fiber)
      assert.strictEqual((failure(exit) as FalError.TransportError).timeout, "headers")
    }))

  it.effect("a status read that never answers times out after 30 s by default and is retried", () =>
    Effect.gen(function*() {
      const { error, log } = yield* run(
        () => Effect.never,
        Queue.status({ modelId: "a/b", requestId: "00000000-0000-4000-8000-000000000001" })
      )
      assert.strictEqual((error as FalError.TransportError).timeout, "headers")
      assert.strictEqual(log.length, 6) // 1 + 5 retries
    }))

  it.effect("a body that stalls halfway ends with a body timeout; the client-wide setting applies", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make(() => stalled("{\"images\": ["))
      const layer = FalClient.layer({ key: Fake.redactedKey, timeouts: { run: { body: "2 seconds" } } }).pipe(
        Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client))
      )
      const fiber = yield* Effect.fork(Effect.provide(Fal.run("a/b", {}), layer))
      yield* TestClock.adjust("3 seconds")
      const error = failure(yield* Fiber.await(fiber)) as FalError.TransportError
      assert.strictEqual(error._tag, "TransportError")
      assert.strictEqual(error.timeout, "body")
      assert.isTrue(error.mayHaveReached)
    }))

  it.effect("a deadline bounds the whole call, retries included, and carries the request id", () =>
    Effect.gen(function*() {
      const { error, log } = yield* run(
        () => Fake.json(503, {}),
        Payloads.delete(ID, { deadline: "1 second" }),
        "10 seconds"
      )
      assert.isTrue(error instanceof FalError.DeadlineExceeded)
      const e = error as FalError.DeadlineExceeded
      assert.strictEqual(e.requestId, ID)
      assert.isTrue(Duration.equals(e.deadline, Duration.seconds(1)))
      assert.isTrue(log.length >= 2 && log.length < 4)
      const ran = yield* run(() => Effect.never, Fal.run("a/b", {}, { deadline: "3 seconds" }), "5 seconds")
      assert.isTrue(isTag(ran.error, "DeadlineExceeded"))
    }))
})

describe("fal's retry hints", () => {
  const cases = [
    {
      name: "503 with X-Fal-Retryable: false is not retried",
      status: 503,
      headers: { "x-fal-retryable": "false" },
      attempts: 1
    },
    {
      name: "500 with X-Fal-Needs-Retry: 1 is retried",
      status: 500,
      headers: { "x-fal-needs-retry": "1" },
      attempts: 4
    },
    {
      name: "500 with X-Fal-Retryable: true is retried",
      status: 500,
      headers: { "x-fal-retryable": "true" },
      attempts: 4
    },
    {
      name: "502 with an unknown error_type is retried",
      status: 502,
      headers: { "x-fal-error-type": "brand_new_hiccup" },
      attempts: 4
    },
    {
      name: "504 user start timeout is not retried",
      status: 504,
      headers: { "x-fal-request-timeout-type": "user" },
      attempts: 1
    }
  ]
  for (const c of cases) {
    it.effect(c.name, () =>
      Effect.gen(function*() {
        const { log } = yield* run(() => Fake.json(c.status, {}, c.headers), Fal.run("a/b", {}))
        assert.strictEqual(log.length, c.attempts)
      }))
  }

  it.effect("Retry-After is honoured on a 503", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((_, i) =>
        i === 0 ? Fake.json(503, {}, { "retry-after": "20" }) : Fake.json(200, { ok: true })
      )
      const fiber = yield* Effect.fork(Effect.provide(Fal.run("a/b", {}), fake.layer))
      yield* TestClock.adjust("19 seconds")
      assert.strictEqual((yield* Ref.get(fake.log)).length, 1)
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(result.data, { ok: true })
    }))

  it.effect("a GET whose body is truncated is a transport failure, retried", () =>
    Effect.gen(function*() {
      const status = yield* run(
        (_, i) =>
          i === 0
            ? new Response("{\"status\": \"COMPL", { status: 200 })
            : Fake.json(200, { status: "COMPLETED", request_id: "00000000-0000-4000-8000-000000000001" }),
        Queue.status({ modelId: "a/b", requestId: "00000000-0000-4000-8000-000000000001" })
      )
      assert.isTrue(Exit.isSuccess(status.exit))
      assert.strictEqual(status.log.length, 2)
      const result = yield* run(
        (_, i) => (i === 0 ? new Response("not json", { status: 200 }) : Fake.json(200, { ok: 1 })),
        Queue.result({ modelId: "a/b", requestId: "00000000-0000-4000-8000-000000000001" })
      )
      assert.isTrue(Exit.isSuccess(result.exit))
      // a run's unreadable answer is still a final DecodeError (a second run is a second job)
      const ran = yield* run(() => new Response("not json", { status: 200 }), Fal.run("a/b", {}))
      assert.isTrue(isTag(ran.error, "DecodeError"))
      assert.strictEqual(ran.log.length, 1)
    }))
})

describe("retry budget", () => {
  it.effect("retries spend the client's tokens; an empty bucket stops retrying; successes refill", () =>
    Effect.gen(function*() {
      const answer = yield* Ref.make<"fail" | "ok">("fail")
      const fake = yield* Fake.make(() =>
        Effect.map(Ref.get(answer), (a) => (a === "fail" ? Fake.json(503, {}) : Fake.json(200, {})))
      )
      const layer = FalClient.layer({
        key: Fake.redactedKey,
        retryBudget: { capacity: 10, retryCost: 5, successRefill: 5 }
      }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)))
      const call = (effect: Effect.Effect<unknown, FalError.FalError, FalClient.FalClient>) =>
        Effect.gen(function*() {
          const before = (yield* Ref.get(fake.log)).length
          const fiber = yield* Effect.fork(effect)
          yield* TestClock.adjust("10 minutes")
          yield* Fiber.await(fiber)
          return (yield* Ref.get(fake.log)).length - before
        })
      yield* Effect.gen(function*() {
        assert.strictEqual(yield* call(Fal.run("a/b", {})), 3) // two retries: 10 tokens
        assert.strictEqual(yield* call(Fal.run("a/b", {})), 1) // the bucket is empty
        yield* Ref.set(answer, "ok")
        assert.strictEqual(yield* call(Fal.run("a/b", {})), 1) // success refills 5
        yield* Ref.set(answer, "fail")
        assert.strictEqual(yield* call(Fal.run("a/b", {})), 2) // one retry paid
      }).pipe(Effect.provide(layer))
    }))

  it.effect("on by default; retryBudget: false turns it off", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make(() => Fake.json(200, {}))
      const transport = Layer.succeed(HttpClient.HttpClient, fake.client)
      const on = yield* Effect.provide(
        FalClient.FalClient,
        FalClient.layer({ key: Fake.redactedKey }).pipe(Layer.provide(transport))
      )
      assert.strictEqual(Option.map(on.retryBudget, (b) => b.available()).pipe(Option.getOrUndefined), 500)
      const off = yield* Effect.provide(
        FalClient.FalClient,
        FalClient.layer({ key: Fake.redactedKey, retryBudget: false }).pipe(Layer.provide(transport))
      )
      assert.isTrue(Option.isNone(off.retryBudget))
    }))
})

describe("errors carry what fal said", () => {
  it.effect("queue parameters on a run are rejected before sending", () =>
    Effect.gen(function*() {
      for (
        const options of [
          RequestOptions.make({ webhookUrl: "https://example.com/hook" }),
          RequestOptions.make({ maxQueueLength: 3 })
        ]
      ) {
        const { error, log } = yield* run(() => Fake.json(200, {}), Fal.run("a/b", {}, { options }))
        assert.isTrue(isTag(error, "InvalidRequestOptions"))
        assert.strictEqual(log.length, 0)
      }
    }))

  it.effect("an error from an HTTP answer carries the decoded ResponseMeta", () =>
    Effect.gen(function*() {
      const { error } = yield* run(
        () =>
          Fake.json(400, { detail: "no" }, {
            "x-fal-request-id": "00000000-0000-4000-8000-000000000009",
            "x-fal-billable-units": "2",
            "x-fal-runner-hints": "h1",
            "x-fal-retryable": "false",
            "x-fal-served-from": "runner-7"
          }),
        Fal.run("a/b", {})
      )
      const meta = (error as FalError.RequestFailed).meta
      assert.deepStrictEqual(meta, {
        requestId: "00000000-0000-4000-8000-000000000009",
        billableUnits: 2,
        runnerHints: ["h1"],
        retryable: false,
        servedFrom: "runner-7"
      })
    }))

  it.effect("a Platform API not_implemented is a ServerError", () =>
    Effect.gen(function*() {
      const { error } = yield* run(
        () => Fake.json(501, { error: { type: "not_implemented", message: "later" } }),
        Payloads.delete(ID, { retry: false })
      )
      assert.isTrue(isTag(error, "ServerError"))
    }))
})

describe("secrets and configuration", () => {
  const withKey = (key: string, handler: Fake.Handler) =>
    Effect.gen(function*() {
      const fake = yield* Fake.make(handler)
      return FalClient.layer({ key: Redacted.make(key) }).pipe(
        Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client))
      )
    })

  it.effect("a 1-character key does not corrupt the parsing of an error body", () =>
    Effect.gen(function*() {
      const layer = yield* withKey("t", () =>
        Fake.json(422, { detail: [{ loc: ["body", "prompt"], msg: "bad", type: "x" }] }))
      const error = yield* Effect.flip(Effect.provide(Fal.run("a/b", {}), layer))
      assert.strictEqual(error._tag, "ValidationError")
      if (error._tag === "ValidationError") {
        assert.deepStrictEqual(error.issues[0]!.loc, ["body", "prompt"])
      }
    }))

  it.effect("the key, its secret half and `Key <key>` are redacted from every quoted server text", () =>
    Effect.gen(function*() {
      const secret = "fake-key-secret-0123456789"
      const answers: ReadonlyArray<Fake.Handler> = [
        () => Fake.json(401, { detail: `unknown secret ${secret}` }),
        () => new Response(`oops Key ${Fake.KEY}`, { status: 200 }),
        () => Fake.json(200, { request_id: { echo: Fake.KEY } })
      ]
      for (const handler of answers) {
        const { exit } = yield* run(handler, Queue.submit("a/b", {}, { retry: false }))
        const text = [Cause.pretty((exit as Exit.Failure<unknown, unknown>).cause), JSON.stringify(failure(exit))]
          .join()
        assert.include(text, "<redacted>")
        assert.notInclude(text, secret)
      }
    }))

  it.effect("http.client span exits carry no key, for a tracer that stringifies everything", () =>
    Effect.gen(function*() {
      const recorded: Array<string> = []
      const native = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (...args) => {
          const span = native.span(...args)
          const end = span.end.bind(span)
          return Object.assign(span, {
            end: (time: bigint, exit: Exit.Exit<unknown, unknown>) => {
              recorded.push(span.name, Inspectable.toStringUnknown(exit), JSON.stringify(exit), String(exit))
              recorded.push(JSON.stringify([...span.attributes]))
              end(time, exit)
            }
          })
        },
        context: native.context
      })
      const { exit } = yield* run(() => Fake.json(200, { ok: true }), Effect.withTracer(Fal.run("a/b", {}), tracer))
      assert.isTrue(Exit.isSuccess(exit))
      assert.isTrue(recorded.some((text) => text.startsWith("http.client")))
      for (const text of recorded) assert.notInclude(text, "fake-key-secret")
    }))

  it.effect("a key with CR/LF and an invalid base URL are configuration errors when the client is built", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make(() => Fake.json(200, {}))
      const build = (options: FalClient.Options) =>
        Effect.flip(
          Effect.provide(
            FalClient.FalClient,
            FalClient.layer(options).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)))
          )
        )
      const crlf = yield* build({ key: Redacted.make("id:secret\r\nX-Evil: 1") })
      assert.strictEqual(crlf._tag, "InvalidConfiguration")
      assert.strictEqual(crlf.option, "key")
      assert.notInclude(crlf.message, "secret")
      const url = yield* build({ key: Fake.redactedKey, urls: { queue: "not a url" } })
      assert.strictEqual(url._tag, "InvalidConfiguration")
      assert.strictEqual(url.option, "urls.queue")
      assert.strictEqual((yield* Ref.get(fake.log)).length, 0)
    }))
})

describe("isFalUrl", () => {
  it.effect("the string fast path agrees with URL parsing on tricky URLs", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.make(() => Fake.json(200, {}))
      const service = yield* Effect.provide(
        FalClient.FalClient,
        FalClient.layer({ key: Fake.redactedKey, urls: { api: "https://api.fal.ai/v1" } }).pipe(
          Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client))
        )
      )
      const yes = [
        "https://fal.run/a/b",
        "https://queue.fal.run/a/b/requests/x/status?logs=1",
        "https://api.fal.ai/v1/models"
      ]
      const no = [
        "https://fal.run.evil.com/a",
        "https://fal.run@evil.com/a",
        "https://api.fal.ai/v1/../v2/x",
        "https://api.fal.ai/v1/%2e%2e/v2/x",
        "https://api.fal.ai/v2/x",
        "http://fal.run/a/b",
        "https://evil.com/https://fal.run/a"
      ]
      for (const url of yes) assert.isTrue(service.isFalUrl(url), url)
      for (const url of no) assert.isFalse(service.isFalUrl(url), url)
    }))
})
