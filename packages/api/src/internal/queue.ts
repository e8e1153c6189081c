import * as ErrorType from "@effect-fal/headers/ErrorType"
import type * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { FalClient, type Service } from "../FalClient.js"
import * as FalError from "../FalError.js"
import * as ModelId from "../ModelId.js"
import type * as Queue from "../Queue.js"
import * as Retry from "../Retry.js"
import * as Errors from "./errors.js"
import * as Request from "./request.js"
import { output } from "./run.js"
import * as Sse from "./sse.js"
import * as UploadInput from "./uploadInput.js"

// -----------------------------------------------------------------------------
// wire schemas
// -----------------------------------------------------------------------------

const SubmitWire = Schema.Struct({
  request_id: Schema.String,
  response_url: Schema.optional(Schema.NullOr(Schema.String)),
  status_url: Schema.optional(Schema.NullOr(Schema.String)),
  cancel_url: Schema.optional(Schema.NullOr(Schema.String)),
  queue_position: Schema.optional(Schema.NullOr(Schema.Number))
})

const LogWire = Schema.Struct({
  message: Schema.String,
  timestamp: Schema.optional(Schema.NullOr(Schema.String)),
  level: Schema.optional(Schema.NullOr(Schema.String)),
  source: Schema.optional(Schema.NullOr(Schema.String))
})

const StatusWire = Schema.Struct({
  status: Schema.Literal("IN_QUEUE", "IN_PROGRESS", "COMPLETED"),
  request_id: Schema.optional(Schema.NullOr(Schema.String)),
  queue_position: Schema.optional(Schema.NullOr(Schema.Number)),
  logs: Schema.optional(Schema.NullOr(Schema.Array(LogWire))),
  metrics: Schema.optional(
    Schema.NullOr(Schema.Struct({ inference_time: Schema.optional(Schema.NullOr(Schema.Number)) }))
  ),
  error: Schema.optional(Schema.NullOr(Schema.String)),
  error_type: Schema.optional(Schema.NullOr(Schema.String))
})

const CancelWire = Schema.Struct({ status: Schema.String })

// -----------------------------------------------------------------------------
// addressing
// -----------------------------------------------------------------------------

interface Target {
  readonly service: Service
  readonly requestId: string
  readonly app: string
  readonly ref: Queue.RequestRef
}

const target = (ref: Queue.RequestRef): Effect.Effect<Target, FalError.FalError, FalClient> =>
  Effect.gen(function*() {
    const service = yield* FalClient
    const id = yield* Request.modelId(ref.modelId)
    const requestId = yield* Request.requestId(ref.requestId)
    return { service, requestId, app: `${service.urls.queue}/${ModelId.appPath(id)}/requests/${requestId}`, ref }
  })

/** A URL returned by submit is used only when it points at the configured queue (it gets the key). */
const trusted = (service: Service, url: string | undefined): url is string =>
  url !== undefined && url.startsWith(`${service.urls.queue}/`) && service.isFalUrl(url)

const statusUrl = (t: Target) => (trusted(t.service, t.ref.statusUrl) ? t.ref.statusUrl : `${t.app}/status`)
const responseUrl = (t: Target) => (trusted(t.service, t.ref.responseUrl) ? t.ref.responseUrl : t.app)
const cancelUrl = (t: Target) => (trusted(t.service, t.ref.cancelUrl) ? t.ref.cancelUrl : `${t.app}/cancel`)

const withLogs = (request: HttpClientRequest.HttpClientRequest, logs: boolean | undefined) =>
  logs === false ? request : HttpClientRequest.setUrlParam(request, "logs", "1")

// -----------------------------------------------------------------------------
// reads
// -----------------------------------------------------------------------------

/**
 * Status and result reads change nothing upstream, so a read is retried on any fault that a
 * later read may not see: beyond the shared predicate, any 5xx answer (whatever its
 * `error_type`, known or new) and a transient `error_type`. Not on a result whose answer is the
 * job's stored failure: when the job's final status said it failed, or when the answer names a
 * documented non-transient type (`runner_server_error`, `internal_error`); asking again would
 * return the same.
 */
