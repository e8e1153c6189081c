import * as RequestOptions from "@effect-fal/headers/RequestOptions"
import * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { FalClient, type Service } from "../FalClient.js"
import * as FalError from "../FalError.js"
import * as ModelId from "../ModelId.js"
import * as Retry from "../Retry.js"
import * as Errors from "./errors.js"

export interface Call<A> {
  readonly operation: Retry.Operation
  readonly request: HttpClientRequest.HttpClientRequest
  readonly retry?: Retry.Override | undefined
  readonly requestId?: string | undefined
  readonly maxQueueLength?: boolean | undefined
  /** Statuses handed to `onResponse` rather than turned into errors; default 2xx. */
  readonly accept?: ((status: number) => boolean) | undefined
  readonly onResponse: (
    response: HttpClientResponse.HttpClientResponse,
    meta: ResponseMeta.ResponseMeta
  ) => Effect.Effect<A, FalError.FalError>
}

const ok = (status: number) => status >= 200 && status < 300

/** The body of an error answer; a read failure leaves it empty (the status says enough). */
const errorText = (response: HttpClientResponse.HttpClientResponse) => Effect.orElseSucceed(response.text, () => "")

/** Turns a platform error into a `FalError`: a status answer is classified, the rest is transport. */
export const fromHttpClientError = (
  context: Errors.Context,
  error: HttpClientError.HttpClientError
): Effect.Effect<never, FalError.FalError> =>
  error._tag === "ResponseError" && error.reason === "StatusCode"
    ? Effect.flatMap(
      errorText(error.response),
      (text) => Effect.flip(Errors.fromStatus(context, error.response.status, error.response.headers, text))
    )
    : Effect.fail(Errors.transport(context.operation, error, context.requestId))

/** What every result carries: its request id and the response metadata. */
interface Traceable {
  readonly requestId?: string | undefined
  readonly meta: ResponseMeta.ResponseMeta
}

/**
 * Runs an operation in a client span `fal.<operation>` with the model and request ids; on
 * success the span also gets the request id, billable units and serving runner fal reported.
 */
export const traced =
  (operation: string, attributes: Readonly<Record<string, string | undefined>>) =>
  <A extends Traceable, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    effect.pipe(
      Effect.tap((result) => {
        const reported: Record<string, string | number> = {}
        const requestId = result.requestId ?? result.meta.requestId
        if (requestId !== undefined) reported["fal.request_id"] = requestId
        if (result.meta.billableUnits !== undefined) reported["fal.billable_units"] = result.meta.billableUnits
        if (result.meta.servedFrom !== undefined) reported["fal.served_from"] = result.meta.servedFrom
        return Effect.annotateCurrentSpan(reported)
      }),
      Effect.withSpan(`fal.${operation}`, {
        kind: "client",
        attributes: Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined))
      })
    )

/** Removes the service's credentials (the key and the admin key) from a text. */
export const redact = (service: Service): (text: string) => string =>
  Errors.redactor([
    Redacted.value(service.key),
    ...Option.match(service.adminKey, { onNone: () => [], onSome: (key) => [Redacted.value(key)] })
  ])

/** One attempt: send, classify the status, hand a success to `onResponse`. */
export const attempt = <A>(service: Service, call: Call<A>): Effect.Effect<A, FalError.FalError> => {
  const context: Errors.Context = {
    operation: call.operation,
    requestId: call.requestId,
    maxQueueLength: call.maxQueueLength,
    redact: redact(service)
  }
  return service.httpClient.execute(call.request).pipe(
    Effect.catchAll((error) => fromHttpClientError(context, error)),
    Effect.flatMap((response) => {
      const accept = call.accept ?? ok
      if (accept(response.status)) return call.onResponse(response, ResponseMeta.fromHeaders(response.headers))
      return Effect.flatMap(
        errorText(response),
        (text) => Effect.flip(Errors.fromStatus(context, response.status, response.headers, text))
      )
    })
  )
}

/** Retries a whole attempt under the operation's policy (or the call's override). */
export const withRetry = <A, R>(
  operation: Retry.Operation,
  retry: Retry.Override | undefined,
  effect: Effect.Effect<A, FalError.FalError, R>
): Effect.Effect<A, FalError.FalError, R> =>
  retry === false ? effect : Effect.retry(effect, Retry.policy(operation, retry))

/** Runs a call with the client from the context, retried by policy. */
export const execute = <A>(call: Call<A>): Effect.Effect<A, FalError.FalError, FalClient> =>
  Effect.flatMap(FalClient, (service) => withRetry(call.operation, call.retry, attempt(service, call)))

