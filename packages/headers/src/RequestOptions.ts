/**
 * The algebra of fal's request controls: a plain immutable value with one optional field per
 * platform header or query parameter, built by total constructors, combined right-biased (the
 * later value of a field wins; `empty` is the identity), and validated only at the wire
 * boundary by {@link toWire}, so a bad value becomes a typed `InvalidRequestOptions` before any
 * byte is sent.
 *
 * @example
 * ```ts
 * import { RequestOptions } from "@effect-fal/headers"
 * import { pipe } from "effect"
 *
 * const base = RequestOptions.make({ storeIO: false, objectLifecycle: "1 hour" })
 * const options = pipe(base, RequestOptions.combine(RequestOptions.startTimeout("30 seconds")))
 * const wire = RequestOptions.toWire(options)
 * // Right({ headers: { "X-Fal-Request-Timeout": "30", ... }, query: {} })
 * ```
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Eq from "effect/Equivalence"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"
import * as DisableFallback from "./DisableFallback.js"
import type * as HeaderCodec from "./HeaderCodec.js"
import * as IdempotencyKey from "./IdempotencyKey.js"
import * as InternalDuration from "./internal/duration.js"
import type { HeaderInput } from "./internal/lookup.js"
import { InvalidRequestOptions, Issue } from "./InvalidRequestOptions.js"
import * as MaxQueueLength from "./MaxQueueLength.js"
import * as NoRetry from "./NoRetry.js"
import * as ObjectLifecycle from "./ObjectLifecycle.js"
import * as QueuePriority from "./QueuePriority.js"
import * as RunnerHint from "./RunnerHint.js"
import * as StartTimeout from "./StartTimeout.js"
import * as StoreIO from "./StoreIO.js"
import * as Webhook from "./Webhook.js"

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  InvalidRequestOptions
}

/**
 * Request controls. Every field is optional; absent means the platform default.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  /**
   * `X-Fal-Request-Timeout`: deadline for the request to start (> 0.1 s), e.g. `"30 seconds"`.
   * Default: none. A bare number is not a duration here (fal's SDKs read seconds, Effect
   * milliseconds): the type excludes it and {@link toWire} rejects it.
   */
  readonly startTimeout?: StartTimeout.Input
  /** `X-Fal-Runner-Hint`: route to this runner when it is free. Default: automatic. */
  readonly runnerHint?: string
  /** `X-Fal-Queue-Priority`: `"low"` waits behind every `"normal"`. Default: `"normal"`. */
  readonly priority?: QueuePriority.QueuePriority
  /**
   * `X-Fal-Object-Lifecycle-Preference`: keep output files this long (whole seconds, e.g.
   * `"1 hour"`), or `"never"` expire; or `{ expiration?, initialAcl? }` to set their initial
   * ACL too. A bare number is rejected, as for `startTimeout`.
   */
  readonly objectLifecycle?: ObjectLifecycle.Input
  /** `X-Fal-Store-IO`: `false` keeps the JSON payloads from being stored. Default: stored 30 days. */
  readonly storeIO?: boolean
  /** `X-Fal-No-Retry`: `true` turns off the queue's server-side retries. */
  readonly noRetry?: boolean
  /** `x-app-fal-disable-fallback`: `true` turns off fallback to equivalent endpoints. */
  readonly disableFallback?: boolean
  /** `fal_max_queue_length`: answer 429 instead of queueing behind more than this many requests. */
  readonly maxQueueLength?: number
  /** `fal_webhook`: POST the result here when a queued request completes. */
  readonly webhookUrl?: string
  /** `Idempotency-Key`: makes a mutation safe to retry. */
  readonly idempotencyKey?: string
}

/**
 * Request options on the wire: headers (spelled as fal documents them) and query parameters.
 *
 * @since 0.1.0
 * @category models
 */
export interface Wire {
  readonly headers: Readonly<Record<string, string>>
  readonly query: Readonly<Record<string, string>>
}

/**
 * Incoming wire values, as a server sees them: header names in any case.
 *
 * @since 0.1.0
 * @category models
 */
