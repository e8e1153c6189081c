/**
 * The call pipeline: every HTTP call to fal goes through {@link execute} (an answer read whole)
 * or {@link open} (an answer read as a stream of bytes). One call is
 *
 * ```
 * deadline (Effect.timeoutFail)
 *   retry (Effect.retry with the operation's Schedule, fal's predicate and the retry budget)
 *     attempt: span `http.client <METHOD>` (Effect.useSpan)
 *       send     (HttpClient.execute, bounded by the `headers` limit: Effect.timeoutFail)
 *       classify (a non-accepted status becomes its FalError)
 *       read     (the caller's `onResponse`, bounded by the `body` limit)
 *       redact   (every FalError passes through the client's redactor)
 * ```
 *
 * `Fal.run` (`./run.ts`) is its simplest user: it prepares the request ({@link modelRequest}) and
 * hands it to {@link execute}; from there to the wire, everything is in this file.
 */
import type { InvalidRequestOptions } from "@effect-fal/headers/InvalidRequestOptions"
import * as RequestOptions from "@effect-fal/headers/RequestOptions"
import * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import * as HttpBody from "@effect/platform/HttpBody"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { FalClient, type Service } from "../FalClient.js"
import * as FalError from "../FalError.js"
import * as ModelId from "../ModelId.js"
import * as Retry from "../Retry.js"
import type * as Budget from "./budget.js"
import * as Errors from "./errors.js"
import * as Redact from "./redact.js"

// -----------------------------------------------------------------------------
// the pipeline
// -----------------------------------------------------------------------------

/** Decodes a model's output with the optional schema. */
export const output = <A, I>(
  operation: "run" | "result",
  schema: Schema.Schema<A, I> | undefined,
  value: unknown,
  context: { readonly status: number; readonly requestId: string | undefined }
): Effect.Effect<A, FalError.FalError> =>
  schema === undefined
    ? Effect.succeed(value as A) // only reachable through the overload without a schema, where A is `unknown`
    : decode(operation, schema, value, context)

/**
 * What the pipeline needs of a client: `FalClient`'s service has all of it; the JWKS fetch, which
 * needs no key, builds one from the application's `HttpClient` (`WebhookKeys`).
 */
export interface Pipeline {
  readonly httpClient: HttpClient.HttpClient
  readonly timeouts: Service["timeouts"]
  readonly retryBudget: Option.Option<Budget.Budget>
  readonly redact: (text: string) => string
}

/** Per-attempt limits of a call, over the client's for the operation. */
export interface Timeouts {
  readonly headers?: Duration.DurationInput | undefined
  readonly body?: Duration.DurationInput | undefined
}

/** A retry condition added to the operation's own (e.g. any 5xx on an idempotent read). */
export type RetryAlso = (error: FalError.FalError) => boolean

/**
 * One call to fal: the operation (its retry policy, limits and error context), the request, and
 * what to do with an accepted answer.
 */
export interface Call<A> {
  readonly operation: Retry.Operation
  /** The model addressed, named by the call's errors. */
  readonly modelId?: string | undefined
  readonly request: HttpClientRequest.HttpClientRequest
  readonly requestId?: string | undefined
  readonly retry?: Retry.Override | undefined
  readonly timeouts?: Timeouts | undefined
  /** A bound on the whole call, retries and their delays included. */
  readonly deadline?: Duration.DurationInput | undefined
  /** The call set `fal_max_queue_length` (a 429 then means the queue is full). */
  readonly maxQueueLength?: boolean | undefined
  /** Statuses handed to `onResponse` rather than turned into errors; default 2xx. */
  readonly accept?: ((status: number) => boolean) | undefined
  readonly retryAlso?: RetryAlso | undefined
  /** Reads an accepted answer, within the `body` limit. */
  readonly onResponse: (
    response: HttpClientResponse.HttpClientResponse,
    meta: ResponseMeta.ResponseMeta
  ) => Effect.Effect<A, FalError.FalError>
}

const ok = (status: number) => status >= 200 && status < 300

