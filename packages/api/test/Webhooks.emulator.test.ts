/**
 * Webhooks end to end on the loopback emulator: a job submitted with `webhookUrl` is signed and
 * POSTed by the emulator to a loopback receiver built with `Webhooks.handler`, whose keys come
 * from the emulator's JWKS (`WebhookKeys.layerFromFalClient()`). Time is the TestClock (the
 * emulator's redelivery schedule and the receiver's timestamp window both read it).
 */
import { Queue, WebhookKeys, Webhooks } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import { FalPlatform } from "@effect-fal/testing"
import { HttpClient, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import type { Headers } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Clock, Effect, Layer, Queue as Mailbox, Ref, Schema, TestClock } from "effect"
import { receiveFromEmulator } from "./examples/webhooks.js"
import { loopback } from "./utils/emulator.js"
import { atNow, serve } from "./utils/webhooks.js"

const Output = Schema.Struct({ prompt: Schema.String })
type Event = Webhooks.WebhookEvent<typeof Output.Type>

const jwksPath = "/.well-known/jwks.json"
const traceHeaders = (headers: Headers.Headers) =>
  Object.keys(headers).filter((name) =>
    name === "traceparent" || name === "tracestate" || name === "b3" || name.startsWith("x-b3-")
  )

/**
 * The loopback emulator (its webhook client reporting each answer it gets) with a FalClient on
 * it, and a loopback receiver: `Webhooks.handler` with the emulator's JWKS. `failures`: how many
 * runs of the user's effect fail; `lostAnswers`: how many of the receiver's answers are replaced
 * by a 500 after the handler ran (an answer lost on the way back).
 */
const setup = (options: { readonly failures?: number; readonly lostAnswers?: number } = {}) =>
  Effect.gen(function*() {
    yield* atNow
    const answers = yield* Mailbox.unbounded<number>()
    const webhookClient = HttpClient.tap(yield* HttpClient.HttpClient, (response) =>
      Mailbox.offer(answers, response.status))
    const emulator = yield* Layer.build(loopback({ config: { webhookClient } }))
    const keys = yield* Layer.build(WebhookKeys.layerFromFalClient()).pipe(Effect.provide(emulator))
    const events = yield* Mailbox.unbounded<Event>()
    const arrivals = yield* Mailbox.unbounded<Headers.Headers>()
    const failures = yield* Ref.make(options.failures ?? 0)
    const lostAnswers = yield* Ref.make(options.lostAnswers ?? 0)
    const handler = Webhooks.handler((event) =>
      Effect.gen(function*() {
        yield* Mailbox.offer(events, event)
        if (
          (yield* Ref.getAndUpdate(failures, (n) =>
            n - 1)) > 0
        ) {
          return yield* Effect.fail("the receiver's database is down")
        }
      }), { payload: Output })
    const receiver = yield* serve(
      Effect.gen(function*() {
        yield* Mailbox.offer(arrivals, (yield* HttpServerRequest.HttpServerRequest).headers)
        const response = yield* handler
        return (yield* Ref.getAndUpdate(lostAnswers, (n) => n - 1)) > 0
          ? HttpServerResponse.empty({ status: 500 })
          : response
      }).pipe(Effect.provide(keys))
    )
    const platform = yield* Effect.provide(FalPlatform.FalPlatform, emulator)
    const submit = (modelId: string, input: unknown) =>
      Queue.submit(modelId, input, { options: RequestOptions.webhookUrl(`${receiver}/fal/webhook`) }).pipe(
        Effect.withSpan("submit"),
        Effect.provide(emulator)
      )
    const jwksFetches = Effect.map(platform.httpLog, (log) => log.filter((entry) => entry.path === jwksPath).length)
    return {
      platform,
      submit,
      jwksFetches,
      nextAnswer: Mailbox.take(answers),
      nextEvent: Mailbox.take(events),
      nextArrival: Mailbox.take(arrivals),
      events: Mailbox.size(events)
    }
  })

/** Waits until the emulator's redelivery (15 s after the first try) is scheduled on the TestClock. */
const awaitRedelivery = Effect.gen(function*() {
  const at = (yield* Clock.currentTimeMillis) + 15_000
  yield* Effect.repeat(TestClock.sleeps(), { until: (sleeps) => Chunk.some(sleeps, (deadline) => deadline === at) })
})