const readRetryable = (operation: "status" | "result", jobFailed: boolean) => (error: FalError.FalError): boolean => {
  if (error._tag !== "ServerError" && error._tag !== "RequestFailed") return false
  const type = error.errorType
  if (
    operation === "result" &&
    (jobFailed || (type !== undefined && ErrorType.isKnown(type) && !ErrorType.isTransient(type)))
  ) {
    return false
  }
  return (error.status !== undefined && error.status >= 500) || (type !== undefined && ErrorType.isTransient(type))
}

/**
 * A read goes through the request path like any call (the client's retry budget, the call's
 * deadline), with {@link readRetryable} added to the operation's retry rule. A body cut short
 * or not JSON on a read is a `TransportError` there (`Request.json`), retried like one.
 */
const read = <A>(
  t: Target,
  call: Request.Call<A> & { readonly operation: "status" | "result" },
  jobFailed = false
): Effect.Effect<A, FalError.FalError> =>
  Request.withDeadline(
    call.operation,
    call.deadline,
    call.requestId,
    Request.withRetry(
      call.operation,
      call.retry,
      Request.attempt(t.service, call),
      t.service.retryBudget,
      readRetryable(call.operation, jobFailed)
    )
  )

// -----------------------------------------------------------------------------
// submit
// -----------------------------------------------------------------------------

export const submit = <Id extends string>(
  modelId: Id,
  input: unknown,
  options?: Queue.SubmitOptions
): Effect.Effect<Queue.Submitted<Id>, FalError.FalError, FalClient> =>
  Effect.gen(function*() {
    const service = yield* FalClient
    // automatic upload (issue 9): files in the input become CDN URLs before it is serialised
    const sent = yield* UploadInput.auto(service, modelId, input, options)
    const { modelId: id, request } = yield* Request.modelRequest(
      service,
      service.urls.queue,
      modelId,
      sent,
      options?.options
    )
    return yield* Request.execute({
      operation: "submit",
      request,
      retry: options?.retry,
      maxQueueLength: options?.options?.maxQueueLength !== undefined,
      onResponse: (response, meta) =>
        Request.json("submit", response, meta.requestId).pipe(
          Effect.flatMap((json) =>
            Request.decode("submit", SubmitWire, json, { status: response.status, requestId: meta.requestId })
          ),
          Effect.map((body): Queue.Submitted<Id> => {
            const app = `${service.urls.queue}/${ModelId.appPath(id)}/requests/${body.request_id}`
            const pick = (url: string | null | undefined, fallback: string) =>
              trusted(service, url ?? undefined) ? url! : fallback
            return {
              modelId,
              requestId: body.request_id,
              statusUrl: pick(body.status_url, `${app}/status`),
              responseUrl: pick(body.response_url, app),
              cancelUrl: pick(body.cancel_url, `${app}/cancel`),
              queuePosition: body.queue_position ?? undefined,
              meta
            }
          })
        )
    })
  }).pipe(Request.traced("submit", { "fal.model_id": modelId }))

// -----------------------------------------------------------------------------
// status
// -----------------------------------------------------------------------------

const toStatus = (
  wire: typeof StatusWire.Type,
  requestId: string,
  meta: ResponseMeta.ResponseMeta
): Queue.Status => {
  const logs: ReadonlyArray<Queue.LogEntry> = (wire.logs ?? []).map((log) => ({
    message: log.message,
    ...(log.timestamp == null ? {} : { timestamp: log.timestamp }),
    ...(log.level == null ? {} : { level: log.level }),
    ...(log.source == null ? {} : { source: log.source })
  }))
  switch (wire.status) {
    case "IN_QUEUE":
      return { status: "IN_QUEUE", requestId, queuePosition: wire.queue_position ?? undefined, logs, meta }
    case "IN_PROGRESS":
      return { status: "IN_PROGRESS", requestId, logs, meta }
    case "COMPLETED":
      return {
        status: "COMPLETED",
        requestId,
        logs,
        inferenceTime: Option.fromNullable(wire.metrics?.inference_time).pipe(Option.map(Duration.seconds)),
        ...(wire.error == null ? {} : { error: wire.error }),
        ...(wire.error_type == null ? {} : { errorType: wire.error_type }),
        meta
      }
  }
}

