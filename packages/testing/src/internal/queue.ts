/**
 * The queue: per-endpoint waiting lists (every `normal` before any `low`), runners with hints,
 * start timeouts on the Clock, server-side retries (up to 10 attempts on 503/504/connection
 * failures unless `X-Fal-No-Retry`), fallbacks (unless disabled), cancellation, completion
 * (payload storage, webhook).
 */
import { ErrorType, type RequestOptions, ResponseMeta } from "@effect-fal/headers"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type * as FalPlatform from "../FalPlatform.js"
import * as Fault from "../Fault.js"
import * as Model from "../Model.js"
import * as Faults from "./faults.js"
import * as Jobs from "./jobs.js"
import type { Job } from "./jobs.js"
import * as Retention from "./retention.js"
import {
  deleteIn,
  type Env,
  getIn,
  now,
  publish,
  queueTopic,
  type Scheduler,
  setIn,
  type Ticket,
  uuid
} from "./state.js"
import * as Webhooks from "./webhooks.js"

// -----------------------------------------------------------------------------
// runners
// -----------------------------------------------------------------------------

/** The runners of a model: `<owner>-<app>-runner-<n>`. */
export const runnerIds = (model: Model.Model): ReadonlyArray<string> =>
  Array.from({ length: model.runners }, (_, i) => `${model.id.replace(/\//g, "-")}-runner-${i}`)

interface Assignment {
  readonly jobId: string
  readonly modelId: string
  readonly runnerId: string
}

/** Gives free runners to waiting requests, in dispatch order; a hinted runner is used when free. */
const assign = (
  scheduler: Scheduler,
  models: ReadonlyMap<string, Model.Model>
): [ReadonlyArray<Assignment>, Scheduler] => {
  const busy = new Map(scheduler.busy)
  const waiting: Array<Ticket> = []
  const out: Array<Assignment> = []
  for (const ticket of Jobs.ordered(scheduler)) {
    const model = models.get(ticket.modelId)
    const free = model === undefined ? [] : runnerIds(model).filter((id) => !busy.has(id))
    if (free.length === 0) {
      waiting.push(ticket)
      continue
    }
    const runnerId = ticket.hint !== undefined && free.includes(ticket.hint) ? ticket.hint : free[0]
    busy.set(runnerId, ticket.jobId)
    out.push({ jobId: ticket.jobId, modelId: ticket.modelId, runnerId })
  }
  return [out, { ...scheduler, waiting, busy }]
}

export const dispatch = (env: Env): Effect.Effect<void> =>
  Effect.gen(function*() {
    const models = yield* Ref.get(env.models)
    const assignments = yield* Ref.modify(env.scheduler, (s) => assign(s, models))
    for (const modelId of new Set(assignments.map((a) => a.modelId))) yield* publish(env, queueTopic(modelId))
    for (const { jobId, runnerId } of assignments) {
      yield* env.spawn(runAttempt(env, jobId, runnerId))
    }
  })

const enqueue = (env: Env, job: Job): Effect.Effect<void> =>
  Ref.update(env.scheduler, (s) => ({ ...s, waiting: [...s.waiting, ticketOf(job)] }))

/** Removes a waiting request; whether it was waiting. */
const dequeue = (env: Env, jobId: string): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const removed = yield* Ref.modify(env.scheduler, (s) => {
      const ticket = s.waiting.find((t) => t.jobId === jobId)
      return [ticket, ticket === undefined ? s : { ...s, waiting: s.waiting.filter((t) => t !== ticket) }]
    })
    if (removed !== undefined) yield* publish(env, queueTopic(removed.modelId))
    return removed !== undefined
  })

const freeRunner = (env: Env, runnerId: string): Effect.Effect<void> =>
  Ref.update(env.scheduler, (s) => {
    const busy = new Map(s.busy)
    busy.delete(runnerId)
    return { ...s, busy }
  })

// -----------------------------------------------------------------------------
// results
// -----------------------------------------------------------------------------

const jsonHeaders = { "content-type": "application/json" }

const success = (job: Job, runnerId: string, body: string, units: number): FalPlatform.ResultRecord => ({
  status: 200,
  headers: {
    ...jsonHeaders,
    ...ResponseMeta.toHeaders({
      requestId: job.id,
      billableUnits: units,
      servedFrom: runnerId,
      runnerHints: [runnerId]
    })
  },
  body,
  error: undefined,
  errorType: undefined
})

const failure = (
  job: Job,
  options: {
    readonly status: number
    readonly detail: unknown
    readonly errorType?: string | undefined
    readonly servedFrom?: string | undefined
    readonly retryable?: boolean | undefined
    readonly userTimeout?: boolean
  }
): FalPlatform.ResultRecord => {
  const body: Record<string, unknown> = { detail: options.detail }
  if (options.errorType !== undefined) body.error_type = options.errorType
  return {
    status: options.status,
    headers: {
      ...jsonHeaders,
      ...ResponseMeta.toHeaders({
        requestId: job.id,
        billableUnits: 0,
        ...(options.servedFrom !== undefined ? { servedFrom: options.servedFrom } : {}),
        ...(options.errorType !== undefined ? { errorType: options.errorType } : {}),
        ...(options.retryable !== undefined ? { retryable: options.retryable } : {}),
        ...(options.userTimeout === true ? { timeoutType: "user" as const } : {})
      })
    },
    body: JSON.stringify(body),
    error: typeof options.detail === "string" ? options.detail : `Request failed with status ${options.status}`,
    errorType: options.errorType
  }
}

