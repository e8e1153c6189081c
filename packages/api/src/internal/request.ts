import * as RequestOptions from "@effect-fal/headers/RequestOptions"
import * as ResponseMeta from "@effect-fal/headers/ResponseMeta"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import { FalClient, type Service } from "../FalClient.js"
import * as FalError from "../FalError.js"
import * as ModelId from "../ModelId.js"
import * as Retry from "../Retry.js"
import type * as Budget from "./budget.js"
import * as Errors from "./errors.js"
import * as Redact from "./redact.js"
import * as Watchdog from "./watchdog.js"

/**
 * One call to fal, described once: the operation (its retry policy, timeouts and span name),
 * the request, the request id when known, the per-call overrides, and what to do with a success.
 */
export interface Call<A> {
  readonly operation: Retry.Operation
  readonly request: HttpClientRequest.HttpClientRequest
  readonly retry?: Retry.Override | undefined
  readonly requestId?: string | undefined
  /** The parent of each attempt's `http.client` span; default: the caller's current span. */
  readonly span?: Tracer.AnySpan | undefined
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

/** Puts what fal reported (request id, billable units, serving runner) on `span`. */
export const annotateSpan = (span: Tracer.AnySpan, result: Traceable): void => {
  if (span._tag !== "Span") return
  const requestId = result.requestId ?? result.meta.requestId
  if (requestId !== undefined) span.attribute("fal.request_id", requestId)
  if (result.meta.billableUnits !== undefined) span.attribute("fal.billable_units", result.meta.billableUnits)
  if (result.meta.servedFrom !== undefined) span.attribute("fal.served_from", result.meta.servedFrom)
}

/** Puts what fal reported on the current span (see `annotateSpan`). */
export const annotate = (result: Traceable): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const span = Context.getOrElse(fiber.currentContext, Tracer.ParentSpan, () => undefined)
    if (span !== undefined) annotateSpan(span, result)
    return Effect.void
  })

/** `restore` of an uninterruptible region (`Effect.uninterruptibleMask`). */
export type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/** Ends `span` with `exit` at the fiber's clock, as `Effect.useSpan` does (no time when timing is off). */
export const spanEnder = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => {
  const clock = Context.get(fiber.getFiberRef(DefaultServices.currentServices), Clock.Clock)
  const timed = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
  return (span: Tracer.Span, exit: Exit.Exit<unknown, unknown>): void => {
    if (span.status._tag !== "Ended") span.end(timed ? clock.unsafeCurrentTimeNanos() : 0n, exit)
  }
}

/**
 * Flattens the span's ids, once, where the span is made: for a span held while a job runs.
 *
 * Effect's native tracer builds each id one character at a time, and V8 keeps such a string as a
 * chain of rope nodes (one per character past the twelfth): some 900 bytes for a trace id and a
 * span id, against some 200 once flat. Reading a character of a rope makes V8 flatten it in
 * place, and the collector then drops the chain. A span of another tracer (OpenTelemetry's) has
 * flat ids already; this costs it two reads.
 */
export const flattenIds = (span: Tracer.Span): void => {
  span.traceId.charCodeAt(0)
  span.spanId.charCodeAt(0)
}

/**
 * Runs an operation in a client span `fal.<operation>` with the model and request ids; on
 * success the span also gets the request id, billable units and serving runner fal reported.
 *
 * What `Effect.withSpan` does, in one region instead of two: `withSpan` ends the span in one
 * (`onExit`) and sets it as the current span in another (`provideService`, which restores the
 * context in a third step of its own). A queue operation can wait a long time inside its span
 * (`subscribe` for the whole job), and every region is frames and closures held on the waiting
 * fiber's stack (issue 13's memory per held subscription). Here the span is made, set as the
 * current span, and on exit the context restored and the span ended, in one uninterruptible
 * region, so that no interruption can come between the span's start and its end.
 *
 * `body` runs inside that region and gets its `restore`: an operation that needs a region of
 * its own (`subscribe`, `resume`: a submit that must not be cut off, a cancellation upstream on
 * interruption) shares this one instead of opening a second, each region being frames held on a
 * waiting fiber's stack.
 */
