/**
 * The status stream: Server-Sent Events, one `data:` event with the status JSON per change,
 * a `: keep-alive` comment whenever nothing was sent for 15 s (on the Clock), closed after the
 * COMPLETED event.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as Jobs from "./jobs.js"
import { type Env, now } from "./state.js"

const encoder = new TextEncoder()

export const keepAlive = ": keep-alive\n\n"

export const statusStream = (env: Env, id: string, withLogs: boolean, queueBase: string): Stream.Stream<Uint8Array> =>
  Stream.unwrapScoped(
    Effect.gen(function*() {
      const changes = yield* PubSub.subscribe(env.changes)
      const state = yield* Ref.make<
        { readonly last: string | undefined; readonly done: boolean; readonly sentAt: number }
      >({
        last: undefined,
        done: false,
        sentAt: yield* now
      })
      const interval = Duration.toMillis(env.config.keepAliveInterval)
      const next: Effect.Effect<string, Option.Option<never>> = Effect.gen(function*() {
        const { done, last, sentAt } = yield* Ref.get(state)
        if (done) return yield* Effect.fail(Option.none())
        while (true) {
          const job = yield* Jobs.get(env, id)
          if (Option.isNone(job)) return yield* Effect.fail(Option.none())
          const body = JSON.stringify(Jobs.statusBody(job.value, yield* Ref.get(env.scheduler), withLogs, queueBase))
          if (body !== last) {
            yield* Ref.set(state, { last: body, done: job.value.status === "COMPLETED", sentAt: yield* now })
            return `data: ${body}\n\n`
          }
          const quiet = (yield* now) - sentAt
          const changed = quiet >= interval ? false : yield* Queue.take(changes).pipe(
            Effect.timeoutTo({
              duration: Duration.millis(interval - quiet),
              onSuccess: () => true,
              onTimeout: () => false
            })
          )
          if (!changed) {
            yield* Ref.set(state, { last, done, sentAt: yield* now })
            return keepAlive
          }
        }
      })
      return Stream.repeatEffectOption(next).pipe(Stream.map((text) => encoder.encode(text)))
    })
  )
