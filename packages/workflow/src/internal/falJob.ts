/**
 * A fal request as durable steps of an `@effect/workflow` workflow. Everything durable is the
 * workflow library's own: `Activity` journals each step's result, `DurableDeferred` is the
 * completion the webhook handler delivers, `DurableClock` spaces the poll fallback. This file only
 * arranges them around `Queue.submit` / `Queue.status` / `Queue.result` / `Queue.cancel`.
 */
import type * as Fal from "@effect-fal/api/Fal"
import type { FalClient } from "@effect-fal/api/FalClient"
import type { FalError } from "@effect-fal/api/FalError"
import * as FalErrors from "@effect-fal/api/FalError"
import * as Queue from "@effect-fal/api/Queue"
import * as Webhooks from "@effect-fal/api/Webhooks"
import { InvalidRequestOptions } from "@effect-fal/headers/InvalidRequestOptions"
import * as RequestOptions from "@effect-fal/headers/RequestOptions"
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Activity from "@effect/workflow/Activity"
import * as DurableClock from "@effect/workflow/DurableClock"
import * as DurableDeferred from "@effect/workflow/DurableDeferred"
import * as DurableRateLimiter from "@effect/workflow/DurableRateLimiter"
import * as Workflow from "@effect/workflow/Workflow"
import {
  WorkflowEngine as EngineTag,
  WorkflowInstance as InstanceTag,
  WorkflowInstance as WorkflowInstanceTag
} from "@effect/workflow/WorkflowEngine"
import type { WorkflowEngine, WorkflowInstance } from "@effect/workflow/WorkflowEngine"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { Options } from "../FalJob.js"

// --- errors ---------------------------------------------------------------------------------------

/** Every member of the `FalError` union, as one Schema: the journal stores failures encoded. */
export const FalErrorSchema = Schema.Union(
  InvalidRequestOptions,
  FalErrors.InvalidModelId,
  FalErrors.InvalidRequestId,
  FalErrors.TransportError,
  FalErrors.StartTimeout,
  FalErrors.QueueFull,
  FalErrors.RateLimited,
  FalErrors.Unauthorized,
  FalErrors.Forbidden,
  FalErrors.NotFound,
  FalErrors.ValidationError,
  FalErrors.RequestFailed,
  FalErrors.ServerError,
  FalErrors.DecodeError,
  FalErrors.Cancelled,
  FalErrors.DeadlineExceeded
)

// --- configuration --------------------------------------------------------------------------------

export interface Settings {
  readonly webhookUrl: Option.Option<string>
  readonly pollInterval: Duration.Duration
}

export class Config extends Context.Tag("@effect-fal/workflow/FalJob/Config")<Config, Settings>() {}

export const layerConfig = (options: {
  readonly webhookUrl?: string | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
}): Layer.Layer<Config> =>
  Layer.succeed(Config, {
    webhookUrl: Option.fromNullable(options.webhookUrl),
    pollInterval: Duration.decode(options.pollInterval ?? "5 seconds")
  })

// --- the job --------------------------------------------------------------------------------------

/** What the submit step journals. */
export const Submitted = Schema.Struct({ modelId: Schema.String, requestId: Schema.String })
export type Submitted = typeof Submitted.Type

/** What the webhook handler completes the deferred with. */
export const Delivered = Schema.Struct({ requestId: Schema.String })

/** The name of the token's query parameter in the webhook URL. */
export const tokenParameter = "fal_job"

export interface RateLimit {
  readonly limit: number
  readonly window: Duration.DurationInput
  readonly key?: string | undefined
  readonly algorithm?: "fixed-window" | "token-bucket" | undefined
}

export interface Result<A> {
  readonly requestId: string
  readonly data: A
}

const deferredOf = (name: string) => DurableDeferred.make(`FalJob/${name}/completed`, { success: Delivered })

/**
 * Where the step journals which of its requests it took (the race's winner): a deferred of ours,
 * read by the webhook handler to tell the step's request from an extra one.
 */
