import * as RequestOptions from "@effect-fal/headers/RequestOptions"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { FalClient, withAdminCredential } from "../FalClient.js"
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
          meta
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

export const delete_ = Effect.fn("fal.delete", { kind: "client" })(function*(
  requestId: string,
  options?: Payloads.DeleteOptions
): Effect.fn.Return<Payloads.PayloadDeletion, FalError.FalError, FalClient> {
  yield* Effect.annotateCurrentSpan("fal.request_id", requestId)
  const service = yield* FalClient
  const id = yield* validId(requestId)
  const headers = yield* idempotencyHeaders(options?.idempotencyKey)
  const request = HttpClientRequest.del(`${service.urls.api}/models/requests/${id}/payloads`).pipe(
    HttpClientRequest.setHeaders(headers)
  )
  const result = yield* run("delete", id, request, options)
  yield* Request.annotate(result)
  return result
})

export const deleteLegacy = Effect.fn("fal.deleteLegacy", { kind: "client" })(function*(
  requestId: string,
  options?: Payloads.DeleteLegacyOptions
): Effect.fn.Return<Payloads.PayloadDeletion, FalError.FalError, FalClient> {
  yield* Effect.annotateCurrentSpan("fal.request_id", requestId)
  const service = yield* FalClient
  const id = yield* validId(requestId)
  const headers = yield* idempotencyHeaders(options?.idempotencyKey)
  const request = HttpClientRequest.put(`${service.urls.rest}/requests/delete_io/${id}`).pipe(
    HttpClientRequest.setHeaders(headers)
  )
  const result = yield* run("deleteLegacy", id, request, options)
  yield* Request.annotate(result)
  return result
})
