/**
 * Models served by the in-memory fal platform: an id, an input `Schema` (a decoding failure
 * answers `422` with fal's `detail[]`), and a handler, an `Effect` producing the JSON output.
 * The handler runs on a runner fiber, on the platform's `Clock`, and may log, write output files
 * to the CDN and fail with a {@link ModelError} carrying fal's `error_type`. A streaming model
 * ({@link makeStreaming}) also answers `POST {run}/{id}/stream`: its handler is a `Stream` of
 * partial outputs (Server-Sent Events) or of byte chunks (a binary answer).
 *
 * @example
 * ```ts
 * import { Model } from "@effect-fal/testing"
 * import * as Effect from "effect/Effect"
 * import * as Schema from "effect/Schema"
 *
 * const upper = Model.make({
 *   id: "acme/upper",
 *   input: Schema.Struct({ text: Schema.String }),
 *   handler: ({ text }, ctx) =>
 *     Effect.gen(function*() {
 *       yield* ctx.log(`upper-casing ${text.length} characters`)
 *       return { text: text.toUpperCase() }
 *     })
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Fault from "./Fault.js"

/**
 * A model failure, answered as fal answers it: the HTTP `status`, the body
 * `{"detail", "error_type"}` and the `X-Fal-Error-Type` header. `503` and `504` failures are
 * retried by the queue (up to 10 attempts in all) unless the request sent `X-Fal-No-Retry`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ModelError extends Data.TaggedError("ModelError")<{
  readonly status: number
  readonly errorType?: string | undefined
  /** The body's `detail`: a string, or a list of validation issues. */
  readonly detail: unknown
  /** Sent as `X-Fal-Retryable` when set. */
  readonly retryable?: boolean | undefined
}> {}

/**
 * One validation issue, as fal (FastAPI) reports it in a `422` `detail[]`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ValidationIssue {
  readonly loc: ReadonlyArray<string | number>
  readonly msg: string
  readonly type: string
  readonly input?: unknown
}

/**
 * A file a handler writes to the CDN.
 *
 * @since 0.1.0
 * @category models
 */
export interface FileInput {
  readonly fileName: string
  readonly contentType: string
  readonly content: Uint8Array | string
}

/**
 * What a handler sees besides its input.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelContext {
  /** The request's id (a UUID). */
  readonly requestId: string
  /** 1 for the first attempt; the queue retries transient failures. */
  readonly attempt: number
  /** The runner serving this attempt (sent back as `X-Fal-Served-From`). */
  readonly runnerId: string
  /** Appends a log line, visible in `status?logs=1` and the status stream. */
  readonly log: (message: string, level?: string) => Effect.Effect<void>
  /**
   * Writes an output file to the CDN and returns its URL. The file belongs to the request's
   * output: payload deletion removes it, and `X-Fal-Object-Lifecycle-Preference` sets its expiry.
   */
  readonly writeFile: (file: FileInput) => Effect.Effect<string>
}

/**
 * A registered model, with its input already erased: `run` decodes the input and calls the
 * handler. Build one with {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Model {
  readonly id: string
  /** How many runners serve the model (each runs one request at a time). Default 1. */
  readonly runners: number
  /** `X-Fal-Billable-Units` of a successful answer. */
  readonly billableUnits: (output: unknown) => number
  /** Another registered model id the platform falls back to on transient failures. */
  readonly fallback?: string | undefined
  readonly run: (input: unknown, ctx: ModelContext) => Effect.Effect<unknown, ModelError>
  /** How the model answers `POST {run}/{id}/stream`, if it streams ({@link makeStreaming}). */
  readonly streaming?: Streaming | undefined
}

/**
 * What a model streams: partial outputs as Server-Sent Events (`text/event-stream`, each element
 * one `data:` JSON event, or a {@link RawEvent} written as it is) or, for any other content type,
 * byte chunks (each element a `Uint8Array`). A `ModelError` before the first element is an
 * ordinary error answer; after it, an `event: error` with `{"detail", "error_type"}`. A
 * `Fault.ConnectionReset` cuts the connection.
 *
 * @since 0.2.0
 * @category models
 */
export interface Streaming {
  readonly contentType: string
  readonly stream: (
    input: unknown,
    ctx: ModelContext
  ) => Stream.Stream<unknown, ModelError | Fault.ConnectionReset>
}

/**
 * An SSE event written as it is (`data: <text>`), not as JSON: how a test model sends a line that
 * is not JSON.
 *
 * @since 0.2.0
 * @category models
 */
export class RawEvent extends Data.TaggedClass("RawEvent")<{ readonly text: string }> {}

/**
 * @since 0.1.0
 * @category constructors
 */
export interface MakeOptions<A, I> {
  /** The full model id, e.g. `"acme/upper"` or `"acme/flux/dev"`. */
  readonly id: string
  /** Decodes the JSON input; a failure answers `422` with `detail[]` (`loc` starts with `"body"`). */
  readonly input: Schema.Schema<A, I>
  readonly handler: (input: A, ctx: ModelContext) => Effect.Effect<unknown, ModelError>
  readonly runners?: number | undefined
  /** A constant, or a function of the output. Default `1`. */
  readonly billableUnits?: number | ((output: unknown) => number) | undefined
  readonly fallback?: string | undefined
}