describe("webhooks from the loopback emulator", () => {
  it.scoped("a job submitted with webhookUrl reaches Webhooks.handler verified, its payload decoded by the Schema", () =>
    Effect.gen(function*() {
      const { jwksFetches, nextAnswer, nextArrival, nextEvent, platform, submit } = yield* setup()
      const submitted = yield* submit("fal-ai/echo", { prompt: "a fox in the snow" })
      assert.deepStrictEqual(yield* nextEvent, {
        _tag: "Ok",
        requestId: submitted.requestId,
        gatewayRequestId: submitted.requestId,
        payload: { prompt: "a fox in the snow" }
      })
      assert.strictEqual(yield* nextAnswer, 200)
      assert.strictEqual(yield* jwksFetches, 1)

      // the submit carried the client's trace context; the delivery carries none
      const submitEntry = (yield* platform.httpLog).find((entry) => entry.base === "queue")
      assert.isDefined(submitEntry?.headers.traceparent)
      const arrival = yield* nextArrival
      assert.deepStrictEqual(traceHeaders(arrival), [])
      assert.strictEqual(arrival["x-fal-webhook-request-id"], submitted.requestId)
      assert.strictEqual(arrival["content-type"], "application/json")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("an ERROR delivery (a failing model) decodes to an Error event", () =>
    Effect.gen(function*() {
      const { nextAnswer, nextEvent, submit } = yield* setup()
      const submitted = yield* submit("fal-ai/fail", {
        error_type: "content_policy_violation",
        status: 422,
        detail: "the prompt was refused"
      })
      const event = yield* nextEvent
      assert.strictEqual(event._tag, "Error")
      assert.strictEqual(event.requestId, submitted.requestId)
      assert.strictEqual(event._tag === "Error" ? event.error : undefined, "Invalid status code: 422")
      assert.deepStrictEqual(event._tag === "Error" ? event.payload : undefined, {
        detail: "the prompt was refused",
        error_type: "content_policy_violation"
      })
      assert.strictEqual(yield* nextAnswer, 200)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("rotation on the emulator: the next delivery uses the new key; the receiver refetches once and verifies", () =>
    Effect.gen(function*() {
      const { jwksFetches, nextAnswer, nextEvent, platform, submit } = yield* setup()
      const before = yield* submit("fal-ai/echo", { prompt: "before" })
      assert.strictEqual((yield* nextEvent).requestId, before.requestId)
      assert.strictEqual(yield* nextAnswer, 200)
      assert.strictEqual(yield* jwksFetches, 1)

      const oldKid = yield* platform.webhookSigner.activeKid
      const newKid = yield* platform.webhookSigner.rotate()
      // past the receiver's one-minute refetch limit
      yield* TestClock.adjust("2 minutes")
      const submitted = yield* submit("fal-ai/echo", { prompt: "after" })
      const event = yield* nextEvent
      assert.deepStrictEqual([event._tag, event.requestId], ["Ok", submitted.requestId])
      assert.strictEqual(yield* nextAnswer, 200)
      assert.strictEqual(yield* jwksFetches, 2)
      assert.deepStrictEqual((yield* platform.webhookSigner.jwks).keys.map((key) => key.kid), [newKid, oldKid])

      // the old key retired: still verifies with the cached set, no refetch needed
      yield* platform.webhookSigner.retire(oldKid)
      yield* submit("fal-ai/echo", { prompt: "retired" })
      assert.strictEqual((yield* nextEvent)._tag, "Ok")
      assert.strictEqual(yield* nextAnswer, 200)
      assert.strictEqual(yield* jwksFetches, 2)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a redelivery after a failed run runs the user's effect again", () =>
    Effect.gen(function*() {
      const { events, nextAnswer, nextEvent, platform, submit } = yield* setup({ failures: 1 })
      const submitted = yield* submit("fal-ai/echo", { prompt: "retry me" })
      assert.strictEqual((yield* nextEvent).requestId, submitted.requestId)
      assert.strictEqual(yield* nextAnswer, 500)
      yield* awaitRedelivery
      yield* TestClock.adjust("15 seconds")
      assert.strictEqual((yield* nextEvent).requestId, submitted.requestId)
      assert.strictEqual(yield* nextAnswer, 200)
      assert.strictEqual(yield* events, 0)
      const tries = (yield* platform.webhooks).filter((d) => d.requestId === submitted.requestId)
      assert.deepStrictEqual(tries.map((d) => [d.attempt, d.outcome]), [[1, 500], [2, 200]])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a redelivery after a successful run (its answer lost) does not run the user's effect again", () =>
    Effect.gen(function*() {
      const { events, nextAnswer, nextEvent, platform, submit } = yield* setup({ lostAnswers: 1 })
      const submitted = yield* submit("fal-ai/echo", { prompt: "once" })
      assert.strictEqual((yield* nextEvent).requestId, submitted.requestId)
      assert.strictEqual(yield* nextAnswer, 500)
      yield* awaitRedelivery
      yield* TestClock.adjust("15 seconds")
      assert.strictEqual(yield* nextAnswer, 200)
      assert.strictEqual(yield* events, 0)
      const tries = (yield* platform.webhooks).filter((d) => d.requestId === submitted.requestId)
      assert.deepStrictEqual(tries.map((d) => [d.attempt, d.outcome]), [[1, 500], [2, 200]])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("the guide's recipe (docs/webhooks.md) receives the emulator's delivery", () =>
    Effect.gen(function*() {
      const { event, kid, submitted } = yield* receiveFromEmulator
      assert.deepStrictEqual(event, {
        _tag: "Ok",
        requestId: submitted.requestId,
        gatewayRequestId: submitted.requestId,
        payload: { prompt: "a fox" }
      })
      assert.isAbove(kid.length, 0)
    }))
})
