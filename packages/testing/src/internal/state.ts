/**
 * The platform's state: one `Ref` per concern, all owned by one platform instance, and the
 * resolved configuration. Every module of the emulator takes this `Env`. The queue (job records,
 * scheduler and running attempts) is one `Ref` ({@link QueueState}) so that each of its
 * multi-part transitions is one pure `Ref.modify`.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Chunk from "effect/Chunk"
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
import * as SynchronizedRef from "effect/SynchronizedRef"
import type * as FalPlatform from "../FalPlatform.js"
import type * as Fault from "../Fault.js"
import type * as Model from "../Model.js"
import type { Job } from "./jobs.js"
import type * as LinkModel from "./link.js"
import type { Signing } from "./webhooks.js"

export interface Resolved {
  readonly keys: ReadonlyArray<FalPlatform.ApiKey>
  readonly maxAttempts: number
  readonly payloadRetention: Duration.Duration
  readonly defaultObjectLifecycle: Duration.Duration | "never"
  readonly keepAliveInterval: Duration.Duration
  readonly idempotencyWindow: Duration.Duration
  /** The link model, if any. */
  readonly link: LinkModel.Resolved | undefined
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

/**
 * Everything a request's lifecycle changes together: the job records, the scheduler and the fiber
 * of each running attempt. Admission (queue length check, record, enqueue, dispatch), the start
 * of an attempt and a cancel are each one `Ref.modify` of it with a pure transition
 * (`lifecycle.ts`): no lock, and nothing can interleave inside a step.
 */
export interface QueueState {
  readonly jobs: HashMap.HashMap<string, Job>
  readonly scheduler: Scheduler
  /** The fiber running the current attempt of each in-progress request. */
  readonly running: HashMap.HashMap<string, Fiber.RuntimeFiber<unknown, unknown>>
}

export interface Env {
  readonly config: Resolved
  readonly models: Ref.Ref<ReadonlyMap<string, Model.Model>>
  readonly queue: Ref.Ref<QueueState>
  readonly payloads: Ref.Ref<HashMap.HashMap<string, FalPlatform.StoredPayload>>
  /** CDN files by path. */
  readonly files: Ref.Ref<HashMap.HashMap<string, FalPlatform.CdnFile>>
  /** Replay, route and remember run as one step on it (`idempotency.ts`). */
  readonly idempotency: SynchronizedRef.SynchronizedRef<HashMap.HashMap<string, IdempotentAnswer>>
  /**
   * Every request received, by arrival number, and the next number (a persistent map: O(log n) per
   * request, not O(n)). One `Ref`: an arrival is numbered and recorded in one step.
   */
  readonly log: Ref.Ref<HttpLog>
  readonly faults: Ref.Ref<ReadonlyArray<ActiveFault>>
  /** The realtime WebSocket's events (`realtime.ts`); changes published on `"realtime"`. */
  readonly realtime: Ref.Ref<Chunk.Chunk<FalPlatform.RealtimeEvent>>
  readonly webhooks: Ref.Ref<ReadonlyArray<FalPlatform.WebhookDelivery>>
  /**
   * Change notifications by topic: a job's id (its record changed), {@link queueTopic} of a model
   * (its waiting list moved), `"log"` (the HTTP request log changed). A topic exists while someone
   * listens; a listener wakes only for its own topics.
   */
  readonly topics: SynchronizedRef.SynchronizedRef<HashMap.HashMap<string, Topic>>
  /**
   * Forks runner, deadline and webhook fibers into the platform's scope, with the context the
   * platform was built in (its Clock), independent of the request that caused them.
   */
  readonly spawn: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<void>
  readonly webhookClient: Option.Option<HttpClient.HttpClient>
  /** Temporary tokens issued, by value (`tokens.ts`). */
  readonly tokens: Ref.Ref<HashMap.HashMap<string, FalPlatform.IssuedToken>>
  /** Streaming calls, by request id (`streaming.ts`). */
  readonly streams: Ref.Ref<HashMap.HashMap<string, FalPlatform.StreamRecord>>
  readonly webhookSigning: Signing
}

export interface HttpLog {
  readonly next: number
  readonly entries: SortedMap.SortedMap<number, FalPlatform.HttpLogEntry>
}

export const now: Effect.Effect<number> = Clock.currentTimeMillis

export const uuid: Effect.Effect<string> = Effect.sync(() => globalThis.crypto.randomUUID())

export interface Topic {
  /** Sliding, capacity 1: a notification only says "look again", so they coalesce. */
  readonly pubsub: PubSub.PubSub<void>
  readonly listeners: number
}

/** The topic of a model's waiting list. */
export const queueTopic = (modelId: string): string => `queue:${modelId}`

/** Wakes the listeners of `topic`, if any. */
export const publish = (env: Env, topic: string): Effect.Effect<void> =>
  Effect.flatMap(SynchronizedRef.get(env.topics), (topics) => {
    const found = HashMap.get(topics, topic)
    return Option.isSome(found) ? Effect.asVoid(PubSub.publish(found.value.pubsub, undefined)) : Effect.void
  })

/** Listens to `topic` for the scope's lifetime; the topic goes when its last listener does. */
export const listen = (env: Env, topic: string): Effect.Effect<Queue.Dequeue<void>, never, Scope.Scope> =>
  Effect.acquireRelease(
    SynchronizedRef.modifyEffect(env.topics, (topics) => {
      const found = HashMap.get(topics, topic)
      const made = Option.isSome(found)
        ? Effect.succeed(found.value.pubsub)
        : PubSub.sliding<void>(1)
      return Effect.map(made, (pubsub) =>
        [
          pubsub,
          HashMap.set(topics, topic, {
            pubsub,
            listeners: Option.isSome(found) ? found.value.listeners + 1 : 1
          })
        ] as const)
    }),
    () =>
      SynchronizedRef.updateEffect(env.topics, (topics) => {
        const found = HashMap.get(topics, topic)
        if (Option.isNone(found)) return Effect.succeed(topics)
        return found.value.listeners > 1
          ? Effect.succeed(HashMap.set(topics, topic, { ...found.value, listeners: found.value.listeners - 1 }))
          : Effect.as(PubSub.shutdown(found.value.pubsub), HashMap.remove(topics, topic))
      })
  ).pipe(Effect.flatMap(PubSub.subscribe))

export const setIn = <K, V>(ref: Ref.Ref<HashMap.HashMap<K, V>>, key: K, value: V): Effect.Effect<void> =>
  Ref.update(ref, HashMap.set(key, value))

export const deleteIn = <K, V>(ref: Ref.Ref<HashMap.HashMap<K, V>>, key: K): Effect.Effect<void> =>
  Ref.update(ref, HashMap.remove(key))

export const getIn = <K, V>(ref: Ref.Ref<HashMap.HashMap<K, V>>, key: K): Effect.Effect<V | undefined> =>
  Effect.map(Ref.get(ref), (map) => Option.getOrUndefined(HashMap.get(map, key)))

/**
 * Waits until `check` yields a value, re-checking after every change published on `topic`. The
 * subscription is taken before the first check, so no change is missed.
 */
export const waitUntil = <A>(env: Env, topic: string, check: Effect.Effect<Option.Option<A>>): Effect.Effect<A> =>
  Effect.scoped(
    Effect.gen(function*() {
      const subscription = yield* listen(env, topic)
      while (true) {
        const found = yield* check
        if (found._tag === "Some") return found.value
        yield* Queue.take(subscription)
      }
    })
  )

export type PlatformScope = Scope.Scope
