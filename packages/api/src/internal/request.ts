import * as RequestOptions from "@effect-fal/headers/RequestOptions"
import * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { FalClient, type Service } from "../FalClient.js"
import * as FalError from "../FalError.js"
import * as ModelId from "../ModelId.js"
import * as Retry from "../Retry.js"
import type * as Budget from "./budget.js"
import * as Errors from "./errors.js"
import * as Redact from "./redact.js"

/**
 * One call to fal, described once: the operation (its retry policy, timeouts and span name),
 * the request, the request id when known, the per-call overrides, and what to do with a success.
 */
export interface Call<A> {
  readonly operation: Retry.Operation
  readonly request: HttpClientRequest.HttpClientRequest
  readonly retry?: Retry.Override | undefined
  readonly requestId?: string | undefined
  readonly maxQueueLength?: boolean | undefined
  /** Per-attempt limits over the client's for this operation. */
  readonly timeouts?: Timeouts | undefined
  /** A bound on the whole call, retries and their delays included. */
  readonly deadline?: Duration.DurationInput | undefined
  /** Statuses handed to `onResponse` rather than turned into errors; default 2xx. */
  readonly accept?: ((status: number) => boolean) | undefined
  /** Errors retried beyond the operation's own rule (idempotent reads); the budget and schedule still apply. */
  readonly retryAlso?: RetryAlso | undefined
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
      (text) =>
        Effect.flatMap(Errors.fromStatus(context, error.response.status, error.response.headers, text), Effect.fail)
    )
    : Effect.fail(Errors.transport(context.operation, error, context.requestId))

/** What every result carries: its request id and the response metadata. */
interface Traceable {
  readonly requestId?: string | undefined
  readonly meta: ResponseMeta.ResponseMeta
}

/** Puts what fal reported (request id, billable units, serving runner) on the current span. */
export const annotate = (result: Traceable): Effect.Effect<void> =>
  Effect.currentSpan.pipe(
    Effect.map((span) => {
      const requestId = result.requestId ?? result.meta.requestId
      if (requestId !== undefined) span.attribute("fal.request_id", requestId)
      if (result.meta.billableUnits !== undefined) span.attribute("fal.billable_units", result.meta.billableUnits)
      if (result.meta.servedFrom !== undefined) span.attribute("fal.served_from", result.meta.servedFrom)
    }),
    Effect.ignore
  )

/**
 * Runs an operation in a client span `fal.<operation>` with the model and request ids; on
 * success the span also gets the request id, billable units and serving runner fal reported.
 */
export const traced =
  (operation: string, attributes: Readonly<Record<string, string | undefined>>) =>
  <A extends Traceable, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const defined: Record<string, string> = {}
    for (const name in attributes) {
      const value = attributes[name]
      if (value !== undefined) defined[name] = value
    }
    return effect.pipe(
      Effect.tap(annotate),
      Effect.withSpan(`fal.${operation}`, { kind: "client", attributes: defined })
    )
  }

/** The service's redactor (built once in `FalClient.make`). */
export const redact = (service: Service): (text: string) => string => service.redact

/** Per-attempt limits of a call: the call's over the client's for the operation. */
export interface Timeouts {
  readonly headers?: Duration.DurationInput | undefined
  readonly body?: Duration.DurationInput | undefined
}

const limits = (
  service: Service,
  call: { readonly operation: Retry.Operation; readonly timeouts?: Timeouts | undefined }
) => {
  const client = service.timeouts[call.operation]
  return {
    headers: call.timeouts?.headers === undefined ? client.headers : Duration.decode(call.timeouts.headers),
    body: call.timeouts?.body === undefined ? client.body : Duration.decode(call.timeouts.body)
  }
}

const timedOut = (
  operation: Retry.Operation,
  which: "headers" | "body",
  after: Duration.Duration,
  requestId: string | undefined
) =>
  new FalError.TransportError({
    operation,
    mayHaveReached: true,
    timeout: which,
    description: which === "headers"
      ? `no answer within ${Duration.format(after)} (headers timeout)`
      : `the answer's body did not arrive within ${Duration.format(after)} (body timeout)`,
    ...(requestId === undefined ? {} : { requestId })
  })

