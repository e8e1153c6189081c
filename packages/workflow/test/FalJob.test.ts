import { Queue } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import { FalJob } from "@effect-fal/workflow"
import * as RateLimiter from "@effect/experimental/RateLimiter"
import { FetchHttpClient, HttpClient, HttpClientError } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Workflow, WorkflowEngine } from "@effect/workflow"
import type { Duration } from "effect"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Schedule, Schema } from "effect"
import * as Harness from "./utils/harness.js"

const Image = Schema.Struct({ image: Schema.Struct({ url: Schema.String }) })

const Pipeline = Workflow.make({
  name: "Pipeline",
  payload: { id: Schema.String, name: Schema.String, prompt: Schema.String },
  success: Schema.String,
  error: FalJob.FalErrorSchema,
  idempotencyKey: ({ id }) => id
})

const PipelineLive = Pipeline.toLayer(({ name, prompt }) =>
  Effect.gen(function*() {
    const uploaded = yield* FalJob.run({
      name: "upload",
      modelId: "test/upload",
      input: { name },
      output: Schema.Struct({ url: Schema.String })
    })
    const generated = yield* FalJob.run({
      name: "generate",
      modelId: "test/generate",
      input: { image_url: uploaded.data.url, prompt },
      output: Image
    })
    const upscaled = yield* FalJob.run({
      name: "upscale",
      modelId: "test/upscale",
      input: { image_url: generated.data.image.url, scale: 2 },
      output: Image
    })
    return upscaled.data.image.url
  })
)

const Refused = Workflow.make({
  name: "Refused",
  payload: { id: Schema.String },
  success: Schema.String,
  error: FalJob.FalErrorSchema,
  idempotencyKey: ({ id }) => id
})

const RefusedLive = Refused.toLayer(() =>
  Effect.map(
    FalJob.run({ name: "refuse", modelId: "test/refuse", input: { prompt: "x" }, output: Schema.Unknown }),
    () => "unreachable"
  )
)

/** The engine with the workflows registered, and the webhook handler served on it. */
const setup = (options: { readonly webhooks: boolean; readonly pollInterval?: Duration.DurationInput }) =>
  Effect.gen(function*() {
    const engine = yield* Layer.build(WorkflowEngine.layerMemory)
    const webhookUrl = options.webhooks ? yield* Harness.serveWebhooks(engine) : undefined
    const config = FalJob.layerConfig({ webhookUrl, pollInterval: options.pollInterval ?? "20 millis" })
    yield* Layer.build(
      Layer.mergeAll(PipelineLive, RefusedLive).pipe(Layer.provide(Layer.merge(Layer.succeedContext(engine), config)))
    )
    return Layer.succeedContext(engine)
  })

describe("FalJob on the memory engine", () => {
  it.live("three chained jobs complete, by webhook, one submit each", () =>
    Effect.gen(function*() {
      const layer = yield* setup({ webhooks: true, pollInterval: "1 hour" })
      const url = yield* Pipeline.execute({ id: "a", name: "cat.png", prompt: "a cat" }).pipe(Effect.provide(layer))
      assert.strictEqual(url, "https://v3.fal.media/files/cat.png?prompt=a%20cat&x2")
      for (const model of ["test/upload", "test/generate", "test/upscale"]) {
        const seen = yield* Harness.submits(model)
        assert.strictEqual(seen.length, 1, model)
        // The step's webhook URL carries its token, and the key is the execution's.
        const options = Option.getOrThrow(
          Option.fromNullable(seen[0]!.options.pipe((e) => e._tag === "Right" ? e.right : undefined))
        )
        assert.include(options.webhookUrl ?? "", `${FalJob.tokenParameter}=`)
        assert.isString(options.idempotencyKey)
      }
      // Completed by the webhook: the poll (an hour apart) never asked for a status.
      const platform = yield* FalPlatform.FalPlatform
      const statuses = (yield* platform.httpLog).filter((entry) => entry.path.endsWith("/status"))
      assert.strictEqual(statuses.length, 0)
    }).pipe(Effect.provide(Harness.emulator()), Effect.scoped), 30_000)

  it.live("without a webhook the poll completes the job", () =>
    Effect.gen(function*() {
      const layer = yield* setup({ webhooks: false })
      const url = yield* Pipeline.execute({ id: "b", name: "dog.png", prompt: "a dog" }).pipe(Effect.provide(layer))
      assert.strictEqual(url, "https://v3.fal.media/files/dog.png?prompt=a%20dog&x2")
      const platform = yield* FalPlatform.FalPlatform
      const statuses = (yield* platform.httpLog).filter((entry) => entry.path.endsWith("/status"))
      assert.isAtLeast(statuses.length, 3)
    }).pipe(Effect.provide(Harness.emulator()), Effect.scoped), 30_000)

  it.live("a fal failure crosses the workflow boundary as its tagged error", () =>
    Effect.gen(function*() {
      const layer = yield* setup({ webhooks: true })
      const exit = yield* Refused.execute({ id: "c" }).pipe(Effect.provide(layer), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(Refused.execute({ id: "c" }).pipe(Effect.provide(layer)))
      assert.strictEqual(error._tag, "ValidationError")
      assert.isTrue(Schema.is(FalJob.FalErrorSchema)(error))
    }).pipe(Effect.provide(Harness.emulator()), Effect.scoped), 30_000)

  it.live("interrupting the workflow cancels the request upstream", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      return yield* Effect.gen(function*() {
        const layer = yield* setup({ webhooks: true, pollInterval: "1 hour" })
        const platform = yield* FalPlatform.FalPlatform
        yield* Pipeline.execute({ id: "d", name: "owl.png", prompt: "an owl" }, { discard: true }).pipe(
          Effect.provide(layer)
        )
        // The generation is running (held by the gate): interrupt the workflow.
        yield* platform.awaitHttpLog((entry) => entry.method === "POST" && entry.path === "/test/generate")
        const executionId = yield* Pipeline.executionId({ id: "d", name: "owl.png", prompt: "an owl" })
        yield* Pipeline.interrupt(executionId).pipe(Effect.provide(layer))
        const cancel = yield* platform.awaitHttpLog((entry) => entry.method === "PUT" && entry.path.endsWith("/cancel"))
        assert.include(cancel.path, "test/generate")
        yield* Deferred.succeed(gate, undefined)
      }).pipe(Effect.provide(Harness.emulator({ gate })))
    }).pipe(Effect.scoped), 30_000)
})

