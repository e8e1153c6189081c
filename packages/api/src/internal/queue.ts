/**
 * The queue (SPEC sections 4 and 7) on the call pipeline (`./request.ts`): submit, status, the
 * status stream, result, cancel, and `subscribe`/`resume`, which follow a request to its result.
 */
import * as ErrorType from "@effect-fal/headers/ErrorType"
import type * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
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

const CancelWire = Schema.parseJson(Schema.Struct({ status: Schema.String }))

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
const trusted = (service: Service, url: string | null | undefined): url is string =>
  typeof url === "string" && url.startsWith(`${service.urls.queue}/`) && service.isFalUrl(url)

const statusUrl = (t: Target) => (trusted(t.service, t.ref.statusUrl) ? t.ref.statusUrl : `${t.app}/status`)
const responseUrl = (t: Target) => (trusted(t.service, t.ref.responseUrl) ? t.ref.responseUrl : t.app)
const cancelUrl = (t: Target) => (trusted(t.service, t.ref.cancelUrl) ? t.ref.cancelUrl : `${t.app}/cancel`)

const withLogs = (request: HttpClientRequest.HttpClientRequest, logs: boolean | undefined) =>
  logs === false ? request : HttpClientRequest.setUrlParam(request, "logs", "1")

const attributes = (ref: Queue.RequestRef) => ({ "fal.model_id": ref.modelId, "fal.request_id": ref.requestId })

/** An operation's own attributes on the current span (the one `Effect.fn` made), before it runs. */
const annotated = <A, E, R>(values: Record<string, string>, effect: Effect.Effect<A, E, R>) =>
  Effect.zipRight(Effect.annotateCurrentSpan(values), effect)

const span = (name: string, ref: Queue.RequestRef) =>
  [`fal.${name}`, {
    kind: "client",
    attributes: { "fal.model_id": ref.modelId, "fal.request_id": ref.requestId }
  }] as const

// -----------------------------------------------------------------------------
// submit
// -----------------------------------------------------------------------------

export const submit = Effect.fn("fal.submit", { kind: "client" })(<Id extends string>(
  modelId: Id,
  input: unknown,
  options?: Queue.SubmitOptions
): Effect.Effect<Queue.Submitted<Id>, FalError.FalError, FalClient> =>
  annotated(
    { "fal.model_id": modelId },
    Effect.gen(function*() {
      const service = yield* FalClient
      // automatic upload: files in the input become CDN URLs before it is serialised
      const sent = yield* UploadInput.auto(service, modelId, input, options)
      const { modelId: id, request } = yield* Request.modelRequest(
        service,
        service.urls.queue,
        modelId,
        sent,
        options?.options
      )
      return yield* Request.execute(service, {
        operation: "submit",
        modelId,
        request,
        retry: options?.retry,
        timeouts: options?.timeouts,
        deadline: options?.deadline,
        maxQueueLength: options?.options?.maxQueueLength !== undefined,
        onResponse: (response, meta) =>
          Request.json("submit", response, meta.requestId).pipe(
            Effect.flatMap((json) =>
              Request.decode("submit", SubmitWire, json, { status: response.status, requestId: meta.requestId })
            ),
            Effect.map((body): Queue.Submitted<Id> => {
              const app = `${service.urls.queue}/${ModelId.appPath(id)}/requests/${body.request_id}`
              return {
                modelId,
                requestId: body.request_id,
                statusUrl: trusted(service, body.status_url) ? body.status_url : `${app}/status`,
                responseUrl: trusted(service, body.response_url) ? body.response_url : app,
                cancelUrl: trusted(service, body.cancel_url) ? body.cancel_url : `${app}/cancel`,
                queuePosition: body.queue_position ?? undefined,
                meta
              }
            })
          )
      })
    })
  ).pipe(Effect.tap(Request.annotate))
)

// -----------------------------------------------------------------------------
// status
// -----------------------------------------------------------------------------