/** Reads the body as JSON; an unreadable body is a `DecodeError`, a dropped connection a `TransportError`. */
export const json = (
  operation: Retry.Operation,
  response: HttpClientResponse.HttpClientResponse,
  requestId: string | undefined
): Effect.Effect<unknown, FalError.FalError> =>
  response.text.pipe(
    Effect.catchAll((error) => Effect.fail(Errors.transport(operation, error, requestId))),
    Effect.flatMap((text) =>
      Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: () =>
          new FalError.DecodeError({
            operation,
            status: response.status,
            description: `the body is not JSON: ${JSON.stringify(Errors.clip(text, 120))}`,
            ...(requestId === undefined ? {} : { requestId })
          })
      })
    )
  )

/** Decodes with a schema; a mismatch is a `DecodeError`. */
export const decode = <A, I>(
  operation: Retry.Operation,
  schema: Schema.Schema<A, I>,
  value: unknown,
  context: { readonly status?: number | undefined; readonly requestId?: string | undefined }
): Effect.Effect<A, FalError.DecodeError> =>
  Schema.decodeUnknown(schema)(value).pipe(
    Effect.mapError((error) =>
      new FalError.DecodeError({
        operation,
        description: Errors.clip(ParseResult.TreeFormatter.formatErrorSync(error), 2000),
        ...(context.status === undefined ? {} : { status: context.status }),
        ...(context.requestId === undefined ? {} : { requestId: context.requestId })
      })
    )
  )

/** Validates a model id before anything is sent. */
export const modelId = (id: string): Effect.Effect<ModelId.ModelId, FalError.InvalidModelId> =>
  Either.match(ModelId.parse(id), { onLeft: Effect.fail, onRight: Effect.succeed })

// eslint-disable-next-line no-control-regex
const badRequestId = /[\s\u0000-\u001f\u007f/?#%\\]/

/** Validates a request id used in a URL path. */
export const requestId = (id: string): Effect.Effect<string, FalError.InvalidRequestId> => {
  if (id.length === 0) return Effect.fail(new FalError.InvalidRequestId({ requestId: id, reason: "is empty" }))
  if (badRequestId.test(id) || id === "." || id === "..") {
    return Effect.fail(
      new FalError.InvalidRequestId({
        requestId: id,
        reason: "contains whitespace, a control character, '/', '?', '#', '%' or '\\'"
      })
    )
  }
  return Effect.succeed(id)
}

/** Encodes request options for the wire, before anything is sent. */
export const wire = (
  service: Service,
  options: RequestOptions.RequestOptions | undefined
): Effect.Effect<RequestOptions.Wire, FalError.InvalidRequestOptions> =>
  options === undefined
    ? Effect.succeed({ headers: {}, query: {} })
    : Either.match(
      RequestOptions.toWire(
        options,
        service.startTimeoutHeader === undefined ? undefined : { startTimeoutHeader: service.startTimeoutHeader }
      ),
      { onLeft: Effect.fail, onRight: Effect.succeed }
    )

/**
 * The request that sends `input` to a model: `POST {base}/{full model id}` with the encoded
 * options and the input as JSON. The model id, the options and the input are all checked here,
 * before anything is sent.
 */
export const modelRequest = (
  service: Service,
  base: string,
  id: string,
  input: unknown,
  options: RequestOptions.RequestOptions | undefined
): Effect.Effect<
  { readonly modelId: ModelId.ModelId; readonly request: HttpClientRequest.HttpClientRequest },
  FalError.InvalidModelId | FalError.InvalidRequestOptions | FalError.ValidationError
> =>
  Effect.gen(function*() {
    const parsed = yield* modelId(id)
    const encoded = yield* wire(service, options)
    const request = yield* jsonBody(
      withWire(HttpClientRequest.post(`${base}/${ModelId.fullPath(parsed)}`), encoded).pipe(
        HttpClientRequest.acceptJson
      ),
      input
    )
    return { modelId: parsed, request }
  })

/** Applies encoded options to a request. */
export const withWire = (
  request: HttpClientRequest.HttpClientRequest,
  encoded: RequestOptions.Wire
): HttpClientRequest.HttpClientRequest =>
  request.pipe(HttpClientRequest.setHeaders(encoded.headers), HttpClientRequest.setUrlParams(encoded.query))

/** Sets `input` as the JSON body; input that cannot be serialised fails before sending. */
export const jsonBody = (
  request: HttpClientRequest.HttpClientRequest,
  input: unknown
): Effect.Effect<HttpClientRequest.HttpClientRequest, FalError.ValidationError> =>
  Effect.try({
    try: () => {
      const text = JSON.stringify(input)
      if (text === undefined) throw new Error("not serialisable")
      return HttpClientRequest.bodyText(request, text, "application/json")
    },
    catch: (error) =>
      new FalError.ValidationError({
        issues: [
          new FalError.ValidationIssue({
            loc: ["body"],
            msg: `the input cannot be sent as JSON${error instanceof Error ? `: ${error.message}` : ""}`,
            type: "json"
          })
        ]
      })
  })