describe("a lost webhook", () => {
  it.live("the poll fallback completes the jobs whose deliveries were dropped", () =>
    Effect.gen(function*() {
      // The platform's webhook client drops every delivery of the generation step (as a network
      // that loses them would) and delivers the others.
      const dropped: Array<string> = []
      const webhookClient = yield* HttpClient.HttpClient
      const lossy = HttpClient.make((request) => {
        if (decodesToStep(request.url, "generate")) {
          dropped.push(request.url)
          return Effect.fail(
            new HttpClientError.RequestError({ request, reason: "Transport", description: "dropped by the test" })
          )
        }
        return webhookClient.execute(request)
      })
      return yield* Effect.gen(function*() {
        const layer = yield* setup({ webhooks: true, pollInterval: "100 millis" })
        const url = yield* Pipeline.execute({ id: "lost", name: "fox.png", prompt: "a fox" }).pipe(
          Effect.provide(layer)
        )
        assert.strictEqual(url, "https://v3.fal.media/files/fox.png?prompt=a%20fox&x2")
        assert.isAbove(dropped.length, 0, "the generation's delivery was dropped")
        const platform = yield* FalPlatform.FalPlatform
        const log = yield* platform.httpLog
        // The generation was completed by polling its status; one submit per step all the same.
        assert.isTrue(
          log.some((entry) => entry.path.startsWith("/test/generate/requests/") && entry.path.endsWith("/status"))
        )
        for (const model of ["test/upload", "test/generate", "test/upscale"]) {
          assert.strictEqual((yield* Harness.submits(model)).length, 1, model)
        }
      }).pipe(
        Effect.provide(
          FalEmulator.layerClient({ config: { models: Harness.models(), demoModels: false, webhookClient: lossy } })
        )
      )
    }).pipe(Effect.provide(FetchHttpClient.layer), Effect.scoped), 30_000)
})

/** Whether a webhook URL's token names the given step. */
const decodesToStep = (url: string, step: string): boolean => {
  const token = new URL(url).searchParams.get(FalJob.tokenParameter) ?? ""
  return Buffer.from(token, "base64url").toString("utf8").includes(`FalJob/${step}/`)
}

const Limited = Workflow.make({
  name: "Limited",
  payload: { id: Schema.String },
  success: Schema.String,
  error: Schema.Union(FalJob.FalErrorSchema, RateLimiter.RateLimitStoreError),
  idempotencyKey: ({ id }) => id
})

const LimitedLive = Limited.toLayer(({ id }) =>
  Effect.map(
    FalJob.runRateLimited({
      name: "upload",
      modelId: "test/upload",
      input: { name: id },
      output: Schema.Struct({ url: Schema.String }),
      rateLimit: { limit: 2, window: "1 hour" }
    }),
    (result) => result.data.url
  )
)