/**
 * Status and result reads change nothing upstream, so a read is retried on any fault a later
 * read may not see: beyond the operation's rule, any 5xx answer (whatever its `error_type`) and
 * a transient `error_type`. Not a result whose answer is the job's stored failure (its final
 * status said it failed, or the answer names a documented non-transient type): asking again
 * returns the same.
 */
const readRetryable =
  (operation: "status" | "statusStream" | "result", jobFailed: boolean) => (error: FalError.FalError): boolean => {
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

const readStatus = (t: Target, options: Queue.StatusOptions | undefined) =>
  Request.execute(t.service, {
    operation: "status",
    request: withLogs(HttpClientRequest.get(statusUrl(t)), options?.logs).pipe(HttpClientRequest.acceptJson),
    retry: options?.retry,
    timeouts: options?.timeouts,
    deadline: options?.deadline,
    requestId: t.requestId,
    modelId: t.ref.modelId,
    retryAlso: readRetryable("status", false),
    onResponse: (response, meta) =>
      Effect.flatMap(
        Request.json("status", response, t.requestId),
        (json) => decodeStatus("status", json, t.requestId, meta)
      )
  })

export const status = Effect.fn("fal.status", { kind: "client" })((
  ref: Queue.RequestRef,
  options?: Queue.StatusOptions
): Effect.Effect<Queue.Status, FalError.FalError, FalClient> =>
  annotated(attributes(ref), Effect.flatMap(target(ref), (t) => readStatus(t, options)))
)

// -----------------------------------------------------------------------------
// status stream
// -----------------------------------------------------------------------------

/** Default keep-alive limit: fal sends a comment every 15 s. */
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

/** What a connection yields: a status, or word that it stayed open past its keep-alive. */
type Item = Queue.Status | typeof Alive

const Alive = { status: "ALIVE" } as const

const isStatus = (item: Item): item is Queue.Status => item !== Alive

/**
 * One connection of the status stream, up to COMPLETED. Fails when the body goes silent (not
 * even a keep-alive comment) for `keepAlive`, when it closes before COMPLETED, or when an event
 * is not a status. A connection that fails after staying open for `keepAlive` or longer yields
 * `Alive` first: the reconnect policy counts that as progress, like a status.
 */
const connection = (
  t: Target,
  options: Queue.StreamOptions | undefined,
  keepAlive: Duration.Duration
): Stream.Stream<Item, FalError.FalError> =>
  Stream.unwrap(
    Effect.zipWith(
      Clock.currentTimeMillis,
      Request.open(t.service, {
        operation: "statusStream",
        request: withLogs(HttpClientRequest.get(`${statusUrl(t)}/stream`), options?.logs).pipe(
          HttpClientRequest.setHeader("accept", "text/event-stream")
        ),
        requestId: t.requestId,
        modelId: t.ref.modelId,
        retry: false,
        timeouts: options?.timeouts ?? { headers: keepAlive }
      }),
      (openedAt, { body, meta }): Stream.Stream<Item, FalError.FalError> => {
        let completed = false
        const statuses = Sse.events(
          Stream.timeoutFail(body, () => silent(t.requestId, keepAlive), keepAlive),
          (reason) =>
            new FalError.TransportError({
              operation: "statusStream",
              mayHaveReached: true,
              description: `the status stream is unreadable: ${Errors.clip(reason, 200)}`,
              requestId: t.requestId
            })
        ).pipe(
          Stream.mapEffect((event) =>
            Effect.try({
              try: (): unknown => JSON.parse(event.data),
              catch: () =>
                new FalError.DecodeError({
                  operation: "statusStream",
                  requestId: t.requestId,
                  modelId: t.ref.modelId,
                  description: `an event is not JSON: ${JSON.stringify(Errors.clip(event.data, 120))}`
                })
            }).pipe(Effect.flatMap((json) => decodeStatus("statusStream", json, t.requestId, meta)))
          ),
          Stream.takeUntil((status) => (completed = status.status === "COMPLETED")),
          Stream.concat(Stream.suspend(() => completed ? Stream.empty : Stream.fail(closedEarly(t.requestId))))
        )
        return Stream.catchAll(statuses, (error) =>
          Stream.unwrap(Effect.map(Clock.currentTimeMillis, (now) =>
            now - openedAt >= Duration.toMillis(keepAlive)
              ? Stream.concat(Stream.succeed(Alive), Stream.fail(error))
              : Stream.fail(error))))
      }
    )
  )

/** Errors worth another connection: what the operation retries, and any 5xx. */
const reconnectable = (error: FalError.FalError) =>
  Retry.isRetryable("statusStream")(error) || readRetryable("statusStream", false)(error)

/**
 * Statuses by polling, every `interval`, up to COMPLETED: how a stream that keeps failing is
 * followed (and `mode: "poll"`).
 */
const polled = (
  t: Target,
  options: Queue.StatusOptions | undefined,
  interval: Duration.DurationInput
): Stream.Stream<Queue.Status, FalError.FalError> =>
  Stream.repeatEffectWithSchedule(readStatus(t, { ...options, deadline: undefined }), Schedule.spaced(interval)).pipe(
    Stream.takeUntil((status) => status.status === "COMPLETED")
  )

/**
 * The statuses of a request up to COMPLETED. Connections are reopened under the operation's
 * reconnect policy and the client's budget; the policy counts failures in a row without progress
 * (a status, or a connection alive past its keep-alive, starts the count again). Once it gives up
 * on an error a later read may not see, the request is followed by polling instead of failing.
 */
const statuses = (
  t: Target,
  options: Queue.FollowOptions<unknown> | undefined
): Stream.Stream<Queue.Status, FalError.FalError> => {
  const keepAlive = Duration.decode(options?.keepAlive ?? defaultKeepAlive)
  const connections = connection(t, options, keepAlive)
  const followed = options?.retry === false ? connections : Stream.retry(
    connections,
    Request.schedule(t.service, "statusStream", options?.retry, reconnectable)
  )
  return followed.pipe(
    Stream.filter(isStatus),
    Stream.catchAll((error) =>
      options?.retry !== false && reconnectable(error)
        ? Stream.unwrap(
          Effect.as(
            Effect.logWarning("fal: the status stream keeps failing; following the request by polling").pipe(
              Effect.annotateLogs({ requestId: t.requestId, error: error.message })
            ),
            polled(t, options, options?.pollInterval ?? "1 second")
          )
        )
        : Stream.fail(error)
    )
  )
}

const bounded = <A>(
  stream: Stream.Stream<A, FalError.FalError>,
  requestId: string,
  deadline: Duration.DurationInput | undefined
): Stream.Stream<A, FalError.FalError> =>
  deadline === undefined ? stream : Stream.interruptWhen(
    stream,
    Effect.flatMap(Effect.sleep(deadline), () =>
      new FalError.DeadlineExceeded({
        operation: "statusStream",
        deadline: Duration.decode(deadline),
        mayHaveReached: true,
        requestId
      }))
  )

export const statusStream = (
  ref: Queue.RequestRef,
  options?: Queue.StreamOptions
): Stream.Stream<Queue.Status, FalError.FalError, FalClient> =>
  Stream.unwrap(Effect.map(target(ref), (t) => bounded(statuses(t, options), t.requestId, options?.deadline))).pipe(
    Stream.withSpan(...span("statusStream", ref))
  )

// -----------------------------------------------------------------------------
// result and cancel
// -----------------------------------------------------------------------------

const readResult = <A, I>(
  t: Target,
  options: Queue.ResultOptions & { readonly output?: Schema.Schema<A, I> | undefined } | undefined,
  jobFailed: boolean
): Effect.Effect<Queue.Result<A>, FalError.FalError> =>
  Request.execute(t.service, {
    operation: "result",
    request: HttpClientRequest.get(responseUrl(t)).pipe(HttpClientRequest.acceptJson),
    retry: options?.retry,
    timeouts: options?.timeouts,
    deadline: options?.deadline,
    requestId: t.requestId,
    modelId: t.ref.modelId,
    retryAlso: readRetryable("result", jobFailed),
    onResponse: (response, meta) =>
      Request.json("result", response, t.requestId).pipe(
        Effect.flatMap((json) =>
          Request.output("result", options?.output, json, { status: response.status, requestId: t.requestId })
        ),
        Effect.map((data): Queue.Result<A> => ({ requestId: t.requestId, data, meta }))
      )
  }).pipe(Effect.tap(Request.annotate))

export const result = Effect.fn("fal.result", { kind: "client" })(<A = unknown, I = unknown>(
  ref: Queue.RequestRef,
  options?: Queue.ResultOptions & { readonly output?: Schema.Schema<A, I> | undefined }
): Effect.Effect<Queue.Result<A>, FalError.FalError, FalClient> =>
  annotated(attributes(ref), Effect.flatMap(target(ref), (t) => readResult(t, options, false)))
)

export const cancel = Effect.fn("fal.cancel", { kind: "client" })((
  ref: Queue.RequestRef,
  options?: Queue.CancelOptions
): Effect.Effect<Queue.CancelOutcome, FalError.FalError, FalClient> =>
  annotated(
    attributes(ref),
    Effect.flatMap(target(ref), (t) =>
      Request.execute(t.service, {
        operation: "cancel",
        request: HttpClientRequest.put(cancelUrl(t)).pipe(HttpClientRequest.acceptJson),
        retry: options?.retry,
        timeouts: options?.timeouts,
        deadline: options?.deadline,
        requestId: t.requestId,
        modelId: t.ref.modelId,
        accept: (status) => (status >= 200 && status < 300) || status === 400,
        onResponse: (response, meta) =>
          response.text.pipe(
            Effect.mapError((error) => Errors.transport("cancel", error, t.requestId)),
            Effect.flatMap((text): Effect.Effect<Queue.CancelOutcome, FalError.FalError> => {
              const state = Option.map(Schema.decodeUnknownOption(CancelWire)(text), (body) => body.status)
              if (Option.contains(state, "ALREADY_COMPLETED")) {
                return Effect.succeed({ _tag: "AlreadyCompleted", requestId: t.requestId, meta })
              }
              if (response.status === 400) {
                return Errors.fromStatus(
                  { operation: "cancel", requestId: t.requestId },
                  response.status,
                  response.headers,
                  text
                )
              }
              return Effect.succeed({ _tag: "CancellationRequested", requestId: t.requestId, meta })
            })
          )
      }))
  )
)

// -----------------------------------------------------------------------------
// subscribe and resume
// -----------------------------------------------------------------------------

/** `true` when the final status reports a failure. */
const failed = (last: Queue.Status) =>
  last.status === "COMPLETED" && (last.error !== undefined || last.errorType !== undefined)

/** Cancels upstream, bounded, so an unreachable fal cannot hang an interruption; never fails. */
const cancelQuietly = (ref: Queue.RequestRef): Effect.Effect<void, never, FalClient> =>
  cancel(ref, { deadline: "10 seconds" }).pipe(
    Effect.tapErrorCause((cause) => Effect.logDebug("fal: cancelling the interrupted request failed", cause)),
    Effect.ignore,
    Effect.annotateLogs("requestId", ref.requestId)
  )

type FollowAndReadOptions<A, I, R> =
  & Queue.FollowOptions<R>
  & Queue.ResultOptions
  & { readonly output?: Schema.Schema<A, I> | undefined }

/**
 * Follows a request until it completes (the status stream, or polling), then reads its result;
 * interrupted meanwhile (a `deadline` included), it cancels the request upstream unless
 * `cancelOnInterrupt` is `false`. Each inner call gets the per-attempt `timeouts`; the
 * `deadline` bounds the whole.
 */
const followAndRead = <A, I, R, RBefore = never>(
  t: Target,
  options: FollowAndReadOptions<A, I, R> | undefined,
  before: Effect.Effect<void, never, RBefore> = Effect.void
): Effect.Effect<Queue.Result<A>, FalError.FalError, R | RBefore | FalClient> => {
  const inner = options === undefined ? undefined : { ...options, deadline: undefined }
  const onStatus = options?.onStatus
  const follow: Stream.Stream<Queue.Status, FalError.FalError, R> = options?.mode === "poll"
    ? polled(t, inner, options.pollInterval ?? "500 millis")
    : statuses(t, inner).pipe(Stream.withSpan(...span("statusStream", t.ref)))
  const body = before.pipe(
    Effect.zipRight(Stream.runLast(onStatus === undefined ? follow : Stream.tap(follow, onStatus))),
    Effect.flatMap((last) =>
      Option.isSome(last)
        ? readResult(t, inner, failed(last.value)).pipe(Effect.withSpan(...span("result", t.ref)))
        : Effect.fail(closedEarly(t.requestId))
    )
  )
  const cancelling = options?.cancelOnInterrupt === false
    ? body
    : Effect.onInterrupt(body, () => cancelQuietly(t.ref))
  return Request.withDeadline("resume", options?.deadline, () => t.requestId, cancelling)
}

export const resume = Effect.fn("fal.resume", { kind: "client" })(<A = unknown, I = unknown, R = never>(
  ref: Queue.RequestRef,
  options?: FollowAndReadOptions<A, I, R>
): Effect.Effect<Queue.Result<A>, FalError.FalError, FalClient | R> =>
  annotated(attributes(ref), Effect.flatMap(target(ref), (t) => followAndRead(t, options))).pipe(
    Effect.tap(Request.annotate)
  )
)

/**
 * How long an interruption of `subscribe` waits for a submit in flight to answer. The submit
 * is one short request: aborting it would leave a job fal may already have created, running
 * and billed with nobody to cancel it. Past this bound the submit is aborted after all.
 */
export const submitGrace: Duration.Duration = Duration.seconds(10)

/**
 * Runs the submit in a fiber of its own. When the caller is interrupted meanwhile, the submit is
 * given {@link submitGrace} to finish, and a job it created is cancelled. A daemon fiber, because
 * an interruption of a fiber is passed on to its children at once; it is joined or interrupted
 * here, so it never outlives the call.
 */
const settledSubmit = (
  submitting: Effect.Effect<Queue.Submitted, FalError.FalError, FalClient>,
  cancelCreated: boolean
): Effect.Effect<Queue.Submitted, FalError.FalError, FalClient> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.forkDaemon(submitting), (fiber) =>
      restore(Fiber.join(fiber)).pipe(
        Effect.onInterrupt(() =>
          Fiber.await(fiber).pipe(
            Effect.timeout(submitGrace),
            Effect.flatMap((exit) => Exit.isSuccess(exit) && cancelCreated ? cancelQuietly(exit.value) : Effect.void),
            Effect.ignore,
            Effect.ensuring(Fiber.interrupt(fiber))
          )
        )
      ))
  )

