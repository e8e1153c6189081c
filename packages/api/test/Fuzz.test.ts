/**
 * Fuzz: every decoder of wire input is total. Random headers, query strings, header values,
 * SSE bytes, statuses and error bodies: a result or a typed error, never a throw or a defect.
 */
import {
  DisableFallback,
  ErrorType,
  IdempotencyKey,
  type InvalidRequestOptions,
  MaxQueueLength,
  NoRetry,
  ObjectLifecycle,
  QueuePriority,
  RequestOptions,
  ResponseMeta,
  RunnerHint,
  StartTimeout,
  StoreIO,
  Webhook
} from "@effect-fal/headers"
import * as Headers from "@effect/platform/Headers"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, FastCheck as fc, Schema, Stream } from "effect"
import * as Errors from "../src/internal/errors.js"
import * as Sse from "../src/internal/sse.js"

const runs = { fastCheck: { numRuns: 10_000 } }

/** What the fuzz needs of a codec, whatever its value type. */
interface Decoder {
  readonly name: string
  readonly decode: (wire: string) => Either.Either<unknown, InvalidRequestOptions.InvalidRequestOptions>
}

const codecs: ReadonlyArray<Decoder> = [
  DisableFallback.codec,
  IdempotencyKey.codec,
  MaxQueueLength.codec,
  NoRetry.codec,
  ObjectLifecycle.codec,
  QueuePriority.codec,
  RunnerHint.codec,
  StartTimeout.codec,
  StoreIO.codec,
  Webhook.codec
]

/** Header names: every known spelling in random case, and random names. */
const names = [
  ...codecs.map((codec) => codec.name),
  StartTimeout.startTimeoutName,
  ...Object.values(ResponseMeta.names)
]
const name = fc.oneof(
  fc.constantFrom(...names),
  fc.constantFrom(...names).map((n) => n.toLowerCase()),
  fc.constantFrom(...names).map((n) => n.toUpperCase()),
  fc.string({ maxLength: 12 })
)
/** Values: anything, digits (huge ones too), flag spellings and JSON. */
const value = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.stringMatching(/^-?\d{0,20}(\.\d{0,8})?$/),
  fc.constantFrom("9".repeat(400), `0.${"0".repeat(400)}1`, "1e999", "x".repeat(3000)),
  fc.constantFrom("1", "0", "true", "false", "yes", "no", "never", "null", "NaN", "Infinity", "-1", ""),
  fc.json()
)
const headers = fc.dictionary(name, fc.oneof(value, fc.array(value, { maxLength: 3 })), { maxKeys: 8 })

describe("fuzz", () => {
  it.prop("RequestOptions.fromWire never throws", [headers, fc.dictionary(name, value, { maxKeys: 4 })], ([h, q]) => {
    const decoded = RequestOptions.fromWire({ headers: h, query: q })
    assert.isTrue(Either.isEither(decoded))
    if (Either.isLeft(decoded)) assert.isAbove(decoded.left.issues.length, 0)
  }, runs)

  it.prop("ResponseMeta.fromHeaders never throws and always matches its schema", [headers], ([h]) => {
    const meta = ResponseMeta.fromHeaders(h)
    assert.isTrue(Schema.is(ResponseMeta.schema)(meta), JSON.stringify(meta))
  }, runs)

  it.prop("every header codec's decode never throws", [fc.constantFrom(...codecs), value], ([codec, wire]) => {
    const decoded = codec.decode(wire)
    assert.isTrue(Either.isEither(decoded))
    if (Either.isLeft(decoded)) assert.strictEqual(decoded.left.issues[0].name, codec.name)
    assert.isTrue(typeof ErrorType.isTransient(wire) === "boolean")
  }, runs)

  it.effect.prop("the SSE decoder fed random bytes never dies, and each event's data is a string", [
    fc.array(fc.uint8Array({ maxLength: 128 }), { maxLength: 8 })
  ], ([chunks]) =>
    Effect.gen(function*() {
      const events = yield* Stream.runCollect(Sse.events(Stream.fromIterable(chunks), (reason) => reason))
      for (const event of events) assert.isString(event.data)
    }), { fastCheck: { numRuns: 1_000 } })

  it.prop(
    "error-body classification over random statuses and bodies always yields a typed FalError",
    [
      fc.integer({ min: 100, max: 599 }),
      fc.dictionary(
        fc.constantFrom(
          "x-fal-error-type",
          "retry-after",
          "x-fal-request-id",
          "x-fal-needs-retry",
          "x-fal-retryable",
          "x-request-timeout-type"
        ),
        value,
        { maxKeys: 4 }
      ),
      fc.oneof(
        fc.string(),
        fc.json(),
        fc.jsonValue().map((v) => JSON.stringify({ detail: v, error_type: v, error: v, request_id: v }))
      )
    ],
    ([status, h, body]) => {
      const exit = Effect.runSyncExit(
        Errors.fromStatus({ operation: "status", requestId: undefined }, status, Headers.fromInput(h), body)
      )
      // always a typed failure, never a defect
      assert.isTrue(Exit.isFailure(exit) && Cause.isFailType(exit.cause), String(exit))
      if (Exit.isFailure(exit) && Cause.isFailType(exit.cause)) assert.isString(exit.cause.error._tag)
    },
    runs
  )
})
