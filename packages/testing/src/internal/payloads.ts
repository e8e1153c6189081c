/**
 * The payload store: a request's JSON input and output, kept 30 days (the platform's
 * `payloadRetention`) unless `X-Fal-Store-IO: 0`. Expiry is checked against the Clock when a
 * payload is read, so `TestClock.adjust` is all it takes to expire one.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as FalPlatform from "../FalPlatform.js"
import { deleteIn, type Env, getIn, now, setIn } from "./state.js"

/** Stores a request's input, received at `at` (its retention counts from then). */
export const storeInput = (env: Env, requestId: string, input: unknown, at: number): Effect.Effect<void> =>
  setIn(env.payloads, requestId, {
    requestId,
    input,
    output: undefined,
    storedAt: at,
    expiresAt: at + Duration.toMillis(env.config.payloadRetention)
  })

export const storeOutput = (env: Env, requestId: string, output: string): Effect.Effect<void> =>
  Ref.update(env.payloads, HashMap.modify(requestId, (payload) => ({ ...payload, output })))

export const payload = (env: Env, requestId: string): Effect.Effect<Option.Option<FalPlatform.StoredPayload>> =>
  Effect.gen(function*() {
    const at = yield* now
    const found = yield* getIn(env.payloads, requestId)
    if (found === undefined) return Option.none()
    if (at >= found.expiresAt) {
      yield* deleteIn(env.payloads, requestId)
      return Option.none()
    }
    return Option.some(found)
  })

export const payloads = (env: Env): Effect.Effect<ReadonlyArray<FalPlatform.StoredPayload>> =>
  Effect.gen(function*() {
    const at = yield* now
    const kept = yield* Ref.updateAndGet(env.payloads, HashMap.filter((p) => at < p.expiresAt))
    return Array.from(HashMap.values(kept))
  })

export const deletePayload = (env: Env, requestId: string): Effect.Effect<void> => deleteIn(env.payloads, requestId)