/**
 * Sends a request in an `http.client` span of its own. The platform's span is turned off because
 * its recorded exit holds the request, authorization header included; this span ends with the
 * status (or the already-redacted `FalError`), so a tracer that serialises exits sees no key.
 */
const send = (
  service: Service,
  request: HttpClientRequest.HttpClientRequest,
  context: Errors.Context
): Effect.Effect<HttpClientResponse.HttpClientResponse, FalError.FalError> =>
  Effect.flatMap(
    Effect.makeSpan(`http.client ${request.method}`, {
      kind: "client",
      captureStackTrace: false,
      attributes: { "http.request.method": request.method, "url.full": request.url }
    }),
    (span) =>
      service.httpClient.execute(HttpClientRequest.setHeaders(request, HttpTraceContext.toHeaders(span))).pipe(
        Effect.locally(HttpClient.currentTracerDisabledWhen, Redact.platformSpanOff),
        Effect.catchAll((error) => Effect.mapError(fromHttpClientError(context, error), Redact.error(service.redact))),
        Effect.onExit((exit) =>
          Effect.clockWith((clock) => {
            // whole milliseconds: a test clock moved by jittered delays may stand on a fraction
            const now = BigInt(Math.round(clock.unsafeCurrentTimeMillis())) * 1_000_000n
            if (Exit.isSuccess(exit)) {
              span.attribute("http.response.status_code", exit.value.status)
              span.end(now, Exit.succeed(exit.value.status))
            } else {
              span.end(now, exit)
            }
            return Effect.void
          })
        ),
        Effect.withParentSpan(span)
      )
  )

/** One attempt: send, classify the status, hand a success to `onResponse`; errors are redacted. */
export const attempt = <A>(service: Service, call: Call<A>): Effect.Effect<A, FalError.FalError> => {
  const context: Errors.Context = {
    operation: call.operation,
    requestId: call.requestId,
    maxQueueLength: call.maxQueueLength
  }
  const limit = limits(service, call)
  const accept = call.accept ?? ok
  const sent = Effect.timeoutFail(send(service, call.request, context), {
    duration: limit.headers,
    onTimeout: () => timedOut(call.operation, "headers", limit.headers, call.requestId)
  })
  return Effect.flatMap(sent, (response) => {
    const handled = accept(response.status)
      ? call.onResponse(response, ResponseMeta.fromHeaders(response.headers))
      : Effect.flatMap(
        errorText(response),
        (text) => Effect.flatMap(Errors.fromStatus(context, response.status, response.headers, text), Effect.fail)
      )
    return handled.pipe(
      Effect.timeoutFail({
        duration: limit.body,
        onTimeout: () =>
          timedOut(call.operation, "body", limit.body, call.requestId ?? response.headers["x-fal-request-id"])
      }),
      Effect.mapError(Redact.error(service.redact))
    )
  })
}

/** A retry condition added to the operation's own (e.g. for a status or result read). */
export type RetryAlso = (error: FalError.FalError) => boolean

/**
 * Retries a whole attempt under the operation's policy (or the call's override) and the client's
 * budget. The first attempt runs alone: the schedule and its driver are built only after a
 * retryable failure, so a call that succeeds first time pays nothing for its retry policy.
 * `also` retries errors the operation's predicate would not (the queue's idempotent reads).
 */
export const withRetry = <A, R>(
  operation: Retry.Operation,
  retry: Retry.Override | undefined,
  effect: Effect.Effect<A, FalError.FalError, R>,
  budget: Option.Option<Budget.Budget> = Option.none(),
  also?: RetryAlso | undefined
): Effect.Effect<A, FalError.FalError, R> => {
  if (retry === false) return effect
  const bucket = Option.getOrUndefined(budget)
  const retryable = also === undefined
    ? Retry.isRetryable(operation)
    : (error: FalError.FalError) => Retry.isRetryable(operation)(error) || also(error)
  const again = (first: FalError.FalError): Effect.Effect<A, FalError.FalError, R> => {
    if (!retryable(first)) return Effect.fail(first)
    const policy = Retry.policy(operation, retry, also)
    const schedule = bucket === undefined ? policy : Schedule.checkEffect(policy, (error) => bucket.take(error))
    return Effect.flatMap(Schedule.driver(schedule), (driver) => {
      const loop = (error: FalError.FalError): Effect.Effect<A, FalError.FalError, R> =>
        Effect.matchEffect(driver.next(error), {
          onFailure: () => Effect.fail(error),
          onSuccess: () => Effect.catchAll(effect, loop)
        })
      return loop(first)
    })
  }
  const once = Effect.catchAll(effect, again)
  return bucket === undefined ? once : Effect.map(once, (value) => {
    bucket.refill()
    return value
  })
}

