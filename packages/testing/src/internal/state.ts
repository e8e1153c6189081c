/**
 * The platform's state: one `Ref` per concern, all owned by one platform instance, and the
 * resolved configuration. Every module of the emulator takes this `Env`.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import type * as SortedMap from "effect/SortedMap"
import type * as SynchronizedRef from "effect/SynchronizedRef"
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
  readonly jobs: Ref.Ref<HashMap.HashMap<string, Job>>
  /** Admission (queue length check + enqueue) runs as one step on it. */
  readonly scheduler: SynchronizedRef.SynchronizedRef<Scheduler>
  readonly payloads: Ref.Ref<HashMap.HashMap<string, FalPlatform.StoredPayload>>
  /** CDN files by path. */
  readonly files: Ref.Ref<HashMap.HashMap<string, FalPlatform.CdnFile>>
  /** Replay, route and remember run as one step on it (`idempotency.ts`). */
  readonly idempotency: SynchronizedRef.SynchronizedRef<HashMap.HashMap<string, IdempotentAnswer>>
  /** Every request received, by arrival number (persistent maps: O(log n) per request, not O(n)). */
  readonly log: Ref.Ref<SortedMap.SortedMap<number, FalPlatform.HttpLogEntry>>
  readonly logSeq: Ref.Ref<number>
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
  readonly running: Ref.Ref<HashMap.HashMap<string, Fiber.RuntimeFiber<unknown, unknown>>>
}

export const now: Effect.Effect<number> = Clock.currentTimeMillis

export const uuid: Effect.Effect<string> = Effect.sync(() => globalThis.crypto.randomUUID())

export const publish = (env: Env, topic: string): Effect.Effect<void> =>
  Effect.asVoid(PubSub.publish(env.changes, topic))

export const setIn = <K, V>(ref: Ref.Ref<HashMap.HashMap<K, V>>, key: K, value: V): Effect.Effect<void> =>
  Ref.update(ref, HashMap.set(key, value))

export const deleteIn = <K, V>(ref: Ref.Ref<HashMap.HashMap<K, V>>, key: K): Effect.Effect<void> =>
  Ref.update(ref, HashMap.remove(key))

export const getIn = <K, V>(ref: Ref.Ref<HashMap.HashMap<K, V>>, key: K): Effect.Effect<V | undefined> =>
  Effect.map(Ref.get(ref), (map) => Option.getOrUndefined(HashMap.get(map, key)))

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