/**
 * The `detail[]` of a `422` for a Schema decoding failure.
 *
 * @since 0.1.0
 * @category validation
 */
export const validationIssues = (error: ParseResult.ParseError): ReadonlyArray<ValidationIssue> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
    loc: ["body", ...issue.path.map((key) => (typeof key === "number" ? key : String(key)))],
    msg: issue.message,
    type: issue._tag === "Missing" ? "missing" : "value_error"
  }))

/**
 * A `422` {@link ModelError} from validation issues.
 *
 * @since 0.1.0
 * @category errors
 */
export const validationError = (issues: ReadonlyArray<ValidationIssue>): ModelError =>
  new ModelError({ status: 422, detail: issues })

/**
 * Builds a model from an input Schema and a handler.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(options: MakeOptions<A, I>): Model => {
  const decode = Schema.decodeUnknown(options.input, { errors: "all", onExcessProperty: "ignore" })
  const units = options.billableUnits
  return {
    id: options.id,
    runners: Math.max(1, options.runners ?? 1),
    billableUnits: typeof units === "function" ? units : () => units ?? 1,
    fallback: options.fallback,
    run: (input, ctx) =>
      decode(input).pipe(
        Effect.mapError((error) => validationError(validationIssues(error))),
        Effect.flatMap((decoded) => options.handler(decoded, ctx))
      )
  }
}

/**
 * @since 0.2.0
 * @category constructors
 */
export interface MakeStreamingOptions<A, I> {
  /** The full model id; the stream is served at `{run}/{id}/stream`. */
  readonly id: string
  /** Decodes the JSON input; a failure answers `422` before the stream starts. */
  readonly input: Schema.Schema<A, I>
  /**
   * The answer's content type: `text/event-stream` (default) streams JSON partial outputs; any
   * other streams the `Uint8Array` chunks the handler emits.
   */
  readonly contentType?: string | undefined
  readonly stream: (input: A, ctx: ModelContext) => Stream.Stream<unknown, ModelError | Fault.ConnectionReset>
  readonly runners?: number | undefined
  readonly billableUnits?: number | ((output: unknown) => number) | undefined
}

/**
 * Builds a streaming model. Called on `POST {run}/{id}` or through the queue, it answers its last
 * partial output (a binary model: its bytes joined).
 *
 * @example
 * ```ts
 * import { Model } from "@effect-fal/testing"
 * import * as Schema from "effect/Schema"
 * import * as Stream from "effect/Stream"
 *
 * const words = Model.makeStreaming({
 *   id: "acme/words",
 *   input: Schema.Struct({ text: Schema.String }),
 *   stream: ({ text }) => Stream.fromIterable(text.split(" ").map((word, i) => ({ word, index: i })))
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeStreaming = <A, I>(options: MakeStreamingOptions<A, I>): Model => {
  const decode = Schema.decodeUnknown(options.input, { errors: "all", onExcessProperty: "ignore" })
  const contentType = options.contentType ?? "text/event-stream"
  const stream = (input: unknown, ctx: ModelContext) =>
    Stream.unwrap(
      decode(input).pipe(
        Effect.mapError((error) => validationError(validationIssues(error))),
        Effect.map((decoded) => options.stream(decoded, ctx))
      )
    )
  const units = options.billableUnits
  return {
    id: options.id,
    runners: Math.max(1, options.runners ?? 1),
    billableUnits: typeof units === "function" ? units : () => units ?? 1,
    streaming: { contentType, stream },
    run: (input, ctx) =>
      stream(input, ctx).pipe(
        Stream.runCollect,
        Effect.catchTag("ConnectionReset", () =>
          Effect.fail(new ModelError({ status: 500, errorType: "internal_error", detail: "The stream was cut" }))),
        Effect.map((chunks) => {
          if (contentType.startsWith("text/event-stream")) {
            return Option.getOrNull(Chunk.last(chunks))
          }
          const parts = Chunk.toReadonlyArray(chunks).filter((c): c is Uint8Array =>
            c instanceof Uint8Array
          )
          return { size: parts.reduce((n, c) => n + c.byteLength, 0) }
        })
      )
  }
}

/**
 * The same model under another id, with other runner count or fallback.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withOptions = (
  model: Model,
  options: { readonly id?: string; readonly runners?: number; readonly fallback?: string }
): Model => ({
  ...model,
  ...(options.id !== undefined ? { id: options.id } : {}),
  ...(options.runners !== undefined ? { runners: Math.max(1, options.runners) } : {}),
  ...(options.fallback !== undefined ? { fallback: options.fallback } : {})
})

/**
 * Sleeps on the platform's Clock (so `TestClock.adjust` drives it): `Effect.sleep` by another name.
 *
 * @since 0.1.0
 * @category utils
 */
export const sleep = (duration: Duration.DurationInput): Effect.Effect<void> => Effect.sleep(duration)