export const subscribe = Effect.fn("fal.subscribe", { kind: "client" })(<
  A = unknown,
  I = unknown,
  R = never,
  REnqueue = never
>(
  modelId: string,
  input: unknown,
  options?: Queue.SubscribeOptions<R, REnqueue> & { readonly output?: Schema.Schema<A, I> | undefined }
): Effect.Effect<Queue.Result<A>, FalError.FalError, FalClient | R | REnqueue> =>
  annotated(
    { "fal.model_id": modelId },
    Effect.suspend(() => {
      let submittedId: string | undefined
      const subscribing = Effect.gen(function*() {
        const service = yield* FalClient
        // the upload comes first and stays interruptible: before the submit there is no job to cancel
        const sent = yield* UploadInput.auto(service, modelId, input, options)
        const inner = options === undefined ? undefined : { ...options, deadline: undefined }
        const submitted = yield* settledSubmit(
          submit(modelId, sent, { ...inner, autoUpload: false }),
          options?.cancelOnInterrupt !== false
        )
        submittedId = submitted.requestId
        const t = yield* target(submitted)
        const onEnqueue = options?.onEnqueue
        return yield* followAndRead(t, inner, onEnqueue === undefined ? Effect.void : onEnqueue(submitted))
      })
      return Request.withDeadline("subscribe", options?.deadline, () => submittedId, subscribing)
    })
  ).pipe(Effect.tap(Request.annotate))
)