export interface WireInput {
  readonly headers: HeaderInput
  readonly query?: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * No options: every platform default. The identity of {@link combine}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: RequestOptions = {}

type Field = keyof RequestOptions

const fieldOrder: ReadonlyArray<Field> = [
  "startTimeout",
  "runnerHint",
  "priority",
  "objectLifecycle",
  "storeIO",
  "noRetry",
  "disableFallback",
  "maxQueueLength",
  "webhookUrl",
  "idempotencyKey"
]

/**
 * Options from a record; fields that are `undefined` are left out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (fields: { readonly [K in Field]?: RequestOptions[K] | undefined }): RequestOptions => {
  const out: Mutable = {}
  for (const key of fieldOrder) copy(out, fields, key)
  return out
}

const copy = <K extends Field>(
  out: Mutable,
  from: { readonly [F in Field]?: RequestOptions[F] | undefined },
  key: K
): void => {
  const value = from[key]
  if (value !== undefined) out[key] = value
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const startTimeout = (startTimeout: StartTimeout.Input): RequestOptions => ({ startTimeout })

/**
 * @since 0.1.0
 * @category constructors
 */
export const runnerHint = (runnerHint: string): RequestOptions => ({ runnerHint })

/**
 * @since 0.1.0
 * @category constructors
 */
export const priority = (priority: QueuePriority.QueuePriority): RequestOptions => ({ priority })

/**
 * @since 0.1.0
 * @category constructors
 */
export const objectLifecycle = (objectLifecycle: ObjectLifecycle.Input): RequestOptions => ({
  objectLifecycle
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const storeIO = (storeIO: boolean): RequestOptions => ({ storeIO })

/**
 * @since 0.1.0
 * @category constructors
 */
export const noRetry = (noRetry = true): RequestOptions => ({ noRetry })

/**
 * @since 0.1.0
 * @category constructors
 */
export const disableFallback = (disableFallback = true): RequestOptions => ({ disableFallback })

/**
 * @since 0.1.0
 * @category constructors
 */
export const maxQueueLength = (maxQueueLength: number): RequestOptions => ({ maxQueueLength })

/**
 * @since 0.1.0
 * @category constructors
 */
export const webhookUrl = (webhookUrl: string): RequestOptions => ({ webhookUrl })

/**
 * @since 0.1.0
 * @category constructors
 */
export const idempotencyKey = (idempotencyKey: string): RequestOptions => ({ idempotencyKey })

// -----------------------------------------------------------------------------
// combinators
// -----------------------------------------------------------------------------

/**
 * Right-biased merge: each field of `that` replaces the same field of `self`. Associative,
 * with {@link empty} as identity.
 *
 * @since 0.1.0
 * @category combinators
 */
export const combine: {
  (that: RequestOptions): (self: RequestOptions) => RequestOptions
  (self: RequestOptions, that: RequestOptions): RequestOptions
} = dual(2, (self: RequestOptions, that: RequestOptions): RequestOptions => {
  if (self === empty) return that
  if (that === empty) return self
  return make({ ...self, ...that })
})

/**
 * Combines left to right; the later value of a field wins.
 *
 * @since 0.1.0
 * @category combinators
 */
export const combineAll = (collection: Iterable<RequestOptions>): RequestOptions => {
  let out = empty
  for (const options of collection) out = combine(out, options)
  return out
}

// -----------------------------------------------------------------------------
// wire
// -----------------------------------------------------------------------------

/**
 * How to spell things on the wire.
 *
 * @since 0.1.0
 * @category models
 */
export interface WireConfig {
  /**
   * The start-timeout header to send. Default `X-Fal-Request-Timeout`, as fal's official
   * clients send; `X-Fal-Request-Start-Timeout` is fal's newer name.
   */
  readonly startTimeoutHeader?: StartTimeout.HeaderName
}

type Mutable = { -readonly [K in Field]?: RequestOptions[K] }

/** One field's trip to and from the wire, its value types closed over. */
interface FieldWire {
  readonly key: Field
  readonly name: string
  readonly lowerName: string
  readonly location: "header" | "query"
  /** `undefined` when absent; the wire string; or the issue that rejects it. */
  readonly write: (options: RequestOptions) => string | Issue | undefined
  /** Reads a wire string into `out`, or returns the issue that rejects it. */
  readonly read: (wire: string, out: Mutable) => Issue | undefined
}

const issue = (
  codec: { readonly name: string; readonly location: "header" | "query" },
  value: string,
  reason: string
) => new Issue({ name: codec.name, location: codec.location, value, reason })

/** A field whose stored value is the codec's value. */
const field = <K extends Field>(
  key: K,
  codec: HeaderCodec.HeaderCodec<NonNullable<RequestOptions[K]>>
): FieldWire =>
  fieldWith(key, codec, (options) => {
    const value = options[key]
    if (value === undefined) return undefined
    const reason = codec.validate(value)
    return reason === undefined ? codec.print(value) : issue(codec, codec.show(value), reason)
  })

/**
 * A field whose stored value is read into the codec's value first (`Left`: the value as shown
 * and the reason; `Right(undefined)`: nothing to send).
 */
const prepared = <K extends Field, A extends NonNullable<RequestOptions[K]>>(
  key: K,
  codec: HeaderCodec.HeaderCodec<A>,
  prepare: (
    value: NonNullable<RequestOptions[K]>
  ) => Either.Either<A | undefined, { readonly value: string; readonly reason: string }>
): FieldWire =>
  fieldWith(key, codec, (options) => {
    const value = options[key]
    if (value === undefined) return undefined
    const read = prepare(value)
    if (Either.isLeft(read)) return issue(codec, read.left.value, read.left.reason)
    if (read.right === undefined) return undefined
    const reason = codec.validate(read.right)
    return reason === undefined ? codec.print(read.right) : issue(codec, codec.show(read.right), reason)
  })

const fieldWith = <K extends Field, A extends NonNullable<RequestOptions[K]>>(
  key: K,
  codec: HeaderCodec.HeaderCodec<A>,
  write: FieldWire["write"]
): FieldWire => ({
  key,
  name: codec.name,
  lowerName: codec.name.toLowerCase(),
  location: codec.location,
  write,
  read: (wire, out) => {
    const value = codec.read(wire)
    if (Either.isLeft(value)) return issue(codec, JSON.stringify(wire), value.left)
    out[key] = value.right
    return undefined
  }
})

/**
 * A flag fal documents only in its true form: `false` (the platform default) is not sent.
 * Decoding still reads both forms.
 */
const onlyTrue = (wire: FieldWire): FieldWire => ({
  ...wire,
  write: (options) => (options[wire.key] === false ? undefined : wire.write(options))
})

/** Bare numbers are refused whatever the static type said (a caller without types can pass one). */
const duration = (input: Duration.DurationInput) =>
  InternalDuration.fromOption(input, `must be ${StartTimeout.codec.expected}`)

const fields: ReadonlyArray<FieldWire> = [
  prepared("startTimeout", StartTimeout.codec, duration),
  field("runnerHint", RunnerHint.codec),
  field("priority", QueuePriority.codec),
  prepared("objectLifecycle", ObjectLifecycle.codec, ObjectLifecycle.fromInput),
  field("storeIO", StoreIO.codec),
  onlyTrue(field("noRetry", NoRetry.codec)),
  onlyTrue(field("disableFallback", DisableFallback.codec)),
  field("maxQueueLength", MaxQueueLength.codec),
  field("webhookUrl", Webhook.codec),
  field("idempotencyKey", IdempotencyKey.codec)
]

const startTimeoutField = fields[0]
const modernStartTimeout = StartTimeout.startTimeoutName.toLowerCase()
/**
 * Every request-control header (the newer start-timeout name included), from its documented
 * and its lower-cased spelling to the lower-cased one: the spellings that arrive in practice are
 * found without lower-casing (which allocates); any other casing is lower-cased first.
 */
const knownHeaders = new Map<string, string>(
  [...fields.filter((f) => f.location === "header").map((f) => f.name), StartTimeout.startTimeoutName].flatMap((
    name
  ) => [[name, name.toLowerCase()], [name.toLowerCase(), name.toLowerCase()]])
)

const lastOf = (value: string | ReadonlyArray<string> | undefined): string | undefined =>
  value === undefined || typeof value === "string" ? value : value[value.length - 1]

/**
 * Validates and encodes options for the wire. Fails with `InvalidRequestOptions` listing every
 * rejected value (header name, value, reason); nothing is partially encoded.
 *
 * @since 0.1.0
 * @category wire
 */
export const toWire = (
  options: RequestOptions,
  config?: WireConfig
): Either.Either<Wire, InvalidRequestOptions> => {
  const headers: Record<string, string> = {}
  const query: Record<string, string> = {}
  const issues: Array<Issue> = []
  for (const f of fields) {
    const written = f.write(options)
    if (written === undefined) continue
    if (typeof written !== "string") {
      issues.push(written)
    } else if (f.location === "query") {
      query[f.name] = written
    } else {
      headers[f === startTimeoutField ? config?.startTimeoutHeader ?? f.name : f.name] = written
    }
  }
  return Arr.isNonEmptyArray(issues)
    ? Either.left(new InvalidRequestOptions({ issues }))
    : Either.right({ headers, query })
}

/**
 * Reads options back from incoming headers (any casing) and query parameters; headers and
 * parameters that are not request controls are ignored. `X-Fal-Request-Start-Timeout` wins
 * over `X-Fal-Request-Timeout` when both are present. Fails with `InvalidRequestOptions`
 * listing every malformed value.
 *
 * @since 0.1.0
 * @category wire
 */
export const fromWire = (wire: WireInput): Either.Either<RequestOptions, InvalidRequestOptions> => {
  // One pass over the headers, keeping only request controls, by lower-cased name.
  const found: Record<string, string> = {}
  for (const name in wire.headers) {
    const value = wire.headers[name]
    if (value === undefined) continue
    const lower = knownHeaders.get(name) ?? knownHeaders.get(name.toLowerCase())
    if (lower === undefined) continue
    const text = typeof value === "string" ? value : value.join(", ")
    const previous = found[lower]
    found[lower] = previous === undefined ? text : `${previous}, ${text}`
  }
  const out: Mutable = {}
  const issues: Array<Issue> = []
  for (const f of fields) {
    let raw: string | undefined
    let name = f.name
    if (f.location === "query") {
      raw = lastOf(wire.query?.[f.name])
    } else if (f === startTimeoutField && found[modernStartTimeout] !== undefined) {
      raw = found[modernStartTimeout]
      name = StartTimeout.startTimeoutName
    } else {
      raw = found[f.lowerName]
    }
    if (raw === undefined) continue
    const problem = f.read(raw, out)
    if (problem !== undefined) issues.push(name === f.name ? problem : new Issue({ ...problem, name }))
  }
  return Arr.isNonEmptyArray(issues)
    ? Either.left(new InvalidRequestOptions({ issues }))
    : Either.right(out)
}

// -----------------------------------------------------------------------------
// schemas
// -----------------------------------------------------------------------------

/**
 * The options that {@link toWire} accepts, with durations as `Duration`: the source of the
 * property tests' arbitraries, and a way to validate options that arrive as data.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema = Schema.Struct({
  startTimeout: Schema.optionalWith(StartTimeout.type, { exact: true }),
  runnerHint: Schema.optionalWith(RunnerHint.type, { exact: true }),
  priority: Schema.optionalWith(QueuePriority.type, { exact: true }),
  objectLifecycle: Schema.optionalWith(ObjectLifecycle.type, { exact: true }),
  storeIO: Schema.optionalWith(StoreIO.type, { exact: true }),
  noRetry: Schema.optionalWith(NoRetry.type, { exact: true }),
  disableFallback: Schema.optionalWith(DisableFallback.type, { exact: true }),
  maxQueueLength: Schema.optionalWith(MaxQueueLength.type, { exact: true }),
  webhookUrl: Schema.optionalWith(Webhook.type, { exact: true }),
  idempotencyKey: Schema.optionalWith(IdempotencyKey.type, { exact: true })
})

const durationEquivalence = (
  a: Duration.DurationInput | undefined,
  b: Duration.DurationInput | undefined
): boolean => {
  if (a === undefined || b === undefined) return a === b
  const da = InternalDuration.fromInput(a)
  const db = InternalDuration.fromInput(b)
  return Either.isRight(da) && Either.isRight(db) ? Duration.equals(da.right, db.right) : a === b
}

const lifecycleEquivalence = Schema.equivalence(ObjectLifecycle.type)

/** Lifecycles by meaning: `"1 hour"` equals `{ expiration: Duration.hours(1) }`. */
const lifecycleEquivalent = (a: ObjectLifecycle.Input | undefined, b: ObjectLifecycle.Input | undefined): boolean => {
  if (a === undefined || b === undefined) return a === b
  const la = ObjectLifecycle.fromInput(a)
  const lb = ObjectLifecycle.fromInput(b)
  if (Either.isLeft(la) || Either.isLeft(lb)) return a === b
  return la.right === undefined || lb.right === undefined
    ? la.right === lb.right
    : lifecycleEquivalence(la.right, lb.right)
}

/**
 * Two options are equivalent when every field is: durations by length (so `"30 seconds"`
 * equals `Duration.seconds(30)`), everything else by value.
 *
 * @since 0.1.0
 * @category instances
 */
export const Equivalence: Eq.Equivalence<RequestOptions> = Eq.make((self, that) =>
  durationEquivalence(self.startTimeout, that.startTimeout) &&
  lifecycleEquivalent(self.objectLifecycle, that.objectLifecycle) &&
  plainFields.every((key) => self[key] === that[key])
)

const plainFields = fieldOrder.filter((key) => key !== "startTimeout" && key !== "objectLifecycle")
