// The code shown in docs/api.md, docs/errors.md and docs/retries.md, type-checked by tsc.
import { Fal, FalClient, Payloads, Queue, Retry } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import { NodeHttpClient } from "@effect/platform-node"
import { Duration, Effect, Layer, Redacted, Schedule, Schema, Stream } from "effect"

// --- FalClient -------------------------------------------------------------------------------

// FAL_KEY (required), FAL_ADMIN_KEY, FAL_RUN_URL, FAL_QUEUE_URL, FAL_API_URL, FAL_REST_URL
export const FalLive = FalClient.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))

// or explicitly, with a transformClient hook
export const FalExplicit = FalClient.layer({
  key: Redacted.make("key-id:key-secret"),
  adminKey: Redacted.make("admin-key-id:admin-key-secret"),
  transformClient: (client) => client // e.g. HttpClient.tapRequest(...) for tracing
}).pipe(Layer.provide(NodeHttpClient.layerUndici))

// --- Fal.run ---------------------------------------------------------------------------------

const Images = Schema.Struct({
  images: Schema.Array(Schema.Struct({ url: Schema.String, content_type: Schema.optional(Schema.String) }))
})

export const runExample = Effect.gen(function*() {
  const result = yield* Fal.run("fal-ai/fast-sdxl", { prompt: "a lighthouse at dusk" }, {
    options: RequestOptions.make({ startTimeout: "30 seconds", storeIO: false, objectLifecycle: "1 day" }),
    output: Images
  })
  yield* Effect.log(`${result.requestId}: ${result.data.images.length} image(s), ${result.meta.billableUnits} units`)
})

// --- Queue -----------------------------------------------------------------------------------

export const queueExample = Effect.gen(function*() {
  const submitted = yield* Queue.submit("fal-ai/flux/dev", { prompt: "a fox" }, {
    options: RequestOptions.make({ priority: "low", maxQueueLength: 20 })
  })
  yield* Queue.statusStream(submitted).pipe(
    Stream.runForEach((status) => Effect.log(status.status, status.logs.at(-1)?.message ?? ""))
  )
  const result = yield* Queue.result(submitted, { output: Images })
  return result.data.images
})

export const subscribeExample = Queue.subscribe("fal-ai/flux/dev", { prompt: "a fox" }, {
  output: Images,
  mode: "stream", // or "poll" with pollInterval
  onEnqueue: (submitted) => Effect.log(`queued as ${submitted.requestId}`),
  onStatus: (status) => Effect.log(status.status)
}).pipe(
  Effect.timeout("5 minutes") // interruption cancels the queued request upstream
)

// resuming later, from a saved id
export const resumeExample = (requestId: string) => Queue.resume({ modelId: "fal-ai/flux/dev", requestId })

export const cancelExample = (requestId: string) =>
  Queue.cancel({ modelId: "fal-ai/flux/dev", requestId }).pipe(
    Effect.map((outcome) => outcome._tag === "CancellationRequested" ? "cancelling" : "too late: already completed"),
    Effect.catchTag("NotFound", () => Effect.succeed("no such request"))
  )

// --- Payloads --------------------------------------------------------------------------------

export const deleteExample = (requestId: string) =>
  Payloads.delete(requestId).pipe(
    Effect.tap((deletion) => Effect.log(`deleted: ${Payloads.deleted(deletion).join(", ")}`)),
    Effect.tap((deletion) => Effect.forEach(Payloads.failed(deletion), (link) => Effect.logWarning(link.link)))
  )

// --- errors ----------------------------------------------------------------------------------

export const errorsExample = Fal.run("fal-ai/fast-sdxl", { prompt: "x" }, {
  options: RequestOptions.startTimeout("10 seconds")
}).pipe(
  Effect.catchTags({
    StartTimeout: () => Effect.succeed("no runner within 10 s: try later or raise the timeout"),
    QueueFull: () => Effect.succeed("the queue is long: fail fast"),
    ValidationError: (e) => Effect.succeed(e.issues.map((i) => `${i.loc.join(".")}: ${i.msg}`).join("\n")),
    RequestFailed: (e) => Effect.succeed(`model failed: ${e.errorType ?? "unknown"} (${e.requestId})`),
    TransportError: (e) =>
      e.mayHaveReached
        ? Effect.succeed("the job may exist: check before submitting again")
        : Effect.succeed("never reached fal: safe to retry")
  })
)

// --- retries ---------------------------------------------------------------------------------

// one attempt only
export const noRetry = Fal.run("fal-ai/fast-sdxl", { prompt: "x" }, { retry: false })

// a custom schedule: up to 8 retries, 1 s apart (fal's predicate still decides what is retried)
export const patient = Queue.submit("fal-ai/flux/dev", { prompt: "x" }, {
  retry: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(8)))
})

// the default shape with other parameters
export const longer = Queue.status({ modelId: "fal-ai/flux/dev", requestId: "..." }, {
  retry: Retry.backoff({ base: "1 second", retries: 10, cap: Duration.minutes(1) })
})

// --- timeouts, deadline, retry budget (docs/retries.md) -------------------------------------

// at most 2 minutes of model time per attempt, and the whole call (retries included) within 5
export const bounded = Fal.run("fal-ai/fast-sdxl", { prompt: "x" }, {
  timeouts: { headers: "2 minutes" },
  deadline: "5 minutes"
})

// a client with a smaller retry budget and a shorter run limit
export const FalCautious = FalClient.layer({
  key: Redacted.make("key-id:key-secret"),
  retryBudget: { capacity: 100, retryCost: 5 },
  timeouts: { run: { headers: "5 minutes" } }
}).pipe(Layer.provide(NodeHttpClient.layerUndici))

// a deadline keeps the request id: resume or cancel the job later
export const deadlineKept = Payloads.delete("0b6b7d3e-4a8f-4c55-9e1a-2f3b4c5d6e7f", { deadline: "10 seconds" }).pipe(
  Effect.catchTag("DeadlineExceeded", (error) => Effect.logWarning(`gave up on ${error.requestId}`))
)

// a client that cannot work fails when it is built, as a typed error
export const checked = FalClient.layer({ key: Redacted.make("id:secret"), urls: { queue: "not a url" } }).pipe(
  Layer.catchAll((error) => Layer.die(error.message))
)
