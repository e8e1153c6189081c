/**
 * The status stream: Server-Sent Events, one `data:` event with the status JSON per change,
 * a `: keep-alive` comment after each quiet interval (15 s on the Clock), closed after the
 * COMPLETED event.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as Jobs from "./jobs.js"
import type { Env } from "./state.js"

const encoder = new TextEncoder()

export const keepAlive = ": keep-alive\n\n"

export const statusStream = (env: Env, id: string, withLogs: boolean, queueBase: string): Stream.Stream<Uint8Array> =>
  Stream.unwrapScoped(
    Effect.gen(function*() {
      const changes = yield* PubSub.subscribe(env.changes)
      const state = yield* Ref.make<{ readonly last: string | undefined; readonly done: boolean }>({
        last: undefined,
        done: false
      })
      const next: Effect.Effect<string, Option.Option<never>> = Effect.gen(function*() {
        const { done, last } = yield* Ref.get(state)
        if (done) return yield* Effect.fail(Option.none())
        while (true) {
          const job = yield* Jobs.get(env, id)
          if (Option.isNone(job)) return yield* Effect.fail(Option.none())
          const body = JSON.stringify(Jobs.statusBody(job.value, yield* Ref.get(env.scheduler), withLogs, queueBase))
          if (body !== last) {
            yield* Ref.set(state, { last: body, done: job.value.status === "COMPLETED" })
            return `data: ${body}\n\n`
          }
          const changed = yield* Queue.take(changes).pipe(
            Effect.timeoutTo({
              duration: env.config.keepAliveInterval,
              onSuccess: () => true,
              onTimeout: () => false
            })
          )
          if (!changed) return keepAlive
        }
      })
      return Stream.repeatEffectOption(next).pipe(Stream.map((text) => encoder.encode(text)))
    })
  )
