/**
 * Builds a platform: resolves the configuration, creates the state and exposes the service.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Order from "effect/Order"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as SortedMap from "effect/SortedMap"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type * as FalPlatform from "../FalPlatform.js"
import * as Link from "../Link.js"
import type * as Model from "../Model.js"
import * as Constants from "./constants.js"
import * as Faults from "./faults.js"
import * as Gateway from "./gateway.js"
import * as Jobs from "./jobs.js"
import * as LinkModel from "./link.js"
import * as Models from "./models.js"
import * as Retention from "./retention.js"
import {
  type ActiveFault,
  type Env,
  type HttpLog,
  type IdempotentAnswer,
  type QueueState,
  type Resolved,
  type Topic,
  waitUntil
} from "./state.js"
import * as Streaming from "./streaming.js"
import * as Tokens from "./tokens.js"
import * as Webhooks from "./webhooks.js"

const defaultKeys: ReadonlyArray<FalPlatform.ApiKey> = [
  { key: Constants.defaultKeys.user, scope: "API" },
  { key: Constants.defaultKeys.admin, scope: "ADMIN" }
]

const resolve = (config: FalPlatform.Config): Resolved => ({
  keys: config.keys ?? defaultKeys,
  maxAttempts: config.maxAttempts ?? 10,
  payloadRetention: Duration.decode(config.payloadRetention ?? "30 days"),
  defaultObjectLifecycle: config.defaultObjectLifecycle === undefined || config.defaultObjectLifecycle === "never"
    ? "never"
    : Duration.decode(config.defaultObjectLifecycle),
  keepAliveInterval: Duration.decode(config.keepAliveInterval ?? "15 seconds"),
  idempotencyWindow: Duration.decode(config.idempotencyWindow ?? "10 minutes"),
  link: LinkModel.resolve(config.link)
})

export const make = (config: FalPlatform.Config = {}): Effect.Effect<FalPlatform.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const models: Array<Model.Model> = [
      ...(config.demoModels === false ? [] : Models.all(config.demoRunners ?? 1)),
      ...(config.models ?? [])
    ]
    const webhookClient = config.webhookClient !== undefined
      ? Option.some(config.webhookClient)
      : yield* Effect.serviceOption(HttpClient.HttpClient)
    // a link the test wrote wrong is a bug of the test: it dies, naming the setting
    if (config.link !== undefined) yield* Effect.orDie(Link.validate(config.link))
    const resolved = resolve(config)
    const webhookSigning = yield* Webhooks.makeSigning(resolved.keys, config.webhookKey)
    const runFork = yield* FiberSet.makeRuntime<never, unknown, unknown>()
    const env: Env = {
      config: resolved,
      models: yield* Ref.make<ReadonlyMap<string, Model.Model>>(new Map(models.map((m) => [m.id, m]))),
      queue: yield* Ref.make<QueueState>({
        jobs: HashMap.empty(),
        scheduler: { seq: 0, waiting: [], busy: new Map() },
        running: HashMap.empty()
      }),
      payloads: yield* Ref.make(HashMap.empty<string, FalPlatform.StoredPayload>()),
      files: yield* Ref.make(HashMap.empty<string, FalPlatform.CdnFile>()),
      idempotency: yield* SynchronizedRef.make(HashMap.empty<string, IdempotentAnswer>()),
      log: yield* Ref.make<HttpLog>({ next: 0, entries: SortedMap.empty(Order.number) }),
      faults: yield* Ref.make<ReadonlyArray<ActiveFault>>([]),
      realtime: yield* Ref.make(Chunk.empty<FalPlatform.RealtimeEvent>()),
      webhooks: yield* Ref.make<ReadonlyArray<FalPlatform.WebhookDelivery>>([]),
      topics: yield* SynchronizedRef.make(HashMap.empty<string, Topic>()),
      spawn: (effect) => Effect.sync(() => void runFork(effect)),
      webhookClient,
      webhookSigning,
      tokens: yield* Ref.make(HashMap.empty<string, FalPlatform.IssuedToken>()),
      streams: yield* Ref.make(HashMap.empty<string, FalPlatform.StreamRecord>())
    }
    const httpLog = Effect.map(Ref.get(env.log), (log) => Array.from(SortedMap.values(log.entries)))
    const clearHttpLog = Ref.update(env.log, (log) => ({ ...log, entries: SortedMap.empty(Order.number) }))
    const awaitHttpLog = (predicate: (entry: FalPlatform.HttpLogEntry) => boolean) =>
      waitUntil(
        env,
        "log",
        Effect.map(Ref.get(env.log), (log) =>
          Option.fromNullable(Array.from(SortedMap.values(log.entries)).find(predicate)))
      )
    const job = (id: string) => Effect.map(Jobs.get(env, id), Option.map(Jobs.toRecord))
    const service: FalPlatform.Service = {
      keys: env.config.keys,
      register: (model) => Ref.update(env.models, (models) => new Map(models).set(model.id, model)),
      models: Effect.map(Ref.get(env.models), (map) => [...map.keys()]),
      httpLog,
      clearHttpLog,
      awaitHttpLog,
      realtimeLog: Effect.map(Ref.get(env.realtime), Chunk.toReadonlyArray),
      awaitRealtimeLog: (predicate) =>
        waitUntil(
          env,
          "realtime",
          Effect.map(Ref.get(env.realtime), Chunk.findFirst(predicate))
        ),
      injectFault: (injection) => Faults.inject(env, injection),
      clearFaults: Faults.clear(env),
      job,
      awaitStatus: (id, status = "COMPLETED") =>
        waitUntil(
          env,
          id,
          Effect.map(
            Jobs.get(env, id),
            (job) => Option.map(Option.filter(job, (j) => j.status === status), Jobs.toRecord)
          )
        ),
      payloads: Retention.payloads(env),
      files: Retention.files(env),
      file: (urlOrPath) => Retention.file(env, urlOrPath),
      uploadFile: (file, options) =>
        Effect.map(
          Retention.putFile(env, {
            cdnBase: options?.cdnBase ?? Constants.defaultUrls.cdn,
            fileName: file.fileName,
            contentType: file.contentType,
            content: file.content,
            kind: "input",
            requestId: undefined,
            lifecycle: options?.lifecycle
          }),
          (written) => written.url
        ),
      webhooks: Ref.get(env.webhooks),
      webhookSigner: webhookSigning.signer,
      tokens: Effect.map(Ref.get(env.tokens), (tokens) => Array.from(HashMap.values(tokens))),
      issueToken: (apps, options) => Tokens.issue(env, apps, options?.expirationSeconds ?? 120),
      validateToken: (token, modelId) => Tokens.validate(env, token, modelId),
      streams: Effect.map(
        Ref.get(env.streams),
        (streams) => Array.from(HashMap.values(streams)).sort((a, b) => a.startedAt - b.startedAt)
      ),
      awaitStreamEnd: (requestId) => Streaming.awaitEnd(env, requestId),
      httpApp: Gateway.app(env)
    }
    return service
  })