const winnerDeferredOf = (name: string) =>
  DurableDeferred.make(`FalJob/${name}/winner`, { success: Schema.String, error: FalErrorSchema })

/** The step's name, from the name of its completion deferred (as the token carries it). */
const stepOfDeferred = (deferredName: string): Option.Option<string> => {
  const match = /^FalJob\/(.*)\/completed$/.exec(deferredName)
  return match === null ? Option.none() : Option.some(match[1]!)
}

/** The name of the query parameter carrying the step's model id (the handler cancels with it). */
export const modelParameter = "fal_model"

const webhookUrlOf = (base: string, token: string, modelId: string): string => {
  const url = new URL(base)
  url.searchParams.set(tokenParameter, token)
  url.searchParams.set(modelParameter, modelId)
  return url.toString()
}

/** A request that completed or failed: any `COMPLETED` status. */
const isDone = (status: Queue.Status): boolean => status.status === "COMPLETED"

/** What a cancel of an extra request answered. */
export const CancelOutcome = Schema.Literal("CancellationRequested", "AlreadyCompleted", "NotFound")

const cancelOutcome = (ref: Queue.RequestRef) =>
  Queue.cancel(ref).pipe(
    Effect.map((outcome) => outcome._tag),
    Effect.catchTag("NotFound", () => Effect.succeed("NotFound" as const))
  )

export const run = <A, I, Id extends Fal.ModelIdInput = string>(
  options: Options<A, I, Id>
): Effect.Effect<Result<A>, FalError, FalClient | Config | WorkflowEngine | WorkflowInstance> =>
  Effect.gen(function*() {
    const config = yield* Config
    const pollInterval = options.pollInterval === undefined
      ? config.pollInterval
      : Duration.decode(options.pollInterval)
    const deferred = deferredOf(options.name)
    const token = yield* DurableDeferred.token(deferred)
    // Deterministic per execution and step: a resubmit after a crash carries the same key.
    const idempotencyKey = yield* Activity.idempotencyKey(`FalJob/${options.name}`)
    const requestOptions = RequestOptions.combineAll([
      RequestOptions.idempotencyKey(idempotencyKey),
      ...Option.toArray(
        Option.map(config.webhookUrl, (base) => RequestOptions.webhookUrl(webhookUrlOf(base, token, options.modelId)))
      ),
      options.options ?? RequestOptions.empty
    ])

    const submitted = yield* submitActivity(options, requestOptions)

    // Interrupting the workflow cancels the request upstream (the compensation runs once, when the
    // workflow is interrupted, not when it suspends).
    const recorded: Queue.RequestRef = submitted
    const winner = yield* Effect.onInterrupt(
      waitFor(options.name, recorded, deferred, pollInterval),
      () =>
        Effect.flatMap(
          InstanceTag,
          (instance) => instance.interrupted ? Effect.ignore(Queue.cancel(recorded)) : Effect.void
        )
    )
    // The first request of the step to finish wins. Another one than the recorded request is one
    // submitted before a crash (its id never reached the journal): the step takes its result and
    // cancels the recorded one, which is still queued or running.
    const ref: Queue.RequestRef = { modelId: options.modelId, requestId: winner }
    if (winner !== recorded.requestId) {
      yield* Activity.make({
        name: `FalJob/${options.name}/cancelRecorded`,
        success: CancelOutcome,
        error: FalErrorSchema,
        execute: cancelOutcome(recorded)
      })
    }

    return yield* Activity.make({
      name: `FalJob/${options.name}/result`,
      success: Schema.Struct({ requestId: Schema.String, data: options.output }),
      error: FalErrorSchema,
      execute: Effect.map(
        Queue.result(ref, { output: options.output }),
        (result) => ({ requestId: result.requestId, data: result.data })
      )
    })
  })

const submitActivity = <A, I, Id extends Fal.ModelIdInput>(
  options: Options<A, I, Id>,
  requestOptions: RequestOptions.RequestOptions
) =>
  Activity.make({
    name: `FalJob/${options.name}/submit`,
    success: Submitted,
    error: FalErrorSchema,
    execute: Effect.map(
      Queue.submit(options.modelId, options.input, { options: requestOptions, autoUpload: false }),
      (queued): Submitted => ({ modelId: options.modelId, requestId: queued.requestId })
    )
  })