const limits = (pipeline: Pipeline, call: Call<unknown>) => {
  const client = pipeline.timeouts[call.operation]
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

/** A platform error as a `FalError`: a status answer is classified, the rest is transport. */
export const fromHttpClientError = (
  context: Errors.Context,
  error: HttpClientError.HttpClientError
): Effect.Effect<never, FalError.FalError> =>
  error._tag === "ResponseError" && error.reason === "StatusCode"
    ? fromResponse(context, error.response)
    : Effect.fail(Errors.transport(context.operation, error, context.requestId))

/** The `FalError` of an answer that is not accepted, from its status, headers and body. */
export const fromResponse = (
  context: Errors.Context,
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<never, FalError.FalError> =>
  Effect.flatMap(
    // a body that cannot be read leaves the error to the status and headers
    Effect.orElseSucceed(response.text, () => ""),
    (text) => Errors.fromStatus(context, response.status, response.headers, text)
  )

/**
 * One attempt in its `http.client` span: send, classify, read. The span's exit is the call's
 * value or its redacted error, never the request (its `Authorization` header included): the
 * platform's own span, which would end with the response and its request, is off
 * (`FalClient.make`). `seen` learns the request id as soon as the headers say it.
 */
const attempt = <A>(
  pipeline: Pipeline,
  call: Call<A>,
  seen: { requestId: string | undefined }
): Effect.Effect<A, FalError.FalError> => {
  const limit = limits(pipeline, call)
  const accept = call.accept ?? ok
  const request = call.request
  return Effect.useSpan(
    `http.client ${request.method}`,
    {
      kind: "client",
      captureStackTrace: false,
      attributes: { "http.request.method": request.method, "url.full": request.url }
    },
    (span) =>
      pipeline.httpClient.execute(HttpClientRequest.setHeaders(request, HttpTraceContext.toHeaders(span))).pipe(
        Effect.catchAll((error) =>
          fromHttpClientError({ operation: call.operation, modelId: call.modelId, requestId: seen.requestId }, error)
        ),
        Effect.timeoutFail({
          duration: limit.headers,
          onTimeout: () => timedOut(call.operation, "headers", limit.headers, seen.requestId)
        }),
        Effect.flatMap((response) => {
          span.attribute("http.response.status_code", response.status)
          const meta = ResponseMeta.fromHeaders(response.headers)
          seen.requestId ??= meta.requestId
          const context = {
            operation: call.operation,
            modelId: call.modelId,
            requestId: seen.requestId,
            maxQueueLength: call.maxQueueLength
          }
          return Effect.timeoutFail(
            accept(response.status) ? call.onResponse(response, meta) : fromResponse(context, response),
            {
              duration: limit.body,
              onTimeout: () => timedOut(call.operation, "body", limit.body, seen.requestId)
            }
          )
        }),
        Effect.mapError(Redact.error(pipeline.redact)),
        Effect.withParentSpan(span)
      )
  )
}

/**
 * The retry schedule of a call: the operation's policy (or the call's override) under fal's
 * predicate and `Retry-After`, each retry paid for from the client's budget.
 */
export const schedule = (
  pipeline: Pick<Pipeline, "retryBudget">,
  operation: Retry.Operation,
  retry: Retry.Policy | undefined,
  also?: RetryAlso | undefined
): Retry.Policy => {
  const policy = Retry.policy(operation, retry, also)
  return Option.match(pipeline.retryBudget, {
    onNone: () => policy,
    onSome: (budget) => Schedule.checkEffect(policy, (error) => budget.take(error))
  })
}

/** Retries `effect` under the call's schedule; a success refills the budget. */
export const withRetry = <A, R>(
  pipeline: Pick<Pipeline, "retryBudget">,
  operation: Retry.Operation,
  retry: Retry.Override | undefined,
  effect: Effect.Effect<A, FalError.FalError, R>,
  also?: RetryAlso | undefined
): Effect.Effect<A, FalError.FalError, R> => {
  if (retry === false) return effect
  const retried = Effect.retry(effect, schedule(pipeline, operation, retry, also))
  return Option.match(pipeline.retryBudget, {
    onNone: () => retried,
    onSome: (budget) => Effect.tap(retried, () => budget.refill())
  })
}

/**
 * Bounds a whole call (retries and delays included): past `deadline` it fails with
 * `DeadlineExceeded`, carrying the request id when one is known by then.
 */
export const withDeadline = <A, E, R>(
  operation: string,
  deadline: Duration.DurationInput | undefined,
  requestId: () => string | undefined,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | FalError.DeadlineExceeded, R> => {
  if (deadline === undefined) return effect
  const bound = Duration.decode(deadline)
  return Effect.timeoutFail(effect, {
    duration: bound,
    onTimeout: () => {
      const id = requestId()
      return new FalError.DeadlineExceeded({
        operation,
        deadline: bound,
        // a read or a cancel addresses an existing job; a run or a submit may have created one
        mayHaveReached: true,
        ...(id === undefined ? {} : { requestId: id })
      })
    }
  })
}

/** Runs a call: per-attempt limits, retried by policy and budget, bounded by the deadline. */
export const execute = <A>(pipeline: Pipeline, call: Call<A>): Effect.Effect<A, FalError.FalError> =>
  Effect.suspend(() => {
    const seen = { requestId: call.requestId }
    return withDeadline(
      call.operation,
      call.deadline,
      () => seen.requestId,
      withRetry(pipeline, call.operation, call.retry, attempt(pipeline, call, seen), call.retryAlso)
    )
  })

/** Runs a call with the client from the context (see {@link execute}). */
export const executeWithClient = <A>(call: Call<A>): Effect.Effect<A, FalError.FalError, FalClient> =>
  Effect.flatMap(FalClient, (service) => execute(service, call))

/** An answer whose body is read as a stream (an SSE status stream, a streaming endpoint). */
export interface Opened {
  readonly status: number
  readonly headers: HttpClientResponse.HttpClientResponse["headers"]
  readonly meta: ResponseMeta.ResponseMeta
  /** The body; failures are `TransportError`s of the operation. */
  readonly body: Stream.Stream<Uint8Array, FalError.FalError>
}

/**
 * Opens a call whose body is read as a stream: the attempt ends once the headers are in (within
 * the `headers` limit), retried as any call; the body is read by the caller, and interrupting
 * its reader aborts the request. No `body` limit applies: a stream sets its own idle limit.
 */
export const open = (
  pipeline: Pipeline,
  call: Omit<Call<Opened>, "onResponse" | "deadline">
): Effect.Effect<Opened, FalError.FalError> =>
  execute(pipeline, {
    ...call,
    onResponse: (response, meta) =>
      Effect.succeed({
        status: response.status,
        headers: response.headers,
        meta,
        body: Stream.mapError(
          response.stream,
          (error) =>
            Redact.error(pipeline.redact)(Errors.transport(call.operation, error, meta.requestId ?? call.requestId))
        )
      })
  })

// -----------------------------------------------------------------------------
// reading answers
// -----------------------------------------------------------------------------

/**
 * Operations whose answer can be asked for again: the GETs, and the v1 deletion (every attempt
 * carries the same `Idempotency-Key`). An incomplete body is a transport failure, safe to retry.
 */
const isRead = (operation: Retry.Operation) =>
  operation === "status" || operation === "statusStream" || operation === "result" || operation === "list" ||
  operation === "delete"

/**
 * Reads the body as JSON. A dropped connection is a `TransportError`; a body that is not JSON is
 * a `DecodeError`, except where the answer can be asked for again (`isRead`), where a truncated
 * body is a `TransportError`, retried like any transport fault.
 */
export const json = (
  operation: Retry.Operation,
  response: HttpClientResponse.HttpClientResponse,
  requestId: string | undefined
): Effect.Effect<unknown, FalError.FalError> =>
  response.text.pipe(
    Effect.mapError((error) => Errors.transport(operation, error, requestId)),
    Effect.flatMap((text) =>
      Effect.try({
        try: (): unknown => JSON.parse(text),
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

/** Decodes with a schema; a mismatch is a `DecodeError`. */
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

/** What every result carries: its request id and the response metadata. */
interface Traceable {
  readonly requestId?: string | undefined
  readonly meta: ResponseMeta.ResponseMeta
}

/** Puts what fal reported (request id, billable units, serving runner) on the current span. */
export const annotate = (result: Traceable): Effect.Effect<void> => {
  const attributes: Record<string, unknown> = {}
  const requestId = result.requestId ?? result.meta.requestId
  if (requestId !== undefined) attributes["fal.request_id"] = requestId
  if (result.meta.billableUnits !== undefined) attributes["fal.billable_units"] = result.meta.billableUnits
  if (result.meta.servedFrom !== undefined) attributes["fal.served_from"] = result.meta.servedFrom
  return Effect.annotateCurrentSpan(attributes)
}

// -----------------------------------------------------------------------------
// preparing requests: everything is checked before anything is sent
// -----------------------------------------------------------------------------

/** Validates a model id. */
export const modelId = (id: string): Effect.Effect<ModelId.ModelId, FalError.InvalidModelId> =>
  Either.match(ModelId.parse(id), { onLeft: Effect.fail, onRight: Effect.succeed })

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Validates a fal request id (a UUID) before it is put in a URL. */
export const requestId = (id: string): Effect.Effect<string, FalError.InvalidRequestId> =>
  uuid.test(id)
    ? Effect.succeed(id)
    : Effect.fail(
      new FalError.InvalidRequestId({
        requestId: id,
        reason: "is not a fal request id (a UUID such as 8e3f5f0a-2b4c-4d6e-9f10-1a2b3c4d5e6f)"
      })
    )

/** Encodes request options for the wire. */
export const wire = (
  service: Service,
  options: RequestOptions.RequestOptions | undefined
): Either.Either<RequestOptions.Wire, InvalidRequestOptions> =>
  options === undefined ? Either.right({ headers: {}, query: {} }) : RequestOptions.toWire(
    options,
    service.startTimeoutHeader === undefined ? undefined : { startTimeoutHeader: service.startTimeoutHeader }
  )

/** `input` as JSON text; an input that cannot be serialised is a `ValidationError`. */
export const jsonText = (input: unknown): Either.Either<string, FalError.ValidationError> => {
  let text: string | undefined
  let reason = ""
  try {
    text = JSON.stringify(input)
  } catch (error) {
    reason = `: ${Errors.clip(error instanceof Error ? error.message : String(error), 200)}`
  }
  return text !== undefined ? Either.right(text) : Either.left(
    new FalError.ValidationError({
      issues: [
        new FalError.ValidationIssue({ loc: ["body"], msg: `the input cannot be sent as JSON${reason}`, type: "json" })
      ]
    })
  )
}

/** UTF-8 bytes of a text, counted only when its length says it may pass `limit`. */
const withinSize = (text: string, limit: number): Either.Either<string, FalError.ValidationError> => {
  // a UTF-16 unit is at most 3 bytes of UTF-8, and at least 1
  if (text.length * 3 <= limit) return Either.right(text)
  const bytes = text.length > limit ? text.length : new TextEncoder().encode(text).byteLength
  return bytes <= limit ? Either.right(text) : Either.left(
    new FalError.ValidationError({
      issues: [
        new FalError.ValidationIssue({
          loc: ["body"],
          msg: `the input is ${bytes} bytes as JSON, over the ${limit} allowed (FalClient option maxInputSize): ` +
            "upload files with Storage.upload, or pass them as a Blob for the automatic upload",
          type: "too_large"
        })
      ]
    })
  )
}

/** A request to a model, prepared: its parsed id and the request that sends its input. */
export interface ModelRequest {
  readonly modelId: ModelId.ModelId
  readonly request: HttpClientRequest.HttpClientRequest
}

/**
 * `POST {base}/{full model id}` with the encoded options and the input as JSON. The model id,
 * the options and the input are checked, in that order, before anything is sent.
 */
export const modelRequest = (
  service: Service,
  base: string,
  id: string,
  input: unknown,
  options: RequestOptions.RequestOptions | undefined
): Either.Either<ModelRequest, FalError.InvalidModelId | InvalidRequestOptions | FalError.ValidationError> =>
  Either.flatMap(
    ModelId.parse(id),
    (parsed) =>
      Either.flatMap(
        wire(service, options),
        (encoded) =>
          Either.map(Either.flatMap(jsonText(input), (text) => withinSize(text, service.maxInputSize)), (body) => ({
            modelId: parsed,
            request: HttpClientRequest.post(`${base}/${ModelId.fullPath(parsed)}`, {
              headers: encoded.headers,
              urlParams: encoded.query,
              acceptJson: true,
              body: HttpBody.text(body, "application/json")
            })
          }))
      )
  )
