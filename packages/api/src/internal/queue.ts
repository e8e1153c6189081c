import * as ErrorType from "@effect-fal/headers/ErrorType"
import type * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import type * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRefs from "effect/FiberRefs"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Scheduler from "effect/Scheduler"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { FalClient, type Service } from "../FalClient.js"
import * as FalError from "../FalError.js"
import * as ModelId from "../ModelId.js"
import type * as Queue from "../Queue.js"
import * as Errors from "./errors.js"
import * as Request from "./request.js"
import { output } from "./run.js"
import * as Sse from "./sse.js"
import * as UploadInput from "./uploadInput.js"
import * as Watchdog from "./watchdog.js"

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

const notJson = (requestId: string, data: string) =>
  new FalError.DecodeError({
    operation: "statusStream",
    requestId,
    description: `an event is not JSON: ${JSON.stringify(Errors.clip(data, 120))}`
  })

/**
 * Once COMPLETED is delivered, the connection's reader goes on (the rest of the body, then its
 * scope closed) only in a later turn of the event loop. The caller sends the result's request
 * meanwhile, and undici writes a request on a reused connection in the event loop's check phase
 * (`setImmediate`, after checking the idle socket): work done before that, in the same turn,
 * delays the request. Closing the body's scope took some 0.8 ms there (measured with undici's
 * `undici:request:create` and `undici:client:sendHeaders` diagnostics channels: 1.0 ms from the
 * result's request made to its headers sent, 0.2 ms once deferred). `yieldNow` on a timer
 * scheduler resumes the reader in the next turn's timers phase; the rest is housekeeping (the
 * socket back to the pool), so nobody waits for it.
 */
const afterCompleted: Effect.Effect<void> = Effect.withScheduler(Effect.yieldNow(), Scheduler.timer(0))

/** A status stream connection that has delivered COMPLETED. */
interface Connected {
  readonly last: Queue.Completed
  /**
   * The connection's reader, still reading the rest of the body (fal closes the stream right
   * after COMPLETED): a body read to its end leaves its socket to the connection pool, where an
   * aborted one is closed. Interrupt it once done with the request.
   */
  readonly rest: Fiber.RuntimeFiber<void, FalError.FalError>
}

/**
 * One connection of the status stream. Each status is handed to `emit` as it arrives; the
 * connection succeeds as soon as COMPLETED has been emitted, and fails when the stream closes
 * before it, sends something that is not a status, or stays silent (not even a keep-alive
 * comment) for the keep-alive limit.
 *
 * The body is read and decoded in one fiber (the body's chunks pulled in a loop, an
 * incremental {@link Sse.Decoder}), under one watchdog per connection (`Watchdog.start`), as
 * `Request.attempt`'s: the reader runs in a fiber of its own, which the watchdog interrupts
 * (aborting the request) before the connection fails with `silent`; an Effect fiber cannot be
 * failed from outside, only interrupted. With the live clock the watchdog is one re-armed
 * `setTimeout`, else a fiber sleeping on the fiber's `Clock` (so that `TestClock` drives it).
 * The limit covers the wait for the headers too. Time spent in `emit` (the caller's `onStatus`,
 * or a stream consumer not pulling) is not silence. Before, the decoding was some ten `Stream`
 * stages and the watchdog a `Stream.timeoutFail` race (two fibers and a timer) on every pull:
 * each stage a channel executor and closures held for the whole run of the job.
 *
 * The reader is started (from the caller's runtime, at once, so the request goes out before the
 * caller suspends), observed, and its watchdog armed, all in the step that suspends the caller
 * (`Effect.async`'s registration): no interruption can come between them, and the caller holds
 * no region of its own while the job runs (an `uninterruptibleMask` would hold two frames).
 */