export const tracedRegion = <A extends Traceable, E, R>(
  operation: string,
  attributes: Readonly<Record<string, string | undefined>>,
  body: (restore: Restore) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const defined: Record<string, string> = {}
  for (const name in attributes) {
    const value = attributes[name]
    if (value !== undefined) defined[name] = value
  }
  return Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      // the call site inside this module says nothing: no stack is captured
      Effect.makeSpan(`fal.${operation}`, { kind: "client", captureStackTrace: false, attributes: defined }),
      (span) =>
        Effect.withFiberRuntime<A, E, R>((fiber) => {
          flattenIds(span)
          const outer = fiber.currentContext
          const end = spanEnder(fiber)
          const close = (exit: Exit.Exit<A, E>) =>
            Effect.zipRight(
              FiberRef.set(FiberRef.currentContext, outer),
              Effect.suspend(() => {
                end(span, exit)
                return exit
              })
            )
          return Effect.zipRight(
            FiberRef.set(FiberRef.currentContext, Context.add(outer, Tracer.ParentSpan, span)),
            Effect.matchCauseEffect(body(restore), {
              onFailure: (cause) => close(Exit.failCause(cause)),
              onSuccess: (value) => {
                annotateSpan(span, value)
                return close(Exit.succeed(value))
              }
            })
          )
        })
    )
  )
}

/** Runs `effect`, interruptible as it was, in the operation's span (see `tracedRegion`). */
export const traced =
  (operation: string, attributes: Readonly<Record<string, string | undefined>>) =>
  <A extends Traceable, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    tracedRegion(operation, attributes, (restore) => restore(effect))

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
): Limits => {
  const client = service.timeouts[call.operation]
  if (call.timeouts === undefined) return client
  return {
    headers: call.timeouts.headers === undefined ? client.headers : Duration.decode(call.timeouts.headers),
    body: call.timeouts.body === undefined ? client.body : Duration.decode(call.timeouts.body)
  }
}

