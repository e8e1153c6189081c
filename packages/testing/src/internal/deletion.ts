/**
 * Payload deletion, shared by the Platform API (`DELETE /models/requests/{id}/payloads`) and the
 * legacy REST route (`PUT /requests/delete_io/{id}`): the request's output files leave the CDN,
 * its stored payloads go, and its result is no longer answered.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Jobs from "./jobs.js"
import * as Queue from "./queue.js"
import * as Retention from "./retention.js"
import type { Env } from "./state.js"

export interface DeleteResult {
  readonly link: string
  readonly exception: string | null
}

export const deletePayloads = (env: Env, id: string): Effect.Effect<Option.Option<ReadonlyArray<DeleteResult>>> =>
  Effect.gen(function*() {
    const job = yield* Jobs.get(env, id)
    if (Option.isNone(job)) return Option.none()
    const results: Array<DeleteResult> = []
    for (const link of job.value.outputFiles) {
      const file = yield* Retention.file(env, link)
      if (Option.isSome(file)) {
        yield* Retention.deleteFile(env, file.value.path)
        results.push({ link, exception: null })
      } else {
        results.push({ link, exception: "File not found" })
      }
    }
    yield* Retention.deletePayload(env, id)
    yield* Queue.markPayloadsDeleted(env, id)
    return Option.some(results)
  })
