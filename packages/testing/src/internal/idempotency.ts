/**
 * `Idempotency-Key` on Platform API routes: an answer is remembered for the configured window
 * and replayed (with `idempotent-replayed: true`) to a repeat of the key. Recall, the route and
 * remembering run as one step on the cache (`SynchronizedRef.modifyEffect`), so two concurrent
 * calls with one key run the route once: the second replays the first's answer.
 */
import { ResponseMeta } from "@effect-fal/headers"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as SynchronizedRef from "effect/SynchronizedRef"
import { Call, PlatformEnv } from "./call.js"
import { stored } from "./http.js"
import { now } from "./state.js"

export const idempotent = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | Call | PlatformEnv> =>
  Effect.gen(function*() {
    const call = yield* Call
    const key = Either.isRight(call.options) ? call.options.right.idempotencyKey : undefined
    if (key === undefined) return yield* app
    const env = yield* PlatformEnv
    return yield* SynchronizedRef.modifyEffect(env.idempotency, (cache) =>
      Effect.gen(function*() {
        const at = yield* now
        const found = Option.filter(HashMap.get(cache, key), (answer) => at < answer.expiresAt)
        if (Option.isSome(found)) {
          return [stored({ ...found.value, headers: { ...found.value.headers, "idempotent-replayed": "true" } }), cache]
        }
        const live = HashMap.filter(cache, (answer) => at < answer.expiresAt)
        const response = yield* app
        if (response.body._tag !== "Uint8Array") return [response, live]
        const answer = {
          status: response.status,
          headers: {
            ...response.headers,
            "content-type": response.body.contentType,
            [ResponseMeta.names.requestId]: call.gatewayId,
            [ResponseMeta.names.billableUnits]: "0"
          },
          body: response.body.body,
          expiresAt: at + Duration.toMillis(env.config.idempotencyWindow)
        }
        return [response, HashMap.set(live, key, answer)] as const
      }))
  })

export type { HttpServerResponse }
