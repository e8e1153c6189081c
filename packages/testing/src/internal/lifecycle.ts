/**
 * A request's lifecycle: admission (with `fal_max_queue_length`), dispatch to runners, start
 * timeouts on the Clock, attempts, server-side retries (up to 10 attempts on 503/504/connection
 * failures unless `X-Fal-No-Retry`), fallbacks (unless disabled), cancellation and completion
 * (payload storage, webhook).
 *
 * Every transition is one `Ref.modify` of `env.queue` (job records, scheduler, running attempts)
 * with a pure function: what it needs from outside (an id, the time, a Deferred) is made before,
 * what it causes (wake-ups, forks, interruptions) is done after, from the value it returns.
 *
 * Invariant of cancellation: a cancel answered `"requested"` (CANCELLATION_REQUESTED) always
 * ends the request as the 499 cancellation, never as a run that ignored it; `"completed"`
 * (ALREADY_COMPLETED) only for a request that had completed. It holds because:
 * - the start of an attempt (cancelled flag checked, `IN_PROGRESS`, the attempt's fiber
 *   registered) and a cancel (flag set, ticket removed or the registered fiber taken for
 *   interruption) are each one step, so a cancel sees either a waiting ticket or a registered
 *   attempt, or the next start sees the flag;
 * - the attempt runs in the fiber that registered itself, interruptible only while the model
 *   runs: an interruption that comes before or after that still lets the fiber settle the request;
 * - completion is one step that sees the flag and records the cancellation.
 */
import { ErrorType, type RequestOptions } from "@effect-fal/headers"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as FalPlatform from "../FalPlatform.js"
import * as Fault from "../Fault.js"
import * as Model from "../Model.js"
import * as Cdn from "./cdn.js"
import * as Faults from "./faults.js"
import * as Jobs from "./jobs.js"
import type { Job } from "./jobs.js"
import * as Payloads from "./payloads.js"
import { cancelled, failure, success, userTimeout } from "./results.js"
import * as Scheduler from "./scheduler.js"
import { type Env, now, publish, type QueueState, queueTopic, type Ticket, uuid } from "./state.js"
import * as Webhooks from "./webhooks.js"

// -----------------------------------------------------------------------------
// dispatch
// -----------------------------------------------------------------------------

/** Announces the assignments of one step and starts their attempts. */
const started = (env: Env, assignments: ReadonlyArray<Scheduler.Assignment>): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (const modelId of new Set(assignments.map((a) => a.modelId))) yield* publish(env, queueTopic(modelId))
    for (const { jobId, runnerId } of assignments) {
      yield* env.spawn(runAttempt(env, jobId, runnerId))
    }
  })

/** The queue with its scheduler's free runners given to waiting requests (pure). */
const assigned = (
  queue: QueueState,
  models: ReadonlyMap<string, Model.Model>
): [ReadonlyArray<Scheduler.Assignment>, QueueState] => {
  if (queue.scheduler.waiting.length === 0) return [[], queue]
  const [assignments, scheduler] = Scheduler.assign(queue.scheduler, models)
  return [assignments, assignments.length === 0 ? queue : { ...queue, scheduler }]
}

/** Gives free runners to waiting requests, in one step, and starts their attempts. */
export const dispatch = (env: Env): Effect.Effect<void> =>
  Effect.flatMap(
    Ref.get(env.models),
    (models) =>
      Effect.flatMap(Ref.modify(env.queue, (queue) => assigned(queue, models)), (assignments) =>
        assignments.length === 0 ? Effect.void : started(env, assignments))
  )

// -----------------------------------------------------------------------------
// admission
// -----------------------------------------------------------------------------

export interface SubmitParams {
  readonly modelId: string
  readonly input: unknown
  readonly options: RequestOptions.RequestOptions
  readonly mode: "queue" | "sync"
  readonly cdnBase: string
  /** The submitting key's user id (webhook signatures). */
  readonly userId: string
}

/**
 * Admits a request: when `fal_max_queue_length` is set and the model's queue already holds more
 * waiting requests, answers that count (a 429); otherwise records the job, enqueues it and
 * dispatches. The check, the record, the enqueue and the dispatch are one step on the scheduler,
 * so concurrent submits cannot all pass the check.
 */