const decodeStatus = (
  operation: "status" | "statusStream",
  json: unknown,
  requestId: string,
  meta: ResponseMeta.ResponseMeta
) => Effect.map(Request.decode(operation, StatusWire, json, { requestId }), (wire) => toStatus(wire, requestId, meta))

export const status = (
  ref: Queue.RequestRef,
  options?: Queue.StatusOptions
): Effect.Effect<Queue.Status, FalError.FalError, FalClient> =>
  Effect.flatMap(target(ref), (t) =>
    read(t, {
      operation: "status",
      request: withLogs(HttpClientRequest.get(statusUrl(t)), options?.logs).pipe(HttpClientRequest.acceptJson),
      retry: options?.retry,
      requestId: t.requestId,
      onResponse: (response, meta) =>
        Effect.flatMap(
          Request.json("status", response, t.requestId),
          (json) => decodeStatus("status", json, t.requestId, meta)
        )
    })).pipe(Request.traced("status", { "fal.model_id": ref.modelId, "fal.request_id": ref.requestId }))

// -----------------------------------------------------------------------------
// status stream
// -----------------------------------------------------------------------------

/** Default keep-alive watchdog: fal sends a comment every 15 s. */
export const defaultKeepAlive: Duration.Duration = Duration.seconds(45)

const silent = (requestId: string, keepAlive: Duration.Duration) =>
  new FalError.TransportError({
    operation: "statusStream",
    mayHaveReached: true,
    description: `the status stream sent nothing, not even a keep-alive, for ${Duration.format(keepAlive)}`,
    requestId
  })

const closedEarly = (requestId: string) =>
  new FalError.TransportError({
    operation: "statusStream",
    mayHaveReached: true,
    description: "the status stream closed before the request completed",
    requestId
  })

const connection = (
  t: Target,
  options: Queue.StreamOptions | undefined
): Stream.Stream<Queue.Status, FalError.FalError> => {
  const keepAlive = Duration.decode(options?.keepAlive ?? defaultKeepAlive)
  const request = withLogs(HttpClientRequest.get(`${statusUrl(t)}/stream`), options?.logs).pipe(
    HttpClientRequest.setHeader("accept", "text/event-stream")
  )
  const events = (meta: ResponseMeta.ResponseMeta, bytes: Stream.Stream<Uint8Array, FalError.FalError>) =>
    Effect.map(Ref.make(false), (completed) =>
      bytes.pipe(
        Stream.timeoutFail(() => silent(t.requestId, keepAlive), keepAlive),
        Stream.decodeText(),
        Stream.splitLines,
        Stream.mapAccum(Sse.initial, Sse.feed),
        Stream.filterMap((event) => event),
        Stream.mapEffect((event) =>
          Effect.try({
            try: () => JSON.parse(event.data) as unknown,
            catch: () =>
              new FalError.DecodeError({
                operation: "statusStream",
                requestId: t.requestId,
                description: `an event is not JSON: ${JSON.stringify(Errors.clip(event.data, 120))}`
              })
          }).pipe(Effect.flatMap((json) => decodeStatus("statusStream", json, t.requestId, meta)))
        ),
        // the event's text is the server's: redacted like any error built from an answer
        Stream.mapError(Request.redactError(t.service)),
        Stream.takeUntil((status) => status.status === "COMPLETED"),
        Stream.tap((status) => (status.status === "COMPLETED" ? Ref.set(completed, true) : Effect.void)),
        Stream.concat(
          Stream.unwrap(
            Effect.map(Ref.get(completed), (done) => done ? Stream.empty : Stream.fail(closedEarly(t.requestId)))
          )
        )
      ))
  return Stream.unwrap(
    Request.attempt(t.service, {
      operation: "statusStream",
      request,
      requestId: t.requestId,
      onResponse: (response, meta) =>
        events(
          meta,
          Stream.mapError(response.stream, (error) => Errors.transport("statusStream", error, t.requestId))
        )
    }).pipe(Effect.timeoutFail({ duration: keepAlive, onTimeout: () => silent(t.requestId, keepAlive) }))
  )
}