interface Limits {
  readonly headers: Duration.Duration
  readonly body: Duration.Duration
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

/** Ends the attempt's `http.client` span once, at a whole millisecond of the fiber's clock. */
const endSpan = (span: Tracer.Span, clock: Clock.Clock, exit: Exit.Exit<unknown, unknown>) => {
  if (span.status._tag === "Ended") return
  // whole milliseconds: a test clock moved by jittered delays may stand on a fraction
  span.end(BigInt(Math.round(clock.unsafeCurrentTimeMillis())) * 1_000_000n, exit)
}

/**
 * The refs of an attempt's own fiber, set as the fiber is made rather than by a step of it: the
 * platform's `http.client` span is off, since its recorded exit holds the request, authorization
 * header included. The attempt's own span (see `attempt`) ends with the status or the
 * already-redacted `FalError`, so a tracer that serialises exits sees no key.
 */
const attemptRefs = (refs: FiberRefs.FiberRefs, fiberId: FiberId.Runtime): FiberRefs.FiberRefs =>
  FiberRefs.updateAs(refs, { fiberId, fiberRef: HttpClient.currentTracerDisabledWhen, value: Redact.platformSpanOff })

/**
 * Runs an attempt under its two per-attempt limits with one watchdog (`Watchdog.start`):
 * `headers` from the start until `arrived` is called, then `body` from there until the attempt
 * ends. `start` starts the attempt on a fiber of its own, which the watchdog interrupts (aborting
 * the request) before the attempt fails with `onTimeout`; interrupting the caller interrupts (and
 * awaits) it too. While the headers are awaited the watchdog waits at most `body` at a time, so
 * that it re-arms for the body limit in time once they arrive.
 *
 * The attempt's fiber (and the watchdog's, with a test clock) is started, observed and armed in
 * one step of the caller's fiber, so no interruption can come between them: the caller is
 * interruptible only while it awaits the outcome, and then its canceler stops both.
 */
const watched = <A>(
  limit: Limits,
  start: (
    runtime: Runtime.Runtime<never>,
    clock: Clock.Clock,
    arrived: () => void
  ) => Fiber.RuntimeFiber<A, FalError.FalError>,
  onTimeout: (which: "headers" | "body") => FalError.FalError,
  ended: (exit: Exit.Exit<A, FalError.FalError>) => void
): Effect.Effect<A, FalError.FalError> =>
  Effect.withFiberRuntime((caller, status) => {
    const runtime = Runtime.make({
      context: caller.currentContext,
      fiberRefs: caller.getFiberRefs(),
      runtimeFlags: status.runtimeFlags
    })
    const clock = Context.get(caller.getFiberRef(DefaultServices.currentServices), Clock.Clock)
    const headersMs = Duration.toMillis(limit.headers)
    const bodyMs = Duration.toMillis(limit.body)
    const begun = clock.unsafeCurrentTimeMillis()
    let headersAt = -1
    // "running" until the attempt ends, times out, or the caller leaves
    let state: "running" | "headers" | "body" | "done" = "running"
    let outcome: Exit.Exit<A, FalError.FalError> | undefined
    let resume: ((exit: Exit.Exit<A, FalError.FalError>) => void) | undefined
    let stopWatchdog: (() => void) | undefined = undefined
    const child = start(runtime, clock, () => {
      headersAt = clock.unsafeCurrentTimeMillis()
    })
    const settle = (exit: Exit.Exit<A, FalError.FalError>) => {
      ended(exit)
      stopWatchdog?.()
      if (state === "done") return
      // an attempt that ended on its own just before a timeout's interruption keeps its outcome
      const settled = state === "running" || !Exit.isInterrupted(exit) ? exit : Exit.fail(onTimeout(state))
      state = "done"
      if (resume === undefined) outcome = settled
      else resume(settled)
    }
    child.addObserver(settle)
    // ended already (it never waited): nothing to watch
    if (outcome !== undefined) return outcome
    stopWatchdog = Watchdog.start(
      clock,
      runtime,
      () => {
        if (state !== "running") return undefined
        const now = clock.unsafeCurrentTimeMillis()
        if (headersAt >= 0) return headersAt + bodyMs - now
        const remaining = begun + headersMs - now
        return remaining <= 0 ? remaining : Math.min(remaining, Math.max(bodyMs, 1))
      },
      // out of time: the attempt is interrupted; its observer reports the timeout once it has stopped
      () => {
        state = headersAt < 0 ? "headers" : "body"
        child.unsafeInterruptAsFork(child.id())
      }
    )
    return Effect.async<A, FalError.FalError>((callback) => {
      if (outcome !== undefined) return callback(outcome)
      resume = callback
      return Effect.suspend(() => {
        // the caller is interrupted: stop the watchdog, abort the request and wait for it
        state = "done"
        stopWatchdog?.()
        return Effect.asVoid(Fiber.interrupt(child))
      })
    })
  })

/**
 * One attempt: send, classify the status, hand a success to `onResponse`; errors are redacted.
 *
 * The attempt runs on a fiber of its own (see `watched`), started at once with `Runtime.runFork`
 * from the caller's runtime, so its first steps (the span, the request's dispatch) run before the
 * caller suspends; the platform's span is off in its refs from the start (`attemptRefs`). Its
 * `http.client` span is a child of `call.span` when given, else of the caller's current span, and
 * is the current span while the request is sent.
 */
export const attempt = <A>(service: Service, call: Call<A>): Effect.Effect<A, FalError.FalError> => {
  const context: Errors.Context = {
    operation: call.operation,
    requestId: call.requestId,
    maxQueueLength: call.maxQueueLength
  }
  const limit = limits(service, call)
  const accept = call.accept ?? ok
  const request = call.request
  let requestId = call.requestId
  let span: Tracer.Span | undefined
  let spanClock: Clock.Clock | undefined
  const failed = (error: FalError.FalError) => {
    const redacted = Redact.error(service.redact)(error)
    if (span !== undefined && spanClock !== undefined) endSpan(span, spanClock, Exit.fail(redacted))
    return Effect.fail(redacted)
  }
  const onSuccess =
    (opened: Tracer.Span, clock: Clock.Clock, arrived: () => void, outer: Context.Context<never>) =>
    (response: HttpClientResponse.HttpClientResponse): Effect.Effect<A, FalError.FalError> => {
      opened.attribute("http.response.status_code", response.status)
      endSpan(opened, clock, Exit.succeed(response.status))
      arrived()
      if (requestId === undefined) requestId = response.headers["x-fal-request-id"]
      const handled = accept(response.status)
        ? call.onResponse(response, ResponseMeta.fromHeaders(response.headers))
        : Effect.flatMap(errorText(response), (text) =>
          Effect.flatMap(
            Errors.fromStatus(context, response.status, response.headers, text),
            Effect.fail
          ))
      // the response is handled in the caller's context, not under the ended span
      return Effect.zipRight(
        FiberRef.set(FiberRef.currentContext, outer),
        Effect.mapError(handled, Redact.error(service.redact))
      )
    }
  return watched(
    limit,
    (runtime, clock, arrived) =>
      Runtime.runFork(
        runtime,
        Effect.interruptible(Effect.flatMap(
          Effect.makeSpan(`http.client ${request.method}`, {
            kind: "client",
            captureStackTrace: false,
            parent: call.span,
            attributes: { "http.request.method": request.method, "url.full": request.url }
          }),
          (opened) => {
            span = opened
            spanClock = clock
            return Effect.zipRight(
              FiberRef.set(FiberRef.currentContext, Context.add(runtime.context, Tracer.ParentSpan, opened)),
              Effect.matchEffect(
                service.httpClient.execute(HttpClientRequest.setHeaders(request, HttpTraceContext.toHeaders(opened))),
                {
                  onFailure: (error) => Effect.catchAll(fromHttpClientError(context, error), failed),
                  onSuccess: onSuccess(opened, clock, arrived, runtime.context)
                }
              )
            )
          }
        )),
        { updateRefs: attemptRefs }
      ),
    (which) => timedOut(call.operation, which, which === "headers" ? limit.headers : limit.body, requestId),
    // interrupted while sending (a timeout, or the caller left): the span ends with the interruption
    (exit) => {
      if (span !== undefined && spanClock !== undefined) endSpan(span, spanClock, exit)
    }
  )
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

/** Runs a call with a client: timeouts per attempt, retried by policy and budget, bounded by the deadline. */
export const executeWith = <A>(service: Service, call: Call<A>): Effect.Effect<A, FalError.FalError> =>
  withDeadline(
    call.operation,
    call.deadline,
    call.requestId,
    withRetry(call.operation, call.retry, attempt(service, call), service.retryBudget, call.retryAlso)
  )

/** Runs a call with the client from the context (see `executeWith`). */
export const execute = <A>(call: Call<A>): Effect.Effect<A, FalError.FalError, FalClient> =>
  Effect.flatMap(FalClient, (service) => executeWith(service, call))

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

const noOptions: RequestOptions.Wire = { headers: {}, query: {} }

const wireEither = (
  service: Service,
  options: RequestOptions.RequestOptions | undefined
): Either.Either<RequestOptions.Wire, FalError.InvalidRequestOptions> =>
  options === undefined ? Either.right(noOptions) : RequestOptions.toWire(
    options,
    service.startTimeoutHeader === undefined ? undefined : { startTimeoutHeader: service.startTimeoutHeader }
  )

/** Encodes request options for the wire, before anything is sent. */
export const wire = (
  service: Service,
  options: RequestOptions.RequestOptions | undefined
): Effect.Effect<RequestOptions.Wire, FalError.InvalidRequestOptions> =>
  Either.match(wireEither(service, options), { onLeft: Effect.fail, onRight: Effect.succeed })

/** A request to a model, prepared: its parsed id and the request that sends its input. */
export interface ModelRequest {
  readonly modelId: ModelId.ModelId
  readonly request: HttpClientRequest.HttpClientRequest
}

/**
 * The request that sends `input` to a model: `POST {base}/{full model id}` with the encoded
 * options and the input as JSON. The model id, the options and the input are all checked here,
 * in that order, before anything is sent.
 */
export const modelRequestEither = (
  service: Service,
  base: string,
  id: string,
  input: unknown,
  options: RequestOptions.RequestOptions | undefined
): Either.Either<ModelRequest, FalError.InvalidModelId | FalError.InvalidRequestOptions | FalError.ValidationError> => {
  const parsed = ModelId.parse(id)
  if (Either.isLeft(parsed)) return Either.left(parsed.left)
  const encoded = wireEither(service, options)
  if (Either.isLeft(encoded)) return Either.left(encoded.left)
  const body = jsonText(input)
  if (Either.isLeft(body)) return Either.left(body.left)
  const request = HttpClientRequest.post(`${base}/${ModelId.fullPath(parsed.right)}`, {
    headers: encoded.right.headers,
    urlParams: encoded.right.query,
    acceptJson: true,
    body: HttpBody.text(body.right, "application/json")
  })
  return Either.right({ modelId: parsed.right, request })
}

/** `modelRequestEither` as an effect: one step for the whole preparation. */
export const modelRequest = (
  service: Service,
  base: string,
  id: string,
  input: unknown,
  options: RequestOptions.RequestOptions | undefined
): Effect.Effect<ModelRequest, FalError.InvalidModelId | FalError.InvalidRequestOptions | FalError.ValidationError> =>
  Effect.suspend(() =>
    Either.match(modelRequestEither(service, base, id, input, options), {
      onLeft: Effect.fail,
      onRight: Effect.succeed
    })
  )

/** Applies encoded options to a request. */
export const withWire = (
  request: HttpClientRequest.HttpClientRequest,
  encoded: RequestOptions.Wire
): HttpClientRequest.HttpClientRequest =>
  request.pipe(HttpClientRequest.setHeaders(encoded.headers), HttpClientRequest.setUrlParams(encoded.query))

/** `input` as JSON text; input that cannot be serialised is a `ValidationError`. */
const jsonText = (input: unknown): Either.Either<string, FalError.ValidationError> => {
  let text: string | undefined
  let reason = ""
  try {
    text = JSON.stringify(input)
  } catch (error) {
    reason = error instanceof Error ? `: ${error.message}` : ""
  }
  if (text !== undefined) return Either.right(text)
  return Either.left(
    new FalError.ValidationError({
      issues: [
        new FalError.ValidationIssue({ loc: ["body"], msg: `the input cannot be sent as JSON${reason}`, type: "json" })
      ]
    })
  )
}

/** Sets `input` as the JSON body; input that cannot be serialised fails before sending. */
export const jsonBody = (
  request: HttpClientRequest.HttpClientRequest,
  input: unknown
): Effect.Effect<HttpClientRequest.HttpClientRequest, FalError.ValidationError> =>
  Either.match(jsonText(input), {
    onLeft: Effect.fail,
    onRight: (text) => Effect.succeed(HttpClientRequest.bodyText(request, text, "application/json"))
  })

/** Redacts the client's credentials from an error built outside `attempt` (e.g. from a stream's events). */
export const redactError = (service: Service): (error: FalError.FalError) => FalError.FalError =>
  Redact.error(service.redact)
