/**
 * Fault injection: pending faults, matched against each request (or runner attempt) and
 * consumed one use at a time.
 */
import type * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Fault from "../Fault.js"
import type { Env } from "./state.js"

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

/** Takes one use of the first pending fault matching the subject. */
export const take = (env: Env, subject: Subject): Effect.Effect<Option.Option<Fault.Fault>> =>
  Ref.modify(env.faults, (faults) => {
    const found = faults.find((f) => f.remaining > 0 && matches(f.injection, subject))
    if (found === undefined) return [Option.none(), faults]
    const next = faults
      .map((f) => (f.id === found.id ? { ...f, remaining: f.remaining - 1 } : f))
      .filter((f) => f.remaining > 0)
    return [Option.some(found.injection.fault), next]
  })