/** The 504 of an expired start timeout (`X-Fal-Request-Timeout-Type: user`). */
export const userTimeout = (job: Job): FalPlatform.ResultRecord =>
  failure(job, {
    status: 504,
    detail: `Request did not start within its start timeout of ${
      job.options.startTimeout === undefined ? "?" : Duration.toSeconds(Duration.decode(job.options.startTimeout))
    } seconds`,
    errorType: "request_timeout",
    userTimeout: true
  })

const cancelled = (job: Job): FalPlatform.ResultRecord =>
  failure(job, { status: 499, detail: "Request cancelled by the client", errorType: "client_cancelled" })

// -----------------------------------------------------------------------------
// lifecycle
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

/** A waiting ticket for a job. */
const ticketOf = (job: Job): Ticket => ({
  jobId: job.id,
  modelId: job.target,
  priority: job.options.priority ?? "normal",
  seq: job.seq,
  hint: job.options.runnerHint
})

/**
 * Admits a request: when `fal_max_queue_length` is set and the model's queue already holds more
 * waiting requests, answers that count (a 429); otherwise records the job and enqueues it. The
 * check, the record and the enqueue are one step on the scheduler (`SynchronizedRef`), so
 * concurrent submits cannot all pass the check.
 */
export const submit = (env: Env, params: SubmitParams): Effect.Effect<Either.Either<Job, number>> =>
  Effect.gen(function*() {
    const id = yield* uuid
    const at = yield* now
    const inputFiles = yield* Retention.mentionedFiles(env, params.input)
    const done = yield* Deferred.make<void>()
    const limit = params.options.maxQueueLength
    const admitted = yield* SynchronizedRef.modifyEffect(
      env.scheduler,
      (s): Effect.Effect<readonly [Either.Either<Job, number>, Scheduler]> => {
        const waiting = limit === undefined ? 0 : s.waiting.filter((t) => t.modelId === params.modelId).length
        if (limit !== undefined && waiting > limit) return Effect.succeed([Either.left(waiting), s] as const)
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
        return Effect.as(
          Jobs.insert(env, job),
          [
            Either.right(job),
            { ...s, seq: s.seq + 1, waiting: [...s.waiting, ticketOf(job)] }
          ] as const
        )
      }
    )
    if (Either.isLeft(admitted)) return admitted
    if (params.options.storeIO !== false) yield* Retention.storeInput(env, id, params.input)
    if (params.options.startTimeout !== undefined) {
      const timeout = Duration.decode(params.options.startTimeout)
      yield* env.spawn(Effect.zipRight(Effect.sleep(timeout), onDeadline(env, id)))
    }
    return admitted
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

export const complete = (env: Env, id: string, result: FalPlatform.ResultRecord): Effect.Effect<void> =>
  Effect.gen(function*() {
    const at = yield* now
    const job = yield* Jobs.update(env, id, (j) => ({ ...j, status: "COMPLETED", completedAt: at, result }))
    if (Option.isNone(job)) return
    if (job.value.options.storeIO !== false) yield* Retention.storeOutput(env, id, result.body)
    yield* Deferred.succeed(job.value.done, undefined)
    if (job.value.webhookUrl !== undefined) {
      yield* env.spawn(Webhooks.deliver(env, job.value, job.value.webhookUrl))
    }
  })

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
          const written = yield* Retention.putFile(env, {
            cdnBase: job.cdnBase,
            fileName: file.fileName,
            contentType: file.contentType,
            content: file.content,
            kind: "output",
            requestId: job.id,
            lifecycle: job.options.objectLifecycle
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

const runAttempt = (env: Env, id: string, runnerId: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const startedAt = yield* now
    const started = yield* Jobs.update(env, id, (j) => ({
      ...j,
      status: "IN_PROGRESS",
      attempts: j.attempts + 1,
      servedFrom: runnerId,
      startedAt
    }))
    if (Option.isNone(started) || started.value.cancelled) {
      yield* freeRunner(env, runnerId)
      if (Option.isSome(started)) yield* complete(env, id, cancelled(started.value))
      return yield* dispatch(env)
    }
    const fiber = yield* Effect.fork(attempt(env, started.value, runnerId))
    yield* setIn(env.running, id, fiber)
    const exit = yield* Fiber.await(fiber)
    yield* deleteIn(env.running, id)
    yield* freeRunner(env, runnerId)
    const job = yield* Jobs.get(env, id)
    if (Option.isSome(job)) yield* settle(env, job.value, runnerId, exit)
    yield* dispatch(env)
  })

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
    const requeued = yield* Jobs.update(env, job.id, (j) => ({ ...j, status: "IN_QUEUE", target }))
    if (Option.isSome(requeued)) yield* enqueue(env, requeued.value)
  })

export type CancelOutcome = "requested" | "completed" | "missing"

export const cancel = (env: Env, id: string): Effect.Effect<CancelOutcome> =>
  Effect.gen(function*() {
    const job = yield* Jobs.get(env, id)
    if (Option.isNone(job)) return "missing"
    if (job.value.status === "COMPLETED") return "completed"
    yield* Jobs.update(env, id, (j) => ({ ...j, cancelled: true }))
    if (yield* dequeue(env, id)) {
      yield* complete(env, id, cancelled(job.value))
      return "requested"
    }
    const fiber = yield* getIn(env.running, id)
    if (fiber !== undefined) yield* env.spawn(Fiber.interrupt(fiber))
    return "requested"
  })

/** Marks a request's payloads deleted (its result is no longer answered). */
export const markPayloadsDeleted = (env: Env, id: string): Effect.Effect<void> =>
  Effect.asVoid(Jobs.update(env, id, (j) => ({ ...j, payloadsDeleted: true })))