const connect = <R>(
  t: Target,
  options: Queue.StreamOptions | undefined,
  emit: (status: Queue.Status) => Effect.Effect<void, never, R>,
  span: Tracer.Span | undefined
): Effect.Effect<Connected, FalError.FalError, R> => {
  const keepAlive = Duration.decode(options?.keepAlive ?? defaultKeepAlive)
  const limit = Duration.toMillis(keepAlive)
  const request = withLogs(HttpClientRequest.get(`${statusUrl(t)}/stream`), options?.logs).pipe(
    HttpClientRequest.setHeader("accept", "text/event-stream")
  )
  return Effect.flatMap(Effect.runtime<R>(), (runtime) =>
    Effect.async<Connected, FalError.FalError>((resume) => {
      const clock = Context.get(FiberRefs.getOrDefault(runtime.fiberRefs, DefaultServices.currentServices), Clock.Clock)
      let heardAt = clock.unsafeCurrentTimeMillis()
      /** In `emit`: the silence does not count. */
      let busy = false
      let completed: Queue.Completed | undefined
      /** The caller has its outcome (COMPLETED, a failure) or has left. */
      let settled = false
      let silenced = false
      let readerDone = false
      let stopWatchdog: (() => void) | undefined
      let reader: Fiber.RuntimeFiber<void, FalError.FalError> | undefined = undefined
      const settle = (exit: Exit.Exit<Connected, FalError.FalError>) => {
        if (settled) return
        settled = true
        resume(exit)
      }
      const emitted = (status: Queue.Status) => {
        busy = false
        heardAt = clock.unsafeCurrentTimeMillis()
        if (status.status === "COMPLETED") {
          completed = status
          if (reader !== undefined) settle(Exit.succeed({ last: status, rest: reader }))
        }
      }
      /** Decodes and emits the events of a chunk, up to COMPLETED. */
      const handle = (
        events: ReadonlyArray<Sse.Event>,
        index: number,
        meta: ResponseMeta.ResponseMeta
      ): Effect.Effect<void, FalError.FalError, R> => {
        if (index === events.length || completed !== undefined) return Effect.void
        const data = events[index].data
        let json: unknown
        try {
          json = JSON.parse(data)
        } catch {
          return Effect.fail(notJson(t.requestId, data))
        }
        return Effect.flatMap(decodeStatus("statusStream", json, t.requestId, meta), (status) => {
          busy = true
          return Effect.zipRight(
            emit(status),
            Effect.suspend(() => {
              emitted(status)
              return completed === undefined ? handle(events, index + 1, meta) : afterCompleted
            })
          )
        })
      }
      /** A failure of the body: a platform error is a transport one; every error is redacted. */
      const failure = (
        error: FalError.FalError | HttpClientError.ResponseError
      ): Effect.Effect<void, FalError.FalError> =>
        // once COMPLETED is delivered, how the rest of the body goes is no one's concern
        completed !== undefined ? Effect.void : Effect.fail(
          Request.redactError(t.service)(
            error._tag === "ResponseError" ? Errors.transport("statusStream", error, t.requestId) : error
          )
        )
      /** Reads the body, pulled chunk by chunk in this fiber (`Stream.run*` would fork one more). */
      const body = (
        response: HttpClientResponse.HttpClientResponse,
        meta: ResponseMeta.ResponseMeta,
        scope: Scope.Scope
      ) => {
        heardAt = clock.unsafeCurrentTimeMillis()
        const decoder = new Sse.Decoder()
        const chunk = (bytes: Chunk.Chunk<Uint8Array>): Effect.Effect<void, FalError.FalError, R> => {
          heardAt = clock.unsafeCurrentTimeMillis()
          // after COMPLETED the rest of the body is read, not decoded
          if (completed !== undefined) return Effect.void
          let events: ReadonlyArray<Sse.Event> = []
          for (const part of bytes) events = events.concat(decoder.push(part))
          return events.length === 0 ? Effect.void : handle(events, 0, meta)
        }
        return Effect.flatMap(Channel.toPullIn(Stream.toChannel(response.stream), scope), (pull) => {
          const loop: Effect.Effect<void, FalError.FalError | HttpClientError.ResponseError, R> = Effect.flatMap(
            pull,
            (next) =>
              Either.isRight(next)
                ? Effect.zipRight(chunk(next.right), loop)
                : completed === undefined
                ? Effect.fail(closedEarly(t.requestId))
                : Effect.void
          )
          return loop
        })
      }
      // The reader's whole work. Its fiber starts uninterruptible and the work runs in one
      // interruptible region, so that one handler closes the body's scope (on any exit, an
      // interruption included) and maps its failures: `Effect.scoped` and `catchAll` would hold a
      // region and a frame more on the reader's stack while the job runs. Built as the reader
      // starts: the request's effect (the attempt, its watchdog, its span) is needed only until
      // the headers.
      const read = Effect.flatMap(Scope.make(), (scope) =>
        Effect.matchCauseEffect(
          Effect.interruptible(Effect.flatMap(
            Request.attempt(t.service, {
              operation: "statusStream",
              request,
              requestId: t.requestId,
              span,
              onResponse: (response, meta) => Effect.succeed({ response, meta })
            }),
            ({ meta, response }) => body(response, meta, scope)
          )),
          {
            onFailure: (cause) =>
              Effect.zipRight(
                Scope.close(scope, Exit.failCause(cause)),
                Either.match(Cause.failureOrCause(cause), { onLeft: failure, onRight: Effect.failCause })
              ),
            onSuccess: () => Scope.close(scope, Exit.void)
          }
        ))
      /** Silence: the reader is interrupted; its observer reports `silent`. */
      const fire = () => {
        silenced = true
        reader?.unsafeInterruptAsFork(reader.id())
      }
      // The reader's runtime: the caller's, uninterruptible (see `read`), with the stream's span
      // as the parent span (of the connection's `http.client` span and of whatever `emit` traces).
      const readerRuntime = Runtime.make({
        context: span === undefined ? runtime.context : Context.add(runtime.context, Tracer.ParentSpan, span),
        fiberRefs: runtime.fiberRefs,
        runtimeFlags: RuntimeFlags.disable(runtime.runtimeFlags, RuntimeFlags.Interruption)
      })
      reader = Runtime.runFork(readerRuntime, read)
      reader.addObserver((exit) => {
        readerDone = true
        stopWatchdog?.()
        if (Exit.isSuccess(exit)) return
        settle(
          Exit.failCause(
            silenced && Exit.isInterrupted(exit) ? Cause.fail(silent(t.requestId, keepAlive)) : exit.cause
          )
        )
      })
      // COMPLETED before the reader's handle was known (it started at once, in this step)
      if (completed !== undefined) settle(Exit.succeed({ last: completed, rest: reader }))
      if (!readerDone) {
        // the time left before the silence is too long (time in `emit` does not count)
        stopWatchdog = Watchdog.start(
          clock,
          readerRuntime,
          () => readerDone ? undefined : busy ? limit : heardAt + limit - clock.unsafeCurrentTimeMillis(),
          fire
        )
      }
      const started = reader
      // the caller is interrupted: stop the watchdog, abort the request and wait for it
      return Effect.suspend(() => {
        settled = true
        stopWatchdog?.()
        return Effect.asVoid(Fiber.interrupt(started))
      })
    }))
}

