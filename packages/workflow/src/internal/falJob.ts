/**
 * A fal request as durable steps of an `@effect/workflow` workflow. Everything durable is the
 * workflow library's own: `Activity` journals each step's result, `DurableDeferred` is the
 * completion the webhook handler delivers, `DurableClock` spaces the poll fallback. This file only
 * arranges them around `Queue.submit` / `Queue.status` / `Queue.result` / `Queue.cancel`.
 */
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
import { WorkflowInstance as InstanceTag } from "@effect/workflow/WorkflowEngine"
import type { WorkflowEngine, WorkflowInstance } from "@effect/workflow/WorkflowEngine"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

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

export interface Options<A, I> {
  readonly name: string
  readonly modelId: string
  readonly input: unknown
  readonly output: Schema.Schema<A, I>
  readonly options?: RequestOptions.RequestOptions | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
}

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

const webhookUrlOf = (base: string, token: string): string => {
  const url = new URL(base)
  url.searchParams.set(tokenParameter, token)
  return url.toString()
}

/** A request that completed or failed: any `COMPLETED` status. */
const isDone = (status: Queue.Status): boolean => status.status === "COMPLETED"

export const run = <A, I>(
  options: Options<A, I>
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
      ...Option.toArray(Option.map(config.webhookUrl, (base) => RequestOptions.webhookUrl(webhookUrlOf(base, token)))),
      options.options ?? RequestOptions.empty
    ])

    const submitted = yield* submitActivity(options, requestOptions)

    // Interrupting the workflow cancels the request upstream (the compensation runs once, when the
    // workflow is interrupted, not when it suspends).
    const ref: Queue.RequestRef = submitted
    yield* Effect.onInterrupt(
      waitFor(options.name, ref, deferred, pollInterval),
      () =>
        Effect.flatMap(InstanceTag, (instance) => instance.interrupted ? Effect.ignore(Queue.cancel(ref)) : Effect.void)
    ).pipe(Effect.catchTag("StrayRequest", (stray) => cancelStray(options.name, ref, stray.requestId)))

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

const submitActivity = <A, I>(options: Options<A, I>, requestOptions: RequestOptions.RequestOptions) =>
  Activity.make({
    name: `FalJob/${options.name}/submit`,
    success: Submitted,
    error: FalErrorSchema,
    execute: Effect.map(
      Queue.submit(options.modelId, options.input as never, { options: requestOptions, autoUpload: false }),
      (queued): Submitted => ({ modelId: options.modelId, requestId: queued.requestId })
    )
  })

/**
 * `run` behind `DurableRateLimiter.rateLimit` (`@effect/workflow`'s, on `@effect/experimental`'s
 * `RateLimiter`): a fleet sharing the limiter's store keeps to `limit` submits per `window` for the
 * key (default: the endpoint). The wait is a durable clock.
 */
export const runRateLimited = <A, I>(
  options: Options<A, I> & { readonly rateLimit: RateLimit }
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

class StrayRequest extends Schema.TaggedError<StrayRequest>("@effect-fal/workflow/StrayRequest")("StrayRequest", {
  requestId: Schema.String
}) {}

/**
 * A delivery for this step whose request id is not the recorded one: a request submitted before a
 * crash, whose id never reached the journal. It is cancelled (an activity, so once) and the step
 * keeps following its own request by polling.
 */
const cancelStray = (name: string, ref: Queue.RequestRef, strayId: string) =>
  Effect.gen(function*() {
    yield* Activity.make({
      name: `FalJob/${name}/cancelStray/${strayId}`,
      success: Schema.Literal("CancellationRequested", "AlreadyCompleted", "NotFound"),
      execute: Queue.cancel({ modelId: ref.modelId, requestId: strayId }).pipe(
        Effect.map((outcome) => outcome._tag),
        Effect.catchAll(() => Effect.succeed("NotFound" as const))
      )
    })
    yield* pollLoop(name, ref, Duration.zero, "afterStray")
  })

/**
 * Waits for the webhook's delivery, raced with a durable poll: `status` once, then a durable sleep,
 * and again. Both branches suspend the workflow while they wait, so a runner holds nothing.
 */
const waitFor = (
  name: string,
  ref: Queue.RequestRef,
  deferred: ReturnType<typeof deferredOf>,
  pollInterval: Duration.Duration
) =>
  Effect.flatMap(
    DurableDeferred.raceAll({
      name: `FalJob/${name}/wait`,
      success: Schema.Struct({ requestId: Schema.String, by: Schema.Literal("webhook", "poll") }),
      error: FalErrorSchema,
      effects: [
        Effect.map(DurableDeferred.await(deferred), (delivered) => ({
          requestId: delivered.requestId,
          by: "webhook" as const
        })),
        Effect.as(pollLoop(name, ref, pollInterval, "poll"), { requestId: ref.requestId, by: "poll" as const })
      ]
    }),
    (outcome) => outcome.requestId === ref.requestId ? Effect.void : new StrayRequest({ requestId: outcome.requestId })
  )

const pollLoop = (
  name: string,
  ref: Queue.RequestRef,
  pollInterval: Duration.Duration,
  label: string
): Effect.Effect<void, FalError, FalClient | WorkflowEngine | WorkflowInstance> => {
  const loop = (n: number): Effect.Effect<void, FalError, FalClient | WorkflowEngine | WorkflowInstance> =>
    Effect.gen(function*() {
      yield* DurableClock.sleep({
        name: `FalJob/${name}/${label}/${n}`,
        duration: pollInterval,
        inMemoryThreshold: Duration.zero
      })
      const done = yield* Activity.make({
        name: `FalJob/${name}/${label}/${n}/status`,
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
  const verified = yield* Effect.either(Webhooks.verify(request))
  if (Either.isLeft(verified)) {
    const { detail, reason } = verified.left
    yield* Effect.logWarning(`webhook rejected (${reason}): ${detail}`)
    return answer(Webhooks.statusOf(reason), { error: reason, detail })
  }
  const deferred = DurableDeferred.make(parsed.right.deferredName, { success: Delivered })
  yield* DurableDeferred.done(deferred, {
    token: token as DurableDeferred.Token,
    exit: Exit.succeed({ requestId: verified.right.requestId })
  })
  return answer(200, { received: true })
})