export const submit = (env: Env, params: SubmitParams): Effect.Effect<Either.Either<Job, number>> =>
  Effect.gen(function*() {
    const id = yield* uuid
    const at = yield* now
    const inputFiles = yield* Cdn.mentionedFiles(env, params.input)
    const done = yield* Deferred.make<void>()
    const limit = params.options.maxQueueLength
    const models = yield* Ref.get(env.models)
    type Admitted = Either.Either<readonly [Job, ReadonlyArray<Scheduler.Assignment>], number>
    const admitted = yield* Ref.modify(env.queue, (queue): [Admitted, QueueState] => {
      const s = queue.scheduler
      const waiting = limit === undefined ? 0 : Scheduler.waitingFor(s, params.modelId)
      if (limit !== undefined && waiting > limit) return [Either.left(waiting), queue]
      const job: Job = {
        id,
        modelId: params.modelId,
        target: params.modelId,
        app: Jobs.appOf(params.modelId),
        mode: params.mode,
        status: "IN_QUEUE",
        options: params.options,
        input: params.input,
        attempts: 0,
        servedFrom: undefined,
        submittedAt: at,
        startedAt: undefined,
        completedAt: undefined,
        cancelled: false,
        result: undefined,
        logs: [],
        inputFiles,
        outputFiles: [],
        deadlinePassed: false,
        payloadsDeleted: false,
        done,
        cdnBase: params.cdnBase,
        webhookUrl: params.mode === "queue" ? params.options.webhookUrl : undefined,
        userId: params.userId,
        seq: s.seq
      }
      const enqueued = { ...Jobs.put(queue, job), scheduler: Scheduler.enqueue({ ...s, seq: s.seq + 1 }, job) }
      const [assignments, next] = assigned(enqueued, models)
      return [Either.right([job, assignments] as const), next]
    })
    if (Either.isLeft(admitted)) return Either.left(admitted.left)
    const [job, assignments] = admitted.right
    yield* publish(env, id)
    if (params.options.storeIO !== false) yield* Payloads.storeInput(env, id, params.input, at)
    if (params.options.startTimeout !== undefined) {
      const timeout = Duration.decode(params.options.startTimeout)
      yield* env.spawn(Effect.zipRight(Effect.sleep(timeout), onDeadline(env, id)))
    }
    yield* started(env, assignments)
    return Either.right(job)
  })

/** Removes a waiting request in one step; whether it was waiting. */
const dequeue = (env: Env, jobId: string): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const removed = yield* Ref.modify(env.queue, (queue): [Ticket | undefined, QueueState] => {
      const [ticket, scheduler] = Scheduler.dequeue(queue.scheduler, jobId)
      return [ticket, ticket === undefined ? queue : { ...queue, scheduler }]
    })
    if (removed !== undefined) yield* publish(env, queueTopic(removed.modelId))
    return removed !== undefined
  })

const onDeadline = (env: Env, id: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const job = yield* Jobs.get(env, id)
    if (Option.isNone(job)) return
    if (job.value.status === "IN_QUEUE") {
      if (yield* dequeue(env, id)) yield* complete(env, id, userTimeout(job.value))
    } else if (job.value.status === "IN_PROGRESS") {
      yield* Jobs.update(env, id, (j) => ({ ...j, deadlinePassed: true }))
    }
  })

// -----------------------------------------------------------------------------
// completion
// -----------------------------------------------------------------------------

const isCancellation = (result: FalPlatform.ResultRecord): boolean => result.errorType === "client_cancelled"

/**
 * Completes a request once (a second completion is ignored). A request whose cancellation was
 * requested completes as the cancellation, whatever its attempt produced: the flag and the
 * completion are one update of the job table.
 */
export const complete = (env: Env, id: string, result: FalPlatform.ResultRecord): Effect.Effect<void> =>
  Effect.gen(function*() {
    const at = yield* now
    const job = yield* Ref.modify(env.queue, (queue): [Option.Option<Job>, QueueState] => {
      const found = HashMap.get(queue.jobs, id)
      if (Option.isNone(found) || found.value.status === "COMPLETED") return [Option.none(), queue]
      const j = found.value
      const next: Job = {
        ...j,
        status: "COMPLETED",
        completedAt: at,
        result: j.cancelled && !isCancellation(result) ? cancelled(j) : result
      }
      return [Option.some(next), Jobs.put(queue, next)]
    })
    if (Option.isNone(job)) return
    yield* publish(env, id)
    const stored = job.value.result
    if (job.value.options.storeIO !== false && stored !== undefined) yield* Payloads.storeOutput(env, id, stored.body)
    yield* Deferred.succeed(job.value.done, undefined)
    if (job.value.webhookUrl !== undefined) {
      yield* env.spawn(Webhooks.deliver(env, job.value, job.value.webhookUrl))
    }
  })

// -----------------------------------------------------------------------------
// attempts
// -----------------------------------------------------------------------------

type Attempt =
  | { readonly _tag: "Success"; readonly body: string; readonly units: number }
  | { readonly _tag: "Failure"; readonly error: Model.ModelError }

const connectionFailure = new Model.ModelError({
  status: 503,
  errorType: "runner_disconnected",
  detail: "Connection to the runner was lost"
})

const isTransient = (error: Model.ModelError): boolean =>
  error.status === 503 || error.status === 504 ||
  (error.errorType !== undefined && ErrorType.isTransient(error.errorType))

