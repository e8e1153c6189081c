/**
 * Typed endpoints (from `@fal-ai/client/endpoints`, a dev dependency of this repository, and from
 * augmenting `Fal.Endpoints`) and callbacks that require services. The type-level assertions are
 * checked by `pnpm check` (`expectTypeOf`, `@ts-expect-error`); the runtime tests check that a
 * callback's services reach it.
 */
import type { FalClient, FalError } from "@effect-fal/api"
import { Fal, Queue } from "@effect-fal/api"
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import type { EndpointTypeMap } from "@fal-ai/client/endpoints"
import { Context, Effect, Ref, Schema } from "effect"
import * as Fake from "./utils/fake.js"

declare module "@effect-fal/api/Fal" {
  interface Endpoints {
    "acme/echo": { input: { readonly text: string }; output: { readonly echoed: string } }
  }
}

type FluxDev = EndpointTypeMap["fal-ai/flux/dev"]

/** Only type-checked: each call is built, never run. */
const typeLevel = () => {
  // fal's endpoint map: input checked, output inferred
  const run = Fal.run("fal-ai/flux/dev", { prompt: "a fox", num_images: 2 })
  expectTypeOf(run).toEqualTypeOf<
    Effect.Effect<Fal.Result<FluxDev["output"]>, FalError.FalError, FalClient.FalClient>
  >()
  // @ts-expect-error: `prompt` is required by fal-ai/flux/dev
  Fal.run("fal-ai/flux/dev", { num_images: 2 })
  // @ts-expect-error: `num_images` is a number
  Fal.run("fal-ai/flux/dev", { prompt: "a fox", num_images: "2" })
  // @ts-expect-error: an unknown field is rejected
  Fal.run("fal-ai/flux/dev", { prompt: "a fox", nope: 1 })

  // an output schema wins over the endpoint's output
  const Output = Schema.Struct({ images: Schema.Array(Schema.Struct({ url: Schema.String })) })
  const decoded = Fal.run("fal-ai/flux/dev", { prompt: "a fox" }, { output: Output })
  expectTypeOf(decoded).toEqualTypeOf<
    Effect.Effect<Fal.Result<typeof Output.Type>, FalError.FalError, FalClient.FalClient>
  >()

  // unknown ids stay unknown, and any input is accepted
  expectTypeOf(Fal.run("someone/unknown-model", 42)).toEqualTypeOf<
    Effect.Effect<Fal.Result<unknown>, FalError.FalError, FalClient.FalClient>
  >()
  const id: string = "fal-ai/flux/dev"
  expectTypeOf(Fal.run(id, { anything: true })).toEqualTypeOf<
    Effect.Effect<Fal.Result<unknown>, FalError.FalError, FalClient.FalClient>
  >()

  // file fields accept a URL, a Blob, a File or bytes (turned into URLs by automatic upload)
  type Kontext = Fal.Input<"fal-ai/flux-pro/kontext">
  expectTypeOf<Uint8Array>().toMatchTypeOf<Kontext["image_url"]>()
  expectTypeOf<Blob>().toMatchTypeOf<Kontext["image_url"]>()
  expectTypeOf<string>().toMatchTypeOf<Kontext["image_url"]>()

  // an augmented entry, on the queue: the id flows from submit to result
  const submitted = Queue.submit("acme/echo", { text: "hi" })
  expectTypeOf(submitted).toEqualTypeOf<
    Effect.Effect<Queue.Submitted<"acme/echo">, FalError.FalError, FalClient.FalClient>
  >()
  const result = Effect.flatMap(submitted, (s) => Queue.result(s))
  expectTypeOf(result).toEqualTypeOf<
    Effect.Effect<
      Queue.Result<{ readonly echoed: string }>,
      FalError.FalError,
      FalClient.FalClient
    >
  >()
  // @ts-expect-error: `text` is a string
  Queue.submit("acme/echo", { text: 1 })
  expectTypeOf(Queue.result({ modelId: "acme/echo", requestId: "r" })).toEqualTypeOf<
    Effect.Effect<
      Queue.Result<{ readonly echoed: string }>,
      FalError.FalError,
      FalClient.FalClient
    >
  >()
  expectTypeOf(Queue.subscribe("acme/echo", { text: "hi" })).toEqualTypeOf<
    Effect.Effect<
      Queue.Result<{ readonly echoed: string }>,
      FalError.FalError,
      FalClient.FalClient
    >
  >()
  // @ts-expect-error: `text` is required
  Queue.subscribe("acme/echo", {})

  // callbacks that need services: the call requires them
  const sub = Queue.subscribe("acme/echo", { text: "hi" }, {
    onStatus: (status) => Effect.flatMap(Audit, (audit) => audit.record(status.status)),
    onEnqueue: (s) => Effect.flatMap(Store, (store) => store.save(s.requestId))
  })
  expectTypeOf(sub).toEqualTypeOf<
    Effect.Effect<
      Queue.Result<{ readonly echoed: string }>,
      FalError.FalError,
      FalClient.FalClient | Audit | Store
    >
  >()
  const resumed = Queue.resume({ modelId: "acme/echo", requestId: "r" }, {
    onStatus: (status) => Effect.flatMap(Audit, (audit) => audit.record(status.status)),
    output: Schema.Unknown
  })
  expectTypeOf(resumed).toEqualTypeOf<
    Effect.Effect<Queue.Result<unknown>, FalError.FalError, FalClient.FalClient | Audit>
  >()
}
void typeLevel