describe("FalJob.runRateLimited", () => {
  it.live("a third submit in the window waits on a durable clock", () =>
    Effect.gen(function*() {
      const engine = yield* Layer.build(WorkflowEngine.layerMemory)
      yield* Layer.build(
        LimitedLive.pipe(
          Layer.provide(
            Layer.mergeAll(Layer.succeedContext(engine), FalJob.layerConfig({ pollInterval: "20 millis" }))
          ),
          Layer.provide(Layer.provide(RateLimiter.layer, RateLimiter.layerStoreMemory))
        )
      )
      const layer = Layer.succeedContext(engine)
      for (const id of ["a", "b", "c"]) {
        yield* Limited.execute({ id }, { discard: true }).pipe(Effect.provide(layer))
      }
      // Two submits in the window; the third workflow suspends on the limiter's durable clock.
      const state = Effect.gen(function*() {
        const submitted = (yield* Harness.submits("test/upload")).map((entry) => JSON.parse(entry.body).name)
        const waiting = ["a", "b", "c"].filter((id) => !submitted.includes(id))
        const polls = yield* Effect.forEach(
          waiting,
          (id) => Effect.flatMap(Limited.executionId({ id }), (executionId) => Limited.poll(executionId))
        )
        return { submitted, suspended: polls.filter((result) => result?._tag === "Suspended").length }
      }).pipe(Effect.provide(layer))
      yield* Effect.repeat(state, {
        schedule: Schedule.spaced("10 millis"),
        until: ({ submitted, suspended }) => submitted.length === 2 && suspended === 1
      })
      const settled = yield* state
      assert.strictEqual(settled.submitted.length, 2)
      assert.strictEqual(settled.suspended, 1)
    }).pipe(Effect.provide(Harness.emulator()), Effect.scoped), 30_000)
})

describe("the crash window: the first of a step's requests to finish wins", () => {
  // The step's own submit is held until cancelled; any later submit of the model finishes at once
  // (two runners, so it does not queue behind the held one).
  let calls = 0
  const twice = Model.make({
    id: "test/twice",
    runners: 2,
    input: Schema.Struct({ n: Schema.Number }),
    handler: (input) => (calls++ === 0 ? Effect.never : Effect.succeed({ n: input.n }))
  })

  const Twice = Workflow.make({
    name: "Twice",
    payload: { id: Schema.String },
    success: Schema.String,
    error: FalJob.FalErrorSchema,
    idempotencyKey: ({ id }) => id
  })

  const TwiceLive = Twice.toLayer(() =>
    Effect.map(
      FalJob.run({
        name: "twice",
        modelId: "test/twice",
        input: { n: 7 },
        output: Schema.Struct({ n: Schema.Number })
      }),
      (result) => `${result.requestId} ${result.data.n}`
    )
  )

  it.live(
    "an earlier request delivered first is taken, and the recorded one is cancelled upstream",
    () =>
      Effect.gen(function*() {
        const engine = yield* Layer.build(WorkflowEngine.layerMemory)
        const webhookUrl = yield* Harness.serveWebhooks(engine)
        yield* Layer.build(
          TwiceLive.pipe(
            Layer.provide(
              Layer.merge(Layer.succeedContext(engine), FalJob.layerConfig({ webhookUrl, pollInterval: "1 hour" }))
            )
          )
        )
        const platform = yield* FalPlatform.FalPlatform
        const result = yield* Effect.fork(Twice.execute({ id: "w" }).pipe(Effect.provide(engine)))
        // The recorded submit (held by the model), then the same request as if submitted before a
        // crash: same model, input and webhook URL (the step's token).
        const recorded = yield* Harness.submits("test/twice").pipe(
          Effect.flatMap((seen) => seen.length === 1 ? Effect.succeed(seen[0]!) : Effect.fail("none yet" as const)),
          Effect.retry(Schedule.spaced("10 millis"))
        )
        const url = Option.getOrThrow(
          Option.fromNullable(recorded.options.pipe((e) => e._tag === "Right" ? e.right.webhookUrl : undefined))
        )
        assert.include(url, "fal_model=test%2Ftwice")
        const earlier = yield* Queue.submit("test/twice", { n: 7 }, { options: RequestOptions.webhookUrl(url) })
        const [requestId, n] = (yield* Fiber.join(result)).split(" ")
        assert.strictEqual(requestId, earlier.requestId)
        assert.strictEqual(n, "7")
        // The recorded request, still running, got a cancel that landed.
        const cancels = (yield* platform.httpLog).filter((entry) =>
          entry.method === "PUT" && entry.path.endsWith(`/requests/${recorded.id}/cancel`)
        )
        assert.strictEqual(cancels[0]?.status, 202)
      }).pipe(
        Effect.provide(FalEmulator.layerClient({ config: { models: [twice], demoModels: false } })),
        Effect.scoped
      ),
    30_000
  )
})
