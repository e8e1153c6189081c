import { Fal, Payloads, Queue } from "@effect-fal/api"
import { assert, describe, it } from "@effect/vitest"
import type { Tracer } from "effect"
import { Effect, Stream } from "effect"
import * as Emulator from "./utils/emulator.js"
import * as Tracing from "./utils/tracing.js"

/** Runs `effect` with a tracer that records every span the native tracer makes. */
const recording = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const { spans, tracer } = yield* Tracing.recorder
    const value = yield* Effect.withTracer(effect, tracer)
    return { value, spans }
  })

const named = (spans: ReadonlyArray<Tracer.Span>, name: string) => {
  const span = spans.find((s) => s.name === name)
  assert.isDefined(span, `no span ${name} among ${spans.map((s) => s.name).join(", ")}`)
  return span!
}

describe("tracing", () => {
  it.effect("each operation is a client span with the model id, request id and billable units", () =>
    Effect.gen(function*() {
      const { spans, value } = yield* recording(Fal.run("fal-ai/echo", { prompt: "a fox" }))
      const run = named(spans, "fal.run")
      assert.strictEqual(run.kind, "client")
      assert.strictEqual(run.attributes.get("fal.model_id"), "fal-ai/echo")
      assert.strictEqual(run.attributes.get("fal.request_id"), value.requestId)
      assert.strictEqual(run.attributes.get("fal.billable_units"), 1)
      // the HTTP call is a child of the operation's span
      const http = spans.find((s) => s.name.startsWith("http.client"))
      assert.isDefined(http)
      assert.isTrue(http!.parent._tag === "Some" && http!.parent.value.spanId === run.spanId)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("subscribe nests submit, the status stream and result; deletion is traced too", () =>
    Effect.gen(function*() {
      const { spans, value } = yield* recording(
        Effect.flatMap(
          Queue.subscribe("fal-ai/image", { prompt: "a fox" }),
          (result) => Effect.as(Payloads.delete(result.requestId), result)
        )
      )
      const subscribe = named(spans, "fal.subscribe")
      assert.strictEqual(subscribe.attributes.get("fal.request_id"), value.requestId)
      for (const name of ["fal.submit", "fal.statusStream", "fal.result"]) {
        const child = named(spans, name)
        assert.isTrue(child.parent._tag === "Some" && child.parent.value.spanId === subscribe.spanId, name)
      }
      assert.strictEqual(named(spans, "fal.delete").attributes.get("fal.request_id"), value.requestId)
    }).pipe(Effect.provide(Emulator.inMemory({ adminKey: true }))))

  it.effect("a status stream is one span over its whole life", () =>
    Effect.gen(function*() {
      const submitted = yield* Queue.submit("fal-ai/echo", {})
      const { spans } = yield* recording(Stream.runDrain(Queue.statusStream(submitted)))
      assert.strictEqual(spans.filter((s) => s.name === "fal.statusStream").length, 1)
      assert.strictEqual(named(spans, "fal.statusStream").attributes.get("fal.request_id"), submitted.requestId)
    }).pipe(Effect.provide(Emulator.inMemory())))
})