class Audit extends Context.Tag("test/Audit")<Audit, { readonly record: (status: string) => Effect.Effect<void> }>() {}
class Store extends Context.Tag("test/Store")<Store, { readonly save: (id: string) => Effect.Effect<void> }>() {}

const Q = "https://queue.fal.run"
const submittedWire = (id: string) => ({
  request_id: id,
  status_url: `${Q}/acme/echo/requests/${id}/status`,
  response_url: `${Q}/acme/echo/requests/${id}`,
  cancel_url: `${Q}/acme/echo/requests/${id}/cancel`
})

describe("Endpoints and callbacks", () => {
  it.effect("subscribe's onStatus and onEnqueue run with the services the caller provides", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((seen) => {
        if (seen.method === "POST") return Fake.json(200, submittedWire("00000000-0000-4000-8000-0000000000e1"))
        if (seen.url.includes("/status")) return Fake.json(200, { status: "COMPLETED" })
        return Fake.json(200, { echoed: "hi" })
      })
      const statuses = yield* Ref.make<ReadonlyArray<string>>([])
      const saved = yield* Ref.make<ReadonlyArray<string>>([])
      const result = yield* Queue.subscribe("acme/echo", { text: "hi" }, {
        mode: "poll",
        onStatus: (status) => Effect.flatMap(Audit, (audit) => audit.record(status.status)),
        onEnqueue: (s) => Effect.flatMap(Store, (store) => store.save(s.requestId))
      }).pipe(
        Effect.provide(fake.layer),
        Effect.provideService(Audit, { record: (s) => Ref.update(statuses, (all) => [...all, s]) }),
        Effect.provideService(Store, { save: (id) => Ref.update(saved, (all) => [...all, id]) })
      )
      assert.strictEqual(result.data.echoed, "hi")
      assert.deepStrictEqual(yield* Ref.get(statuses), ["COMPLETED"])
      assert.deepStrictEqual(yield* Ref.get(saved), ["00000000-0000-4000-8000-0000000000e1"])
    }))

  it.effect("resume's onStatus runs with the services the caller provides", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((seen) => {
        if (seen.url.includes("/status")) return Fake.json(200, { status: "COMPLETED" })
        return Fake.json(200, { echoed: "again" })
      })
      const statuses = yield* Ref.make<ReadonlyArray<string>>([])
      const result = yield* Queue.resume({ modelId: "acme/echo", requestId: "00000000-0000-4000-8000-0000000000e2" }, {
        mode: "poll",
        onStatus: (status) => Effect.flatMap(Audit, (audit) => audit.record(`${status.requestId}:${status.status}`))
      }).pipe(
        Effect.provide(fake.layer),
        Effect.provideService(Audit, { record: (s) => Ref.update(statuses, (all) => [...all, s]) })
      )
      assert.strictEqual(result.data.echoed, "again")
      assert.deepStrictEqual(yield* Ref.get(statuses), ["00000000-0000-4000-8000-0000000000e2:COMPLETED"])
    }))
})