const attempt = (env: Env, job: Job, runnerId: string): Effect.Effect<Attempt> =>
  Effect.gen(function*() {
    const model = (yield* Ref.get(env.models)).get(job.target)
    if (model === undefined) {
      return { _tag: "Failure", error: new Model.ModelError({ status: 404, detail: "Application not found" }) } as const
    }
    const fault = yield* Faults.take(env, { endpoint: "runner", modelId: job.target })
    let malformed = false
    if (Option.isSome(fault)) {
      const injected = fault.value
      if (Fault.is("Status")(injected)) {
        return {
          _tag: "Failure",
          error: new Model.ModelError({
            status: injected.status,
            errorType: injected.errorType,
            detail: injected.detail
          })
        } as const
      }
      if (Fault.is("Reset")(injected)) return { _tag: "Failure", error: connectionFailure } as const
      if (Fault.is("Delay")(injected)) yield* Effect.sleep(injected.duration)
      malformed = Fault.is("MalformedBody")(injected)
    }
    const ctx: Model.ModelContext = {
      requestId: job.id,
      attempt: job.attempts,
      runnerId,
      log: (message, level) =>
        Effect.gen(function*() {
          const timestamp = new Date(yield* now).toISOString()
          const entry: FalPlatform.LogEntry = { message, timestamp, level: level ?? "INFO", source: "USER" }
          yield* Jobs.update(env, job.id, (j) => ({ ...j, logs: [...j.logs, entry] }))
        }),
      writeFile: (file) =>
        Effect.gen(function*() {
          const written = yield* Cdn.putFile(env, {
            cdnBase: job.cdnBase,
            fileName: file.fileName,
            contentType: file.contentType,
            content: file.content,
            kind: "output",
            requestId: job.id,
            lifecycle: Cdn.expirationOf(job.options.objectLifecycle)
          })
          yield* Jobs.update(env, job.id, (j) => ({ ...j, outputFiles: [...j.outputFiles, written.url] }))
          return written.url
        })
    }
    const output = yield* Effect.either(model.run(job.input, ctx))
    if (output._tag === "Left") return { _tag: "Failure", error: output.left } as const
    const body = malformed ? "{\"truncated\": " : JSON.stringify(output.right ?? null)
    return { _tag: "Success", body, units: model.billableUnits(output.right) } as const
  })

type Start =
  | { readonly _tag: "Cancelled"; readonly job: Job }
  | { readonly _tag: "Gone" }
  | { readonly _tag: "Started"; readonly job: Job }

/**
 * The start of an attempt on `runnerId` by `fiber` (pure): a request whose cancellation was
 * requested (or that is gone) gives its runner back and does not start; otherwise it turns
 * `IN_PROGRESS` and `fiber` is registered as its attempt before any cancel can look for it.
 */
const start = (
  queue: QueueState,
  id: string,
  runnerId: string,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  startedAt: number
): [Start, QueueState] => {
  const found = HashMap.get(queue.jobs, id)
  const release = { ...queue, scheduler: Scheduler.freeRunner(queue.scheduler, runnerId) }
  if (Option.isNone(found)) return [{ _tag: "Gone" }, release]
  if (found.value.cancelled) return [{ _tag: "Cancelled", job: found.value }, release]
  const job: Job = {
    ...found.value,
    status: "IN_PROGRESS",
    attempts: found.value.attempts + 1,
    servedFrom: runnerId,
    startedAt
  }
  return [{ _tag: "Started", job }, { ...Jobs.put(queue, job), running: HashMap.set(queue.running, id, fiber) }]
}

/** The end of an attempt (pure): its runner free, its fiber unregistered; the job as it stands. */
const finish = (queue: QueueState, id: string, runnerId: string): [Option.Option<Job>, QueueState] => [
  HashMap.get(queue.jobs, id),
  {
    ...queue,
    scheduler: Scheduler.freeRunner(queue.scheduler, runnerId),
    running: HashMap.remove(queue.running, id)
  }
]

/**
 * Runs an attempt in this fiber, which registers itself (see `start`) and is interruptible only
 * while the model runs, so a cancel that interrupts it still gets the request settled (as the
 * cancellation) and the runner handed on. Then dispatches.
 */
const runAttempt = (env: Env, id: string, runnerId: string): Effect.Effect<void> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const startedAt = yield* now
      const self = yield* Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>((fiber) =>
        Effect.succeed(fiber)
      )
      const started = yield* Ref.modify(env.queue, (queue) => start(queue, id, runnerId, self, startedAt))
      if (started._tag === "Cancelled") yield* complete(env, id, cancelled(started.job))
      if (started._tag !== "Started") return yield* dispatch(env)
      yield* publish(env, id)
      const exit = yield* Effect.exit(restore(attempt(env, started.job, runnerId)))
      const job = yield* Ref.modify(env.queue, (queue) => finish(queue, id, runnerId))
      if (Option.isSome(job)) yield* settle(env, job.value, runnerId, exit)
      yield* dispatch(env)
    })
  )