/**
 * Follows the status stream to COMPLETED, reconnecting under the policy. `span`, when given, is
 * the stream's span (the parent of its connections' spans); else the current span is.
 */
const streamed = <R>(
  t: Target,
  options: Queue.StreamOptions | undefined,
  emit: (status: Queue.Status) => Effect.Effect<void, never, R>,
  span?: Tracer.Span
): Effect.Effect<Connected, FalError.FalError, R> =>
  // A failed connection is reopened while the policy allows; the budget and the growing delay
  // span the whole stream, so a server that sends one event and closes cannot keep it
  // reconnecting forever.
  Request.withRetry("statusStream", options?.retry, connect(t, options, emit, span))

const streamSpan = (ref: Queue.RequestRef) =>
  ["fal.statusStream", {
    kind: "client",
    captureStackTrace: false,
    attributes: { "fal.model_id": ref.modelId, "fal.request_id": ref.requestId }
  }] as const

export const statusStream = (
  ref: Queue.RequestRef,
  options?: Queue.StreamOptions
): Stream.Stream<Queue.Status, FalError.FalError, FalClient> =>
  Stream.unwrapScoped(
    Effect.gen(function*() {
      const t = yield* target(ref)
      const mailbox = yield* Mailbox.make<Queue.Status, FalError.FalError>(16)
      yield* streamed(t, options, (status) => Effect.asVoid(mailbox.offer(status))).pipe(
        Effect.matchCauseEffect({
          // the stream ends at COMPLETED; the reader reads the rest until the stream's scope closes
          onSuccess: (connected) => Effect.zipRight(mailbox.end, Fiber.await(connected.rest)),
          onFailure: (cause) => mailbox.failCause(cause)
        }),
        Effect.forkScoped
      )
      return Mailbox.toStream(mailbox)
    })
  ).pipe(Stream.withSpan(...streamSpan(ref)))

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

