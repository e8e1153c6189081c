/**
 * Requests known to the queue: their record, their status body as fal answers it, and the
 * submit response.
 */
import type { RequestOptions } from "@effect-fal/headers"
import type * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as FalPlatform from "../FalPlatform.js"
import { type Env, publish, type QueueState, type Scheduler } from "./state.js"

export interface Job extends FalPlatform.JobRecord {
  readonly options: RequestOptions.RequestOptions
  /** The model currently serving it (differs from `modelId` after a fallback). */
  readonly target: string
  /** The start deadline passed while an attempt was running: its failure ends the request. */
  readonly deadlinePassed: boolean
  /** Arrival order, kept across retries. */
  readonly seq: number
  /** Set by payload deletion: the result endpoint no longer answers the output. */
  readonly payloadsDeleted: boolean
  /** Completed when the request completes. */
  readonly done: Deferred.Deferred<void>
  readonly cdnBase: string
  readonly webhookUrl: string | undefined
  /** The user id of the submitting key, signed into webhook deliveries. */
  readonly userId: string
}

export const get = (env: Env, id: string): Effect.Effect<Option.Option<Job>> =>
  Effect.map(Ref.get(env.queue), (queue) => HashMap.get(queue.jobs, id))

/** The queue with `job` recorded (pure: a step of a transition). */
export const put = (queue: QueueState, job: Job): QueueState => ({
  ...queue,
  jobs: HashMap.set(queue.jobs, job.id, job)
})

/** Applies `f` to a job's record, if it exists, in one step; wakes the job's listeners. */
export const update = (env: Env, id: string, f: (job: Job) => Job): Effect.Effect<Option.Option<Job>> =>
  Effect.tap(
    Ref.modify(env.queue, (queue): [Option.Option<Job>, QueueState] => {
      const job = HashMap.get(queue.jobs, id)
      if (Option.isNone(job)) return [job, queue]
      const next = f(job.value)
      return [Option.some(next), put(queue, next)]
    }),
    () => publish(env, id)
  )

/** `owner/app` of a model id, keeping a `workflows/` or `comfy/` namespace. */
export const appOf = (modelId: string): string => {
  const parts = modelId.split("/")
  const take = parts[0] === "workflows" || parts[0] === "comfy" ? 3 : 2
  return parts.slice(0, take).join("/")
}

/** Waiting tickets in dispatch order: every `normal` before any `low`, then first come first served. */
export const ordered = (scheduler: Scheduler): ReadonlyArray<Scheduler["waiting"][number]> =>
  [...scheduler.waiting].sort((a, b) => a.priority === b.priority ? a.seq - b.seq : a.priority === "normal" ? -1 : 1)

/** How many requests wait before this one on its endpoint, if it waits. */
export const queuePosition = (scheduler: Scheduler, id: string): number | undefined => {
  const order = ordered(scheduler)
  const ticket = order.find((t) => t.jobId === id)
  if (ticket === undefined) return undefined
  return order.filter((t) => t.modelId === ticket.modelId).findIndex((t) => t.jobId === id)
}

/**
 * The status body, as `GET .../status` and the status stream answer it: SPEC's shape plus the
 * `request_id` and the three URLs, which fal's official client types as always present.
 */
export const statusBody = (
  job: Job,
  scheduler: Scheduler,
  withLogs: boolean,
  queueBase: string
): Record<string, unknown> => {
  const logs = withLogs ? job.logs : []
  const ids = { request_id: job.id, ...urls(queueBase, job) }
  switch (job.status) {
    case "IN_QUEUE":
      return { status: "IN_QUEUE", ...ids, queue_position: queuePosition(scheduler, job.id) ?? 0 }
    case "IN_PROGRESS":
      return { status: "IN_PROGRESS", ...ids, logs }
    case "COMPLETED": {
      const inference = job.startedAt !== undefined && job.completedAt !== undefined
        ? { inference_time: (job.completedAt - job.startedAt) / 1000 }
        : {}
      const body: Record<string, unknown> = { status: "COMPLETED", ...ids, logs, metrics: inference }
      if (job.result?.error !== undefined) body.error = job.result.error
      if (job.result?.errorType !== undefined) body.error_type = job.result.errorType
      return body
    }
  }
}

export const urls = (queueBase: string, job: { readonly id: string; readonly app: string }) => {
  const response = `${queueBase}/${job.app}/requests/${job.id}`
  return { response_url: response, status_url: `${response}/status`, cancel_url: `${response}/cancel` }
}

/** The public view of a job. */
export const toRecord = (job: Job): FalPlatform.JobRecord => ({
  id: job.id,
  modelId: job.modelId,
  app: job.app,
  mode: job.mode,
  status: job.status,
  options: job.options,
  input: job.input,
  attempts: job.attempts,
  servedFrom: job.servedFrom,
  submittedAt: job.submittedAt,
  startedAt: job.startedAt,
  completedAt: job.completedAt,
  cancelled: job.cancelled,
  result: job.result,
  logs: job.logs,
  inputFiles: job.inputFiles,
  outputFiles: job.outputFiles
})
