/**
 * Decoding accepts exactly what encoding produces: whatever `fromWire` (or a codec's `decode`)
 * accepts, `toWire` (or `encode`) writes back, and that reads back to the same value. The wire
 * strings are drawn near the edges of each codec: long decimals, more digits than a double holds,
 * whole seconds past 2^53 milliseconds, every flag spelling, and the encodings of valid options.
 */
import type { HeaderCodec } from "@effect-fal/headers"
import {
  DisableFallback,
  IdempotencyKey,
  MaxQueueLength,
  NoRetry,
  ObjectLifecycle,
  QueuePriority,
  RequestOptions,
  RunnerHint,
  StartTimeout,
  StoreIO,
  Webhook
} from "@effect-fal/headers"
import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Schema from "effect/Schema"

const runs = { fastCheck: { numRuns: 2000 } }

/** What the wire keeps of options: a false `noRetry` or `disableFallback` is not sent. */
const sent = (options: RequestOptions.RequestOptions): RequestOptions.RequestOptions => {
  const { disableFallback, noRetry, ...rest } = options
  return {
    ...rest,
    ...(noRetry === true ? { noRetry } : {}),
    ...(disableFallback === true ? { disableFallback } : {})
  }
}

/** Decimal seconds: up to 20 whole digits (past a double's exact range) and up to 14 decimals. */
const seconds = fc.tuple(
  fc.stringMatching(/^\d{1,20}$/),
  fc.option(fc.stringMatching(/^\d{1,14}$/), { nil: undefined })
).map(([whole, fraction]) => fraction === undefined ? whole : `${whole}.${fraction}`)

/** Lifecycle JSON with whole seconds up to 10^17 (past 2^53 milliseconds), with or without an ACL. */
const lifecycle = fc.tuple(
  fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 17n }), fc.bigInt({ min: 0n, max: 10n ** 6n })),
  fc.boolean(),
  fc.boolean()
).map(([n, acl, spaced]) =>
  acl
    ? `{"expiration_duration_seconds": ${n}, "initial_acl": {"default": "hide"}}`
    : spaced
    ? `{"expiration_duration_seconds": ${n}}`
    : `{"expiration_duration_seconds":${n}}`
)

const flag = fc.constantFrom("1", "0", "true", "false", "True", " 1 ", "yes")

/** The encodings of valid options: what a client sends. */
const encoded = Arbitrary.make(RequestOptions.schema).map((options) =>
  Either.getOrElse(RequestOptions.toWire(options), () => ({ headers: {}, query: {} }))
)

/** Wire headers and query near the codecs' edges, mixed with valid encodings. */
const wire: fc.Arbitrary<RequestOptions.Wire> = fc.oneof(
  fc.record({
    headers: fc.record({
      [StartTimeout.name]: seconds,
      [ObjectLifecycle.name]: lifecycle,
      [StoreIO.name]: flag,
      [NoRetry.name]: flag,
      [DisableFallback.name]: flag,
      [QueuePriority.name]: fc.constantFrom("normal", "low", " low", "high")
    }, { requiredKeys: [] }),
    query: fc.record({ [MaxQueueLength.name]: fc.stringMatching(/^\d{1,20}$/) }, { requiredKeys: [] })
  }),
  encoded
)

const codecAgrees = <A>(codec: HeaderCodec.HeaderCodec<A>, wires: fc.Arbitrary<string>) => {
  const equivalence = Schema.equivalence(codec.type)
  it.prop(`${codec.name}: encode accepts whatever decode accepts, and reads back the same`, [wires], ([text]) => {
    const decoded = codec.decode(text)
    if (Either.isLeft(decoded)) return
    const encoded = codec.encode(decoded.right)
    assert.isTrue(Either.isRight(encoded), `${JSON.stringify(text)} decodes but does not encode`)
    const again = codec.decode(Either.getOrThrow(encoded))
    assert.isTrue(Either.isRight(again), `${JSON.stringify(text)} encodes to what does not decode`)
    assert.isTrue(
      equivalence(Either.getOrThrow(again), decoded.right),
      `${JSON.stringify(text)} reads back as ${Either.getOrThrow(encoded)}`
    )
  }, runs)
}

describe("decode and encode agree", () => {
  it.prop(
    "toWire(fromWire(w)) succeeds whenever fromWire(w) does, and fromWire reads it back to the same options",
    [wire],
    ([w]) => {
      const decoded = RequestOptions.fromWire(w)
      if (Either.isLeft(decoded)) return
      const written = RequestOptions.toWire(decoded.right)
      assert.isTrue(Either.isRight(written), `${JSON.stringify(w)} decodes but toWire refuses it`)
      const again = RequestOptions.fromWire(Either.getOrThrow(written))
      assert.isTrue(Either.isRight(again))
      assert.isTrue(
        RequestOptions.Equivalence(Either.getOrThrow(again), sent(decoded.right)),
        `${JSON.stringify(w)} is written back as ${JSON.stringify(Either.getOrThrow(written))}`
      )
    },
    runs
  )

  it("the start timeout the fuzzer found reads back to itself", () => {
    const decoded = Either.getOrThrow(StartTimeout.decode("3238248679325.7236"))
    assert.strictEqual(Either.getOrThrow(StartTimeout.encode(decoded)), "3238248679325.7236")
    const whole = Either.getOrThrow(StartTimeout.decode("3653740311.1530"))
    assert.strictEqual(Either.getOrThrow(StartTimeout.encode(whole)), "3653740311.153")
    assert.isTrue(
      Schema.equivalence(StartTimeout.type)(Either.getOrThrow(StartTimeout.decode("3653740311.153")), whole)
    )
  })

  it("a lifecycle of whole seconds past 2^53 milliseconds decodes and encodes", () => {
    const wire = "{\"expiration_duration_seconds\": 90071992547409}"
    const decoded = Either.getOrThrow(ObjectLifecycle.decode(wire))
    assert.strictEqual(Either.getOrThrow(ObjectLifecycle.encode(decoded)), wire)
  })

  codecAgrees(StartTimeout.codec, seconds)
  codecAgrees(ObjectLifecycle.codec, lifecycle)
  codecAgrees(MaxQueueLength.codec, fc.stringMatching(/^\d{1,20}$/))
  codecAgrees(StoreIO.codec, flag)
  codecAgrees(NoRetry.codec, flag)
  codecAgrees(DisableFallback.codec, flag)
  codecAgrees(QueuePriority.codec, fc.constantFrom("normal", "low", " low", "LOW"))
  codecAgrees(RunnerHint.codec, fc.string({ maxLength: 40 }))
  codecAgrees(IdempotencyKey.codec, fc.string({ maxLength: 40 }))
  codecAgrees(Webhook.codec, fc.webUrl().map((url) => ` ${url}`))
})
