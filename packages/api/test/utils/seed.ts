/**
 * Real requests on the emulator, for the history and purge tests: each a synchronous run (the
 * platform records a job, stores its payloads and answers at once), optionally of `fal-ai/image`
 * with an uploaded CDN input file and two output files.
 */
import { Fal, Queue } from "@effect-fal/api"
import { FalPlatform } from "@effect-fal/testing"
import { Effect } from "effect"

const idOf = (result: Fal.Result<unknown>) =>
  result.requestId === undefined
    ? Effect.dieMessage("the run answered no request id")
    : Effect.succeed(result.requestId)

export interface Seeded {
  readonly requestId: string
  /** CDN input files the request used (uploaded before it, kept by a purge). */
  readonly inputFiles: ReadonlyArray<string>
}

/** `count` runs of `fal-ai/echo`, `concurrency` at once; `storeIO: false` sends `X-Fal-Store-IO: 0`. */
export const echo = (count: number, concurrency = 16, options: { readonly storeIO?: boolean } = {}) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i),
    (i) =>
      Fal.run("fal-ai/echo", { i }, options.storeIO === false ? { options: { storeIO: false } } : {}).pipe(
        Effect.flatMap(idOf),
        Effect.map((requestId): Seeded => ({ requestId, inputFiles: [] }))
      ),
    { concurrency }
  )

/**
 * `count` runs of `fal-ai/image`, each with its own uploaded input file (`image_url`) and two
 * output files written by the model.
 */
export const images = (count: number, concurrency = 16) =>
  Effect.gen(function*() {
    const platform = yield* FalPlatform.FalPlatform
    return yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) =>
        Effect.gen(function*() {
          const input = yield* platform.uploadFile({
            fileName: `input-${i}.png`,
            contentType: "image/png",
            content: `input ${i}`
          })
          const result = yield* Fal.run("fal-ai/image", { prompt: `p${i}`, num_images: 2, image_url: input })
          return { requestId: yield* idOf(result), inputFiles: [input] } satisfies Seeded
        }),
      { concurrency }
    )
  })

/** A run of `fal-ai/validate` the model refuses: it ends `422` (a `user_error`). */
export const userError = Effect.flip(Fal.run("fal-ai/validate", { prompt: "", steps: 0 }, { retry: false }))

/** A `fal-ai/slow` request cancelled while it runs: it ends `499`. Returns its id. */
export const cancelled = Effect.gen(function*() {
  const platform = yield* FalPlatform.FalPlatform
  const submitted = yield* Queue.submit("fal-ai/slow", { seconds: 60 })
  yield* platform.awaitStatus(submitted.requestId, "IN_PROGRESS")
  yield* Queue.cancel(submitted)
  yield* platform.awaitStatus(submitted.requestId)
  return submitted.requestId
})