/**
 * Reopens a failed stream while `policy` allows. Unlike `Stream.retry`, which starts its
 * schedule afresh once an element passes, the budget and the growing delay span the whole
 * stream: a server that sends one event and closes cannot keep it reconnecting forever.
 */
const reconnecting = <A>(
  once: Stream.Stream<A, FalError.FalError>,
  policy: Retry.Policy
): Stream.Stream<A, FalError.FalError> =>
  Stream.unwrap(
    Effect.map(Schedule.driver(policy), (driver) => {
      const loop: Stream.Stream<A, FalError.FalError> = Stream.catchAll(once, (error) =>
        Stream.unwrap(
          driver.next(error).pipe(
            Effect.as(Stream.suspend(() => loop)),
            Effect.orElseSucceed(() => Stream.fail(error))
          )
        ))
      return loop
    })
  )

export const statusStream = (
  ref: Queue.RequestRef,
  options?: Queue.StreamOptions
): Stream.Stream<Queue.Status, FalError.FalError, FalClient> =>
  Stream.unwrap(
    Effect.map(target(ref), (t) => {
      const once = connection(t, options)
      return options?.retry === false ? once : reconnecting(once, Retry.policy("statusStream", options?.retry))
    })
  ).pipe(
    Stream.withSpan("fal.statusStream", {
      kind: "client",
      attributes: { "fal.model_id": ref.modelId, "fal.request_id": ref.requestId }
    })
  )

// -----------------------------------------------------------------------------
// result and cancel
// -----------------------------------------------------------------------------

const resultOf = <A = unknown, I = unknown>(
  ref: Queue.RequestRef,
  options: Queue.ResultOptions & { readonly output?: Schema.Schema<A, I> | undefined } | undefined,
  jobFailed: boolean
): Effect.Effect<Queue.Result<A>, FalError.FalError, FalClient> =>
  Effect.flatMap(target(ref), (t) =>
    read(t, {
      operation: "result",
      request: HttpClientRequest.get(responseUrl(t)).pipe(HttpClientRequest.acceptJson),
      retry: options?.retry,
      requestId: t.requestId,
      onResponse: (response, meta) =>
        Request.json("result", response, t.requestId).pipe(
          Effect.flatMap((json) =>
            output("result", options?.output, json, { status: response.status, requestId: t.requestId })
          ),
          Effect.map((data): Queue.Result<A> => ({ requestId: t.requestId, data, meta }))
        )
    }, jobFailed)).pipe(Request.traced("result", { "fal.model_id": ref.modelId, "fal.request_id": ref.requestId }))

export const result = <A = unknown, I = unknown>(
  ref: Queue.RequestRef,
  options?: Queue.ResultOptions & { readonly output?: Schema.Schema<A, I> | undefined }
): Effect.Effect<Queue.Result<A>, FalError.FalError, FalClient> => resultOf(ref, options, false)

