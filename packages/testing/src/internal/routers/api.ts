/**
 * The `api` base (Platform API v1): `DELETE /models/requests/{id}/payloads` with an ADMIN key,
 * idempotent with `Idempotency-Key`, and the request history `GET /models/requests/by-endpoint`
 * (any key of the account) answered from the platform's job records. Errors use the Platform API
 * envelope.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Call, PlatformEnv } from "../call.js"
import { deletePayloads } from "../deletion.js"
import * as History from "../history.js"
import * as HistoryRecords from "../historyRecords.js"
import { envelope, json } from "../http.js"
import { idempotent } from "../idempotency.js"
import { authenticated, validOptions } from "../middleware.js"

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const deleteRequestPayloads = Effect.gen(function*() {
  const env = yield* PlatformEnv
  const call = yield* Call
  const id = (yield* HttpRouter.params).id ?? ""
  if (!uuidPattern.test(id)) {
    return envelope(400, "validation_error", `request_id must be a UUID, got '${id}'`, call.gatewayId)
  }
  const deleted = yield* deletePayloads(env, id)
  if (Option.isNone(deleted)) return envelope(404, "not_found", `Request '${id}' not found`, call.gatewayId)
  return json(200, { cdn_delete_results: deleted.value })
})

const requestHistory = Effect.flatMap(
  PlatformEnv,
  (env) => Effect.provideService(History.handler, History.RequestHistory, HistoryRecords.service(env))
)

export const router = HttpRouter.empty.pipe(
  HttpRouter.get("/models/requests/by-endpoint", requestHistory.pipe(authenticated("envelope"))),
  HttpRouter.del(
    "/models/requests/:id/payloads",
    deleteRequestPayloads.pipe(idempotent, validOptions("envelope"), authenticated("envelope", "ADMIN"))
  )
)

export const notFound = Effect.map(Call, (call) => envelope(404, "not_found", "Not Found", call.gatewayId))
