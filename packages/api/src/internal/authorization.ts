/**
 * Removing the credential from a request, shared by the client's host check and the storage
 * upload's pre-signed PUTs.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Option from "effect/Option"

/** The request without any `authorization` header (`modify` can only add headers, so it is rebuilt). */
export const withoutAuthorization = (
  request: HttpClientRequest.HttpClientRequest
): HttpClientRequest.HttpClientRequest =>
  Headers.has(request.headers, "authorization")
    ? HttpClientRequest.modify(HttpClientRequest.get(request.url), {
      method: request.method,
      urlParams: request.urlParams,
      headers: Headers.remove(request.headers, "authorization"),
      body: request.body,
      ...(Option.isSome(request.hash) ? { hash: request.hash.value } : {})
    })
    : request
