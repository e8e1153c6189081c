// The code shown in docs/retention.md, type-checked by tsc.
import { Fal, FalClient, Payloads, Purge, Requests } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, Stream } from "effect"

// --- Prevention: store nothing, expire outputs -----------------------------------------------

export const prevention = Fal.run("fal-ai/flux/dev", { prompt: "a lighthouse at dusk" }, {
  options: RequestOptions.make({ storeIO: false, objectLifecycle: "1 day" })
})

// --- The history -----------------------------------------------------------------------------

export const lastDayErrors = Requests.list({ endpointId: "fal-ai/flux/dev", status: "error", pageSize: 100 }).pipe(
  Stream.runForEach((record) =>
    Effect.log(record.requestId, Option.getOrUndefined(record.statusCode), Option.getOrUndefined(record.duration))
  )
)

// --- The cure: purge -------------------------------------------------------------------------

export const purgeWeek = Payloads.purge({
  endpoints: ["fal-ai/flux/dev", "fal-ai/fast-sdxl"],
  olderThan: "7 days",
  concurrency: 4
}).pipe(
  Stream.runForEach((event) => {
    switch (event._tag) {
      case "Failed":
        return Effect.logWarning(`${event.requestId}: ${event.error.message}`)
      case "Summary":
        return Effect.log(
          `deleted ${event.summary.deleted}, files removed ${event.summary.filesRemoved}, failures ${event.summary.failures}`
        )
      default:
        return Effect.void
    }
  })
)

// resumable: progress goes to a JSON-lines file; run it again after an interruption
export const resumable = Effect.scoped(
  Effect.gen(function*() {
    const checkpoint = yield* Purge.file("purge.jsonl")
    return yield* Payloads.purge({ endpoints: ["fal-ai/flux/dev"], before: "2026-11-01", checkpoint }).pipe(
      Stream.runLast
    )
  })
).pipe(Effect.provide(NodeFileSystem.layer))

// FAL_ADMIN_KEY is used for listing and deleting when set
export const main = resumable.pipe(
  Effect.provide(FalClient.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici)))
)
