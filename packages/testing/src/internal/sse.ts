/**
 * The status stream: Server-Sent Events, one `data:` event with the status JSON each time it
 * changes, merged with a `: keep-alive` comment every keep-alive interval (15 s by default, on the
 * Clock); it ends after the COMPLETED event. It wakes only on its own job's changes and, while
 * the job waits, on moves of its model's waiting list (its queue position), never on other
 * requests' changes.
 */
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Jobs from "./jobs.js"
import { type Env, listen, queueTopic } from "./state.js"

export const keepAlive = ": keep-alive\n\n"

export const statusStream = (env: Env, id: string, withLogs: boolean, queueBase: string): Stream.Stream<Uint8Array> =>
  Stream.unwrapScoped(
    Effect.gen(function*() {
      const own = yield* listen(env, id)
      const target = Option.map(yield* Jobs.get(env, id), (job) => job.target)
      // The waiting list matters only while the job waits: that listener has a scope of its own,
      // closed (ending its wake-ups) once the job has left the queue, so that a submit or a start
      // wakes the streams of waiting jobs only, not every open stream of the model.
      const queueScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      const queue = Option.isSome(target)
        ? [Stream.fromQueue(yield* Scope.extend(listen(env, queueTopic(target.value)), queueScope))]
        : []
      const wakeUps = Stream.mergeAll([Stream.succeed(undefined), Stream.fromQueue(own), ...queue], {
        concurrency: "unbounded"
      })
      const current = Effect.gen(function*() {
        const job = yield* Jobs.get(env, id)
        if (Option.isNone(job)) return Option.none()
        if (job.value.status !== "IN_QUEUE") yield* Scope.close(queueScope, Exit.void)
        const body = JSON.stringify(
          Jobs.statusBody(job.value, (yield* Ref.get(env.queue)).scheduler, withLogs, queueBase)
        )
        return Option.some({ body, done: job.value.status === "COMPLETED" })
      })
      const events = wakeUps.pipe(
        Stream.mapEffect(() => current),
        Stream.takeWhile(Option.isSome),
        Stream.map((found) => found.value),
        Stream.changesWith((a, b) => a.body === b.body),
        Stream.takeUntil((event) => event.done),
        Stream.map((event) => `data: ${event.body}\n\n`)
      )
      const ticks = Stream.tick(env.config.keepAliveInterval).pipe(Stream.drop(1), Stream.as(keepAlive))
      return Stream.merge(events, ticks, { haltStrategy: "left" }).pipe(Stream.encodeText)
    })
  )