export const cancel = (
  ref: Queue.RequestRef,
  options?: Queue.CancelOptions
): Effect.Effect<Queue.CancelOutcome, FalError.FalError, FalClient> =>
  Effect.flatMap(target(ref), (t) => {
    const context = { operation: "cancel", requestId: t.requestId, redact: Request.redact(t.service) } as const
    return Request.execute({
      operation: "cancel",
      request: HttpClientRequest.put(cancelUrl(t)).pipe(HttpClientRequest.acceptJson),
      retry: options?.retry,
      requestId: t.requestId,
      accept: (status) => (status >= 200 && status < 300) || status === 400,
      onResponse: (response, meta) =>
        response.text.pipe(
          Effect.catchAll((error) => Effect.fail(Errors.transport("cancel", error, t.requestId))),
          Effect.flatMap((text): Effect.Effect<Queue.CancelOutcome, FalError.FalError> => {
            const body = Schema.decodeUnknownOption(Schema.parseJson(CancelWire))(text)
            const state = Option.map(body, (b) => b.status)
            if (response.status === 400) {
              return Option.contains(state, "ALREADY_COMPLETED")
                ? Effect.succeed({ _tag: "AlreadyCompleted", requestId: t.requestId, meta })
                : Effect.flip(Errors.fromStatus(context, response.status, response.headers, text))
            }
            if (Option.contains(state, "ALREADY_COMPLETED")) {
              return Effect.succeed({ _tag: "AlreadyCompleted", requestId: t.requestId, meta })
            }
            return Effect.succeed({ _tag: "CancellationRequested", requestId: t.requestId, meta })
          })
        )
    })
  }).pipe(Request.traced("cancel", { "fal.model_id": ref.modelId, "fal.request_id": ref.requestId }))

// -----------------------------------------------------------------------------
// subscribe
// -----------------------------------------------------------------------------

/** Follows a request until it completes; `true` when its final status reports a failure. */
const follow = <R>(
  ref: Queue.RequestRef,
  options: Queue.FollowOptions<R> | undefined
): Effect.Effect<boolean, FalError.FalError, FalClient | R> => {
  const onStatus = options?.onStatus ?? (() => Effect.void)
  const failed = (last: Option.Option<Queue.Status>) =>
    Option.exists(last, (s) => s.status === "COMPLETED" && (s.error !== undefined || s.errorType !== undefined))
  if (options?.mode === "poll") {
    return status(ref, options).pipe(
      Effect.tap(onStatus),
      Effect.tap((s) => s.status === "COMPLETED" ? Effect.void : Effect.sleep(options.pollInterval ?? "500 millis")),
      Effect.repeat({ until: (s) => s.status === "COMPLETED" }),
      Effect.map((last) => failed(Option.some(last)))
    )
  }
  // Acts on COMPLETED as it arrives: the stream is run in a child fiber, which closes the
  // connection while the caller goes on (to the result read), rather than after. The stream
  // fails if it ends without COMPLETED, so its end always settles `completed`.
  return Effect.flatMap(
    Deferred.make<Queue.Status, FalError.FalError>(),
    (completed) =>
      statusStream(ref, options).pipe(
        Stream.runForEach((s) =>
          Effect.zipRight(onStatus(s), s.status === "COMPLETED" ? Deferred.succeed(completed, s) : Effect.void)
        ),
        Effect.onExit((exit) =>
          Exit.isFailure(exit)
            ? Deferred.failCause(completed, exit.cause)
            // already settled by COMPLETED; a stream that ended without it fails before this
            : Deferred.fail(completed, closedEarly(ref.requestId))
        ),
        Effect.fork,
        // an interrupted caller (or an `Effect.timeout` around it) stops the stream at once
        Effect.flatMap((fiber) => Effect.onInterrupt(Deferred.await(completed), () => Fiber.interrupt(fiber))),
        Effect.map((last) => failed(Option.some(last)))
      )
  )
}

/** Follows, then reads the result (retried on faults unless the job itself failed). */
const followAndRead = <A, I, R>(
  ref: Queue.RequestRef,
  options:
    | Queue.FollowOptions<R> & Queue.ResultOptions & { readonly output?: Schema.Schema<A, I> | undefined }
    | undefined
) => Effect.flatMap(follow(ref, options), (jobFailed) => resultOf(ref, options, jobFailed))

/** Cancels upstream when interrupted; bounded, so an unreachable fal cannot hang the interruption. */
const cancelOnInterrupt = <A, R>(
  ref: Queue.RequestRef,
  enabled: boolean,
  effect: Effect.Effect<A, FalError.FalError, FalClient | R>
): Effect.Effect<A, FalError.FalError, FalClient | R> =>
  enabled ? Effect.onInterrupt(effect, () => cancelQuietly(ref)) : effect

