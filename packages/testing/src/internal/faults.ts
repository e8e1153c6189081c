/**
 * Fault injection: pending faults, matched against each request (or runner attempt) and
 * consumed one use at a time, and the fault that hit the request being served.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import type * as Fault from "../Fault.js"
import type { ActiveFault, Env } from "./state.js"

export interface Subject {
  readonly endpoint: Fault.Target["endpoint"]
  /** The model id (submit, run, runner) or `owner/app` (status, result, cancel) concerned. */
  readonly modelId?: string | undefined
  readonly method?: string | undefined
  readonly path?: string | undefined
}

const sameModel = (wanted: string, actual: string | undefined): boolean =>
  actual !== undefined && (wanted === actual || wanted.startsWith(`${actual}/`) || actual.startsWith(`${wanted}/`))

const matches = (target: Fault.Target, subject: Subject): boolean =>
  target.endpoint === subject.endpoint &&
  (target.modelId === undefined || sameModel(target.modelId, subject.modelId)) &&
  (target.method === undefined || target.method.toUpperCase() === subject.method?.toUpperCase()) &&
  (target.pathPrefix === undefined || (subject.path ?? "").startsWith(target.pathPrefix))

export const inject = (env: Env, injection: Fault.Injection): Effect.Effect<void> =>
  Ref.update(env.faults, (faults) => [
    ...faults,
    { id: faults.length === 0 ? 0 : faults[faults.length - 1].id + 1, injection, remaining: injection.times ?? 1 }
  ])

export const clear = (env: Env): Effect.Effect<void> => Ref.set(env.faults, [])

/** Whether a pending fault hits this request: always, or with its probability. */
const rolls = (fault: ActiveFault): Effect.Effect<boolean> => {
  const probability = fault.injection.probability
  if (probability === undefined || probability >= 1) return Effect.succeed(true)
  return Effect.map(Random.next, (draw) => draw < probability)
}

/**
 * Takes one use of the first pending fault matching the subject that hits it (a fault with a
 * probability is drawn for, in order; one that misses is passed over and keeps its uses).
 */
export const take = (env: Env, subject: Subject): Effect.Effect<Option.Option<Fault.Fault>> =>
  Effect.flatMap(Ref.get(env.faults), (pending) =>
    // no fault pending (the usual case): nothing to match
    pending.length === 0 ? Effect.succeedNone : takeFrom(env, pending, subject))

const takeFrom = (
  env: Env,
  pending: ReadonlyArray<ActiveFault>,
  subject: Subject
): Effect.Effect<Option.Option<Fault.Fault>> =>
  Effect.gen(function*() {
    const candidates = pending.filter((f) => f.remaining > 0 && matches(f.injection, subject))
    for (const candidate of candidates) {
      if (!(yield* rolls(candidate))) continue
      // another request may have spent the last use since the read: take it only if still there
      const taken = yield* Ref.modify(env.faults, (faults): [boolean, ReadonlyArray<ActiveFault>] => {
        const current = faults.find((f) => f.id === candidate.id)
        if (current === undefined || current.remaining <= 0) return [false, faults]
        return [
          true,
          faults
            .map((f) => (f.id === candidate.id ? { ...f, remaining: f.remaining - 1 } : f))
            .filter((f) => f.remaining > 0)
        ]
      })
      if (taken) return Option.some(candidate.injection.fault)
    }
    return Option.none()
  })

/**
 * The fault that hit a request, and, for a reset after handling, the request id the route
 * answered: set by the faults middleware, read by the request log (the call's `fired`).
 */
export interface Fired {
  readonly fault: Fault.Fault
  readonly answeredId?: string | undefined
}
