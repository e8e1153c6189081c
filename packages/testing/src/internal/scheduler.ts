/**
 * The scheduler's state transitions, pure: per-endpoint waiting lists (every `normal` before any
 * `low`), runners with hints. `lifecycle.ts` applies them inside one step on `env.scheduler`
 * (a `SynchronizedRef`), so no two transitions interleave.
 */
import type * as Model from "../Model.js"
import * as Jobs from "./jobs.js"
import type { Job } from "./jobs.js"
import type { Scheduler, Ticket } from "./state.js"

const runnersOf = new WeakMap<Model.Model, ReadonlyArray<string>>()

/** The runners of a model: `<owner>-<app>-runner-<n>` (made once per model: every dispatch reads them). */
export const runnerIds = (model: Model.Model): ReadonlyArray<string> => {
  const known = runnersOf.get(model)
  if (known !== undefined) return known
  const ids = Array.from({ length: model.runners }, (_, i) => `${model.id.replace(/\//g, "-")}-runner-${i}`)
  runnersOf.set(model, ids)
  return ids
}

export interface Assignment {
  readonly jobId: string
  readonly modelId: string
  readonly runnerId: string
}

/** Gives free runners to waiting requests, in dispatch order; a hinted runner is used when free. */
export const assign = (
  scheduler: Scheduler,
  models: ReadonlyMap<string, Model.Model>
): [ReadonlyArray<Assignment>, Scheduler] => {
  const busy = new Map(scheduler.busy)
  const waiting: Array<Ticket> = []
  const out: Array<Assignment> = []
  for (const ticket of Jobs.ordered(scheduler)) {
    const model = models.get(ticket.modelId)
    const ids = model === undefined ? [] : runnerIds(model)
    const hinted = ticket.hint !== undefined && ids.includes(ticket.hint) && !busy.has(ticket.hint)
    const runnerId = hinted ? ticket.hint : ids.find((id) => !busy.has(id))
    if (runnerId === undefined) {
      waiting.push(ticket)
      continue
    }
    busy.set(runnerId, ticket.jobId)
    out.push({ jobId: ticket.jobId, modelId: ticket.modelId, runnerId })
  }
  return [out, { ...scheduler, waiting, busy }]
}

/** A waiting ticket for a job. */
export const ticketOf = (job: Job): Ticket => ({
  jobId: job.id,
  modelId: job.target,
  priority: job.options.priority ?? "normal",
  seq: job.seq,
  hint: job.options.runnerHint
})

export const enqueue = (scheduler: Scheduler, job: Job): Scheduler => ({
  ...scheduler,
  waiting: [...scheduler.waiting, ticketOf(job)]
})

/** Removes a waiting request: its ticket (if it was waiting) and the scheduler without it. */
export const dequeue = (scheduler: Scheduler, jobId: string): [Ticket | undefined, Scheduler] => {
  const ticket = scheduler.waiting.find((t) => t.jobId === jobId)
  return [
    ticket,
    ticket === undefined ? scheduler : { ...scheduler, waiting: scheduler.waiting.filter((t) => t !== ticket) }
  ]
}

export const freeRunner = (scheduler: Scheduler, runnerId: string): Scheduler => {
  const busy = new Map(scheduler.busy)
  busy.delete(runnerId)
  return { ...scheduler, busy }
}

/** How many requests wait for `modelId`. */
export const waitingFor = (scheduler: Scheduler, modelId: string): number =>
  scheduler.waiting.filter((t) => t.modelId === modelId).length