/** How a request was followed: its last status, and what to stop once its result is read. */
interface Followed {
  readonly last: Queue.Status
  /** The status stream's reader, still reading the rest of its body (see `Connected`). */
  readonly rest?: Fiber.RuntimeFiber<void, FalError.FalError> | undefined
}

/** `true` when the final status reports a failure. */
const failed = (last: Queue.Status) =>
  last.status === "COMPLETED" && (last.error !== undefined || last.errorType !== undefined)

/**
 * Follows a request until it completes, then reads its result (retried on faults unless the job
 * itself failed); when interrupted meanwhile, cancels it upstream (unless `cancelOnInterrupt` is
 * `false`).
 *
 * Runs in the uninterruptible region of the operation's span (`Request.tracedRegion`): only the
 * waits are interruptible (`restore`), and one handler per wait ends the status stream's span,
 * stops the stream's reader and cancels on interruption. `Effect.useSpan`, `Effect.ensuring` and
 * `Effect.onInterrupt` would each open a region of their own, three frames apiece held on the
 * fiber's stack while the job runs (issue 13's memory per held subscription).
 */
const followAndRead = <A, I, R, REnqueue>(
  restore: Request.Restore,
  ref: Queue.RequestRef,
  options:
    | Queue.FollowOptions<R> & Queue.ResultOptions & { readonly output?: Schema.Schema<A, I> | undefined }
    | undefined,
  onEnqueue?: Effect.Effect<void, never, REnqueue>
): Effect.Effect<Queue.Result<A>, FalError.FalError, FalClient | R | REnqueue> => {
  const cancelling = options?.cancelOnInterrupt !== false
  /** A failure; an interruption cancels the request upstream first (bounded, never failing). */
  const leave = (cause: Cause.Cause<FalError.FalError>) =>
    cancelling && Cause.isInterruptedOnly(cause)
      ? Effect.zipRight(cancelQuietly(ref), Effect.failCause(cause))
      : Effect.failCause(cause)
  const read = ({ last, rest }: Followed) => {
    const stop = rest === undefined ? Effect.void : Fiber.interrupt(rest)
    return Effect.matchCauseEffect(restore(resultOf(ref, options, failed(last))), {
      onFailure: (cause) => Effect.zipRight(stop, leave(cause)),
      onSuccess: (result) => Effect.as(stop, result)
    })
  }
  const onStatus = options?.onStatus ?? (() => Effect.void)
  const before = onEnqueue === undefined ? target(ref) : Effect.zipRight(onEnqueue, target(ref))
  return Effect.flatMap(
    Effect.catchAllCause(restore(before), leave),
    (t): Effect.Effect<Queue.Result<A>, FalError.FalError, FalClient | R> => {
      if (options?.mode === "poll") {
        const polled = status(ref, options).pipe(
          Effect.tap(onStatus),
          Effect.tap((s) =>
            s.status === "COMPLETED" ? Effect.void : Effect.sleep(options.pollInterval ?? "500 millis")
          ),
          Effect.repeat({ until: (s) => s.status === "COMPLETED" })
        )
        return Effect.matchCauseEffect(restore(polled), { onFailure: leave, onSuccess: (last) => read({ last }) })
      }
      // Acts on COMPLETED as it arrives: the result is read while the connection's reader reads
      // the rest of the body, which leaves its socket to the pool. The stream's span is the
      // parent of the readers' fibers, not the current span of this fiber.
      return Effect.flatMap(
        Effect.makeSpan(...streamSpan(ref)),
        (span) =>
          Effect.withFiberRuntime((fiber) => {
            Request.flattenIds(span)
            const end = Request.spanEnder(fiber)
            return Effect.matchCauseEffect(restore(streamed(t, options, onStatus, span)), {
              onFailure: (cause) => {
                end(span, Exit.failCause(cause))
                return leave(cause)
              },
              onSuccess: (connected) => {
                end(span, Exit.void)
                return read(connected)
              }
            })
          })
      )
    }
  )
}

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
  Request.tracedRegion(
    "resume",
    { "fal.model_id": ref.modelId, "fal.request_id": ref.requestId },
    (restore) => followAndRead(restore, ref, options)
  )

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
  Request.tracedRegion("subscribe", { "fal.model_id": modelId }, (restore) =>
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
          (submitted) => followAndRead(restore, submitted, options, options?.onEnqueue?.(submitted))
        )
    ))
