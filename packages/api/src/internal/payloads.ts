import * as RequestOptions from "@effect-fal/headers/RequestOptions"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { FalClient, type Service, withAdminCredential } from "../FalClient.js"
import * as FalError from "../FalError.js"
import type * as Payloads from "../Payloads.js"
import type * as Retry from "../Retry.js"
import * as Request from "./request.js"

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const validId = (requestId: string): Effect.Effect<string, FalError.InvalidRequestId> =>
  uuid.test(requestId)
    ? Effect.succeed(requestId)
    : Effect.fail(new FalError.InvalidRequestId({ requestId, reason: "must be a UUID" }))

const LinkWire = Schema.Struct({ link: Schema.String, exception: Schema.optional(Schema.NullOr(Schema.String)) })
const DeletionWire = Schema.Struct({
  cdn_delete_results: Schema.optional(Schema.NullOr(Schema.Array(LinkWire))),
  CDN_DELETE_RESULTS: Schema.optional(Schema.NullOr(Schema.Array(LinkWire)))
})

const run = (
  operation: Extract<Retry.Operation, "delete" | "deleteLegacy">,
  requestId: string,
  request: HttpClientRequest.HttpClientRequest,
  options: Payloads.DeleteOptions | undefined
) =>
  withAdminCredential(Request.executeWithClient({
    operation,
    request: HttpClientRequest.acceptJson(request),
    retry: options?.retry,
    timeouts: options?.timeouts,
    deadline: options?.deadline,
    requestId,
    onResponse: (response, meta) =>
      Request.json(operation, response, requestId).pipe(
        Effect.flatMap((json) =>
          Request.decode(operation, DeletionWire, json, { status: response.status, requestId, meta })
        ),
        Effect.map((body): Payloads.PayloadDeletion => ({
          requestId,
          links: (body.cdn_delete_results ?? body.CDN_DELETE_RESULTS ?? []).map((link) => ({
            link: link.link,
            error: Option.fromNullable(link.exception)
          })),
          meta,
          replayed: response.headers["idempotent-replayed"] === "true"
        }))
      )
  }))

/**
 * One `Idempotency-Key` for the whole logical call (the caller's, or a fresh UUID), encoded once
 * so that every retried attempt carries the same one; an invalid key fails before sending.
 */
const idempotencyHeaders = (
  idempotencyKey: string | undefined
): Effect.Effect<RequestOptions.Wire["headers"], FalError.InvalidRequestOptions> =>
  Effect.gen(function*() {
    const key = idempotencyKey ?? (yield* Effect.sync(() => crypto.randomUUID()))
    const encoded = yield* Either.match(RequestOptions.toWire({ idempotencyKey: key }), {
      onLeft: Effect.fail,
      onRight: Effect.succeed
    })
    return encoded.headers
  })

const deletion = (
  operation: "delete" | "deleteLegacy",
  url: (service: Service, id: string) => HttpClientRequest.HttpClientRequest,
  requestId: string,
  options: Payloads.DeleteOptions | Payloads.DeleteLegacyOptions | undefined
): Effect.Effect<Payloads.PayloadDeletion, FalError.FalError, FalClient> =>
  Effect.gen(function*() {
    yield* Effect.annotateCurrentSpan("fal.request_id", requestId)
    const service = yield* FalClient
    const id = yield* validId(requestId)
    const headers = yield* idempotencyHeaders(options?.idempotencyKey)
    return yield* run(operation, id, HttpClientRequest.setHeaders(url(service, id), headers), options)
  }).pipe(Effect.tap(Request.annotate))

export const delete_ = Effect.fn("fal.delete", { kind: "client" })((
  requestId: string,
  options?: Payloads.DeleteOptions
): Effect.Effect<Payloads.PayloadDeletion, FalError.FalError, FalClient> =>
  deletion(
    "delete",
    (service, id) => HttpClientRequest.del(`${service.urls.api}/models/requests/${id}/payloads`),
    requestId,
    options
  )
)

export const deleteLegacy = Effect.fn("fal.deleteLegacy", { kind: "client" })((
  requestId: string,
  options?: Payloads.DeleteLegacyOptions
): Effect.Effect<Payloads.PayloadDeletion, FalError.FalError, FalClient> =>
  deletion(
    "deleteLegacy",
    (service, id) => HttpClientRequest.put(`${service.urls.rest}/requests/delete_io/${id}`),
    requestId,
    options
  )
)
