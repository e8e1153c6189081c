/**
 * The platform's state: one `Ref` per concern, all owned by one platform instance, and the
 * resolved configuration. Every module of the emulator takes this `Env`.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import type * as FalPlatform from "../FalPlatform.js"
import type * as Fault from "../Fault.js"
import type * as Model from "../Model.js"
import type { Job } from "./jobs.js"

export interface Resolved {
  readonly keys: ReadonlyArray<FalPlatform.ApiKey>
  readonly maxAttempts: number
  readonly payloadRetention: Duration.Duration
  readonly defaultObjectLifecycle: Duration.Duration | "never"
  readonly keepAliveInterval: Duration.Duration
  readonly idempotencyWindow: Duration.Duration
}

export interface Ticket {
  readonly jobId: string
  readonly modelId: string
  readonly priority: "normal" | "low"
  readonly seq: number
  readonly hint: string | undefined
}

export interface Scheduler {
  readonly seq: number
  readonly waiting: ReadonlyArray<Ticket>
  /** runner id -> job id */
  readonly busy: ReadonlyMap<string, string>
}

export interface ActiveFault {
  readonly id: number
  readonly injection: Fault.Injection
  readonly remaining: number
}

export interface IdempotentAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
  readonly expiresAt: number
}

export interface Env {
  readonly config: Resolved
  readonly models: Ref.Ref<ReadonlyMap<string, Model.Model>>
  readonly jobs: Ref.Ref<ReadonlyMap<string, Job>>
  readonly scheduler: Ref.Ref<Scheduler>
  readonly payloads: Ref.Ref<ReadonlyMap<string, FalPlatform.StoredPayload>>
  /** CDN files by path. */
  readonly files: Ref.Ref<ReadonlyMap<string, FalPlatform.CdnFile>>
  readonly idempotency: Ref.Ref<ReadonlyMap<string, IdempotentAnswer>>
  readonly log: Ref.Ref<ReadonlyArray<FalPlatform.RequestLogEntry>>
  readonly faults: Ref.Ref<ReadonlyArray<ActiveFault>>
  readonly webhooks: Ref.Ref<ReadonlyArray<FalPlatform.WebhookDelivery>>
  /** Published on every change of a job (its id) and of the log (`"log"`). */
  readonly changes: PubSub.PubSub<string>
  /**
   * Forks runner, deadline and webhook fibers into the platform's scope, with the context the
   * platform was built in (its Clock), independent of the request that caused them.
   */
  readonly spawn: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<void>
  readonly webhookClient: Option.Option<HttpClient.HttpClient>
  /** The fiber running the current attempt of each in-progress request. */
  readonly running: Ref.Ref<ReadonlyMap<string, Fiber.RuntimeFiber<unknown, unknown>>>
}

export const now: Effect.Effect<number> = Clock.currentTimeMillis

export const uuid: Effect.Effect<string> = Effect.sync(() => globalThis.crypto.randomUUID())

export const publish = (env: Env, topic: string): Effect.Effect<void> =>
  Effect.asVoid(PubSub.publish(env.changes, topic))

export const setIn = <K, V>(ref: Ref.Ref<ReadonlyMap<K, V>>, key: K, value: V): Effect.Effect<void> =>
  Ref.update(ref, (map) => new Map(map).set(key, value))

export const deleteIn = <K, V>(ref: Ref.Ref<ReadonlyMap<K, V>>, key: K): Effect.Effect<void> =>
  Ref.update(ref, (map) => {
    if (!map.has(key)) return map
    const next = new Map(map)
    next.delete(key)
    return next
  })

/**
 * Waits until `check` yields a value, re-checking after every published change. The
 * subscription is taken before the first check, so no change is missed.
 */
export const waitUntil = <A>(env: Env, check: Effect.Effect<Option.Option<A>>): Effect.Effect<A> =>
  Effect.scoped(
    Effect.gen(function*() {
      const subscription: Queue.Dequeue<string> = yield* PubSub.subscribe(env.changes)
      while (true) {
        const found = yield* check
        if (found._tag === "Some") return found.value
        yield* Queue.take(subscription)
      }
    })
  )

export type PlatformScope = Scope.Scope