/**
 * `run` behind `DurableRateLimiter.rateLimit` (`@effect/workflow`'s, on `@effect/experimental`'s
 * `RateLimiter`): a fleet sharing the limiter's store keeps to `limit` submits per `window` for the
 * key (default: the endpoint). The wait is a durable clock.
 */
export const runRateLimited = <A, I, Id extends Fal.ModelIdInput = string>(
  options: Options<A, I, Id> & { readonly rateLimit: RateLimit }
): Effect.Effect<
  Result<A>,
  FalError | RateLimiter.RateLimitStoreError,
  FalClient | Config | WorkflowEngine | WorkflowInstance | RateLimiter.RateLimiter
> =>
  Effect.zipRight(
    DurableRateLimiter.rateLimit({
      name: `FalJob/${options.name}`,
      key: options.rateLimit.key ?? `fal:${options.modelId}`,
      limit: options.rateLimit.limit,
      window: options.rateLimit.window,
      algorithm: options.rateLimit.algorithm
    }),
    run(options)
  )

/**
 * Waits for the first request of the step to finish: the webhook's delivery (any request of the
 * step: they all carry its token) raced with a durable poll of the recorded request. The race's
 * winner is journaled in the step's `winner` deferred and is what every later reader sees (this
 * step after a restart, the webhook handler). Both branches suspend the workflow while they wait, so a runner holds
 * nothing.
 */
const waitFor = (
  name: string,
  ref: Queue.RequestRef,
  deferred: ReturnType<typeof deferredOf>,
  pollInterval: Duration.Duration
) =>
  Effect.gen(function*() {
    // `DurableDeferred.raceAll`'s steps, with the winner journaled in a deferred we name (raceAll
    // names its own after an internal convention): a replay reads the winner back, a first run
    // races and `DurableDeferred.into` records the outcome unless the race suspended.
    const winner = winnerDeferredOf(name)
    const engine = yield* EngineTag
    const journaled = yield* Workflow.wrapActivityResult(engine.deferredResult(winner), Predicate.isUndefined)
    if (journaled !== undefined) return yield* journaled
    // A delivery that came while the workflow was suspended (how a webhook resumes it) is taken
    // without starting the race: the poll's branch would only be interrupted, often in the middle
    // of a read of the journal.
    const delivered = yield* Workflow.wrapActivityResult(engine.deferredResult(deferred), Predicate.isUndefined)
    return yield* DurableDeferred.into(
      delivered !== undefined
        ? Effect.map(delivered, (delivery) => delivery.requestId)
        : Effect.raceAll([
          Effect.map(DurableDeferred.await(deferred), (delivery) => delivery.requestId),
          Effect.as(pollLoop(name, ref, pollInterval), ref.requestId)
        ]),
      winner
    )
  })

const pollLoop = (
  name: string,
  ref: Queue.RequestRef,
  pollInterval: Duration.Duration
): Effect.Effect<void, FalError, FalClient | WorkflowEngine | WorkflowInstance> => {
  const loop = (n: number): Effect.Effect<void, FalError, FalClient | WorkflowEngine | WorkflowInstance> =>
    Effect.gen(function*() {
      yield* DurableClock.sleep({
        name: `FalJob/${name}/poll/${n}`,
        duration: pollInterval,
        inMemoryThreshold: Duration.zero
      })
      const done = yield* Activity.make({
        name: `FalJob/${name}/poll/${n}/status`,
        success: Schema.Boolean,
        error: FalErrorSchema,
        execute: Effect.map(Queue.status(ref, { logs: false }), isDone)
      })
      if (!done) return yield* loop(n + 1)
    })
  return loop(0)
}

// --- webhook handler ------------------------------------------------------------------------------

const answer = (status: number, body: Record<string, string | boolean>) =>
  HttpServerResponse.unsafeJson(body, { status })