/** Decides what follows an attempt: completion, a retry, a fallback or a start-timeout 504. */
const settle = (env: Env, job: Job, runnerId: string, exit: Exit.Exit<Attempt>): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (Exit.isFailure(exit)) {
      // Interrupted: the request was cancelled while running. Anything else is a crash of the
      // model's handler, which fal reports as a runner server error, not as a cancellation.
      return yield* complete(
        env,
        job.id,
        Cause.isInterruptedOnly(exit.cause) ? cancelled(job) : failure(job, {
          status: 500,
          detail: "The model's handler crashed",
          errorType: "runner_server_error",
          servedFrom: runnerId
        })
      )
    }
    const outcome = exit.value
    if (outcome._tag === "Success") {
      return yield* complete(env, job.id, success(job, runnerId, outcome.body, outcome.units))
    }
    const error = outcome.error
    const failed = failure(job, {
      status: error.status,
      detail: error.detail,
      errorType: error.errorType,
      servedFrom: runnerId,
      retryable: error.retryable
    })
    if (job.cancelled) return yield* complete(env, job.id, cancelled(job))
    const retry = job.mode === "queue" && isTransient(error) && job.options.noRetry !== true &&
      job.attempts < env.config.maxAttempts
    if (!retry) return yield* complete(env, job.id, failed)
    if (job.deadlinePassed) return yield* complete(env, job.id, userTimeout(job))
    const models = yield* Ref.get(env.models)
    const fallback = models.get(job.target)?.fallback
    const target = fallback !== undefined && job.options.disableFallback !== true && models.has(fallback)
      ? fallback
      : job.target
    // Back in the queue in one step: a cancel in between finds the ticket (or the next start finds the flag).
    yield* Ref.update(env.queue, (queue) => {
      const found = HashMap.get(queue.jobs, job.id)
      if (Option.isNone(found)) return queue
      const requeued: Job = { ...found.value, status: "IN_QUEUE", target }
      return { ...Jobs.put(queue, requeued), scheduler: Scheduler.enqueue(queue.scheduler, requeued) }
    })
    yield* publish(env, job.id)
  })

// -----------------------------------------------------------------------------
// cancellation
// -----------------------------------------------------------------------------

export type CancelOutcome = "requested" | "completed" | "missing"

type Cancel =
  | { readonly _tag: "Answer"; readonly outcome: CancelOutcome }
  | { readonly _tag: "Dequeued"; readonly job: Job; readonly modelId: string }
  | { readonly _tag: "Interrupt"; readonly fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined }

/**
 * The cancel transition (pure, see the invariant at the top): flags the request, then removes
 * its waiting ticket or takes its running attempt's fiber for interruption. A request between
 * dispatch and the start of its attempt is neither: the start sees the flag and does not run it.
 */
const flagCancelled = (queue: QueueState, id: string): [Cancel, QueueState] => {
  const found = HashMap.get(queue.jobs, id)
  if (Option.isNone(found)) return [{ _tag: "Answer", outcome: "missing" }, queue]
  if (found.value.status === "COMPLETED") return [{ _tag: "Answer", outcome: "completed" }, queue]
  const job: Job = { ...found.value, cancelled: true }
  const flagged = Jobs.put(queue, job)
  const [ticket, scheduler] = Scheduler.dequeue(queue.scheduler, id)
  if (ticket !== undefined) return [{ _tag: "Dequeued", job, modelId: ticket.modelId }, { ...flagged, scheduler }]
  return [{ _tag: "Interrupt", fiber: Option.getOrUndefined(HashMap.get(queue.running, id)) }, flagged]
}

/** Cancels a request in one step (see {@link flagCancelled}), then acts on what it found. */
export const cancel = (env: Env, id: string): Effect.Effect<CancelOutcome> =>
  Effect.gen(function*() {
    const step = yield* Ref.modify(env.queue, (queue) => flagCancelled(queue, id))
    if (step._tag === "Answer") return step.outcome
    yield* publish(env, id)
    if (step._tag === "Interrupt") {
      if (step.fiber !== undefined) yield* env.spawn(Fiber.interrupt(step.fiber))
      return "requested"
    }
    yield* publish(env, queueTopic(step.modelId))
    yield* complete(env, id, cancelled(step.job))
    return "requested"
  })

/** Marks a request's payloads deleted (its result is no longer answered). */
export const markPayloadsDeleted = (env: Env, id: string): Effect.Effect<void> =>
  Effect.asVoid(Jobs.update(env, id, (j) => ({ ...j, payloadsDeleted: true })))