/** Cancels upstream, bounded, so an unreachable fal cannot hang the interruption; never fails. */
const cancelQuietly = (ref: Queue.RequestRef): Effect.Effect<void, never, FalClient> =>
  cancel(ref).pipe(
    Effect.timeout(Duration.seconds(10)),
    Effect.tapErrorCause((cause) => Effect.logDebug("fal: cancelling the interrupted request failed", cause)),
    Effect.ignore,
    Effect.annotateLogs("requestId", ref.requestId)
  )

export const resume = <A = unknown, I = unknown, R = never>(
  ref: Queue.RequestRef,
  options?: Queue.FollowOptions<R> & Queue.ResultOptions & { readonly output?: Schema.Schema<A, I> | undefined }
): Effect.Effect<Queue.Result<A>, FalError.FalError, FalClient | R> =>
  cancelOnInterrupt(
    ref,
    options?.cancelOnInterrupt !== false,
    followAndRead(ref, options)
  ).pipe(Request.traced("resume", { "fal.model_id": ref.modelId, "fal.request_id": ref.requestId }))

/**
 * How long an interruption of `subscribe` waits for a submit in flight to answer. The submit
 * is one short request: aborting it would leave a job fal may already have created, running
 * and billed with nobody to cancel it. Past this bound the submit is aborted after all.
 */
export const submitGrace: Duration.Duration = Duration.seconds(10)

/**
 * Runs the submit in its own fiber. When the caller is interrupted meanwhile, the submit is
 * given {@link submitGrace} to finish; a job it created is then cancelled (bounded like any
 * cancellation on interrupt). A daemon fiber, because an interruption of a fiber is passed on
 * to its children at once; it is joined or interrupted here, so it never outlives the call.
 */
const settledSubmit = (
  restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
  submitting: Effect.Effect<Queue.Submitted, FalError.FalError, FalClient>,
  cancelCreated: boolean
): Effect.Effect<Queue.Submitted, FalError.FalError, FalClient> =>
  Effect.flatMap(Effect.forkDaemon(Effect.interruptible(submitting)), (fiber) =>
    restore(Fiber.join(fiber)).pipe(
      Effect.onInterrupt(() =>
        Fiber.await(fiber).pipe(
          Effect.timeout(submitGrace),
          Effect.flatMap((exit) => Exit.isSuccess(exit) && cancelCreated ? cancelQuietly(exit.value) : Effect.void),
          Effect.catchAll(() => Effect.void),
          Effect.ensuring(Fiber.interrupt(fiber))
        )
      )
    ))

export const subscribe = <A = unknown, I = unknown, R = never, REnqueue = never>(
  modelId: string,
  input: unknown,
  options?: Queue.SubscribeOptions<R, REnqueue> & { readonly output?: Schema.Schema<A, I> | undefined }
): Effect.Effect<Queue.Result<A>, FalError.FalError, FalClient | R | REnqueue> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      // The automatic upload comes first and stays interruptible: before the submit is sent
      // there is no job to cancel, so an interruption aborts the uploads at once.
      restore(Effect.flatMap(FalClient, (service) => UploadInput.auto(service, modelId, input, options))),
      (sent) =>
        Effect.flatMap(
          settledSubmit(
            restore,
            submit(modelId, sent, { ...options, autoUpload: false }),
            options?.cancelOnInterrupt !== false
          ),
          (submitted) =>
            cancelOnInterrupt(
              submitted,
              options?.cancelOnInterrupt !== false,
              restore(
                Effect.zipRight(
                  options?.onEnqueue === undefined ? Effect.void : options.onEnqueue(submitted),
                  followAndRead(submitted, options)
                )
              )
            )
        )
    )
  ).pipe(Request.traced("subscribe", { "fal.model_id": modelId }))