/**
 * The step's winner as the engine recorded it: the value of its deferred, read the way the
 * workflow reads it (`deferredResult` of the execution). The workflow itself is not at hand here,
 * only its name, so the read addresses the execution by a workflow of that name with no
 * annotations (the default shard group).
 */
const winnerOf = (parsed: DurableDeferred.TokenParsed, step: string) =>
  Effect.gen(function*() {
    const engine = yield* EngineTag
    const workflow = Workflow.make({ name: parsed.workflowName, payload: {}, idempotencyKey: () => parsed.executionId })
    const instance = WorkflowInstanceTag.initial(workflow, parsed.executionId)
    const read = Effect.provideService(engine.deferredResult(winnerDeferredOf(step)), WorkflowInstanceTag, instance)
    const exit = yield* read.pipe(
      Effect.flatMap((exit) => exit === undefined ? Effect.fail("pending" as const) : Effect.succeed(exit)),
      // The owner of the execution records the winner once it has processed the completion and
      // resumed the workflow (tens of milliseconds); the reads back off (10 ms, then 1.5 times
      // longer each time) for up to 10 seconds, so that many deliveries at once stay cheap.
      Effect.retry({ schedule: Schedule.exponential("10 millis", 1.5).pipe(Schedule.upTo("10 seconds")) }),
      Effect.option
    )
    return Option.isSome(exit) && Exit.isSuccess(exit.value)
      ? Option.some(exit.value.value)
      : Option.none<string>()
  })

export const webhookHandler = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const url = new URL(request.url, "http://localhost")
  const token = url.searchParams.get(tokenParameter)
  const parsed = token === null
    ? Either.left("no token")
    : Either.mapLeft(Schema.decodeEither(DurableDeferred.TokenParsed.FromString)(token), () => "malformed token")
  if (Either.isLeft(parsed)) {
    return answer(400, { error: "InvalidToken", detail: `the webhook URL carries ${parsed.left}` })
  }
  const step = stepOfDeferred(parsed.right.deferredName)
  if (Option.isNone(step)) {
    return answer(400, { error: "InvalidToken", detail: "the webhook URL's token names no FalJob step" })
  }
  const verified = yield* Effect.either(Webhooks.verify(request))
  if (Either.isLeft(verified)) {
    const { detail, reason } = verified.left
    yield* Effect.logWarning(`webhook rejected (${reason}): ${detail}`)
    return answer(Webhooks.statusOf(reason), { error: reason, detail })
  }
  const delivered = verified.right.requestId
  const deferred = DurableDeferred.make(parsed.right.deferredName, { success: Delivered })
  // The first completion of the deferred wins; a later one is ignored by the engine.
  yield* DurableDeferred.done(deferred, {
    token: parsed.right.asToken,
    exit: Exit.succeed({ requestId: delivered })
  })
  const modelId = url.searchParams.get(modelParameter)
  if (modelId === null) return answer(200, { received: true })
  // Another request of the step won: the delivered one is an extra submitted before a crash.
  // Cancel it (it has finished, since fal delivered it: the cancel answers "already completed"
  // unless fal delivers early). Until the winner is known the delivery is refused, so fal
  // delivers it again.
  const winner = yield* winnerOf(parsed.right, step.value)
  if (Option.isNone(winner)) {
    return answer(503, { error: "Pending", detail: "the step has not recorded its winner yet" })
  }
  if (winner.value === delivered) return answer(200, { received: true })
  const outcome = yield* Effect.either(cancelOutcome({ modelId, requestId: delivered }))
  if (Either.isLeft(outcome)) {
    yield* Effect.logWarning(`cancel of extra request ${delivered} failed: ${outcome.left._tag}`)
    return answer(503, { error: outcome.left._tag, detail: "the extra request could not be cancelled yet" })
  }
  yield* Effect.logInfo(`extra request ${delivered} of a step that took ${winner.value}: ${outcome.right}`)
  return answer(200, { received: true, extra: outcome.right })
})