/**
 * Bounds a whole call (retries and delays included): past `deadline` it fails with
 * `DeadlineExceeded`, carrying `requestId` when known.
 */
export const withDeadline = <A, R>(
  operation: Retry.Operation,
  deadline: Duration.DurationInput | undefined,
  requestId: string | undefined,
  effect: Effect.Effect<A, FalError.FalError, R>
): Effect.Effect<A, FalError.FalError, R> => {
  if (deadline === undefined) return effect
  const bound = Duration.decode(deadline)
  return Effect.timeoutFail(effect, {
    duration: bound,
    onTimeout: () =>
      new FalError.DeadlineExceeded({
        operation,
        deadline: bound,
        // a read or a cancel addresses an existing job; a run or a submit may have created one
        mayHaveReached: true,
        ...(requestId === undefined ? {} : { requestId })
      })
  })
}

/** Runs a call with the client from the context: timeouts per attempt, retried by policy and budget, bounded by the deadline. */
export const execute = <A>(call: Call<A>): Effect.Effect<A, FalError.FalError, FalClient> =>
  Effect.flatMap(FalClient, (service) =>
    withDeadline(
      call.operation,
      call.deadline,
      call.requestId,
      withRetry(call.operation, call.retry, attempt(service, call), service.retryBudget, call.retryAlso)
    ))

/** Operations whose body is read by a GET: an incomplete body is a transport failure, safe to retry. */
const isRead = (operation: Retry.Operation) =>
  operation === "status" || operation === "statusStream" || operation === "result" || operation === "list"

/**
 * Reads the body as JSON. A dropped connection is a `TransportError`; a body that is not JSON is
 * a `DecodeError` for a run, a submit or a deletion, but a `TransportError` for a status or a
 * result read (idempotent GETs: a truncated body is retried like any transport fault).
 */
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
        catch: (): FalError.FalError =>
          isRead(operation)
            ? new FalError.TransportError({
              operation,
              mayHaveReached: true,
              description: `the body is incomplete or not JSON (${text.length} characters)`,
              ...(requestId === undefined ? {} : { requestId })
            })
            : new FalError.DecodeError({
              operation,
              status: response.status,
              description: `the body is not JSON: ${JSON.stringify(Errors.clip(text, 120))}`,
              meta: ResponseMeta.fromHeaders(response.headers),
              ...(requestId === undefined ? {} : { requestId })
            })
      })
    )
  )

/** Decodes with a schema; a mismatch is a `DecodeError` (redacted by the call that runs it). */
export const decode = <A, I>(
  operation: Retry.Operation,
  schema: Schema.Schema<A, I>,
  value: unknown,
  context: {
    readonly status?: number | undefined
    readonly requestId?: string | undefined
    readonly meta?: ResponseMeta.ResponseMeta | undefined
  }
): Effect.Effect<A, FalError.DecodeError> =>
  Schema.decodeUnknown(schema)(value).pipe(
    Effect.mapError((error) =>
      new FalError.DecodeError({
        operation,
        description: Errors.clip(ParseResult.TreeFormatter.formatErrorSync(error), 2000),
        ...(context.status === undefined ? {} : { status: context.status }),
        ...(context.requestId === undefined ? {} : { requestId: context.requestId }),
        ...(context.meta === undefined ? {} : { meta: context.meta })
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

/** Redacts the client's credentials from an error built outside `attempt` (e.g. from a stream's events). */
export const redactError = (service: Service): (error: FalError.FalError) => FalError.FalError =>
  Redact.error(service.redact)
