import type { HeaderCodec } from "@effect-fal/headers"
import {
  DisableFallback,
  IdempotencyKey,
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
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

const runs = { fastCheck: { numRuns: 1000 } }

const wireOf = (options: RequestOptions.RequestOptions): RequestOptions.Wire =>
  Either.getOrThrowWith(RequestOptions.toWire(options), (error) => error)

/** Printable ASCII, no CR/LF or other controls, no surrounding whitespace. */
const visibleAscii = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/

/** What the wire keeps of options: a false `noRetry` or `disableFallback` is not sent. */
const sent = (options: RequestOptions.RequestOptions): RequestOptions.RequestOptions => {
  const { disableFallback, noRetry, ...rest } = options
  return {
    ...rest,
    ...(noRetry === true ? { noRetry } : {}),
    ...(disableFallback === true ? { disableFallback } : {})
  }
}

describe("RequestOptions laws", () => {
  it.prop("round trip: fromWire(toWire(o)) = o", [RequestOptions.schema], ([options]) => {
    const back = RequestOptions.fromWire(wireOf(options))
    assert.isTrue(Either.isRight(back))
    assert.isTrue(RequestOptions.Equivalence(Either.getOrThrow(back), sent(options)))
  }, runs)

  it.prop(
    "round trip with the newer start-timeout header name",
    [RequestOptions.schema],
    ([options]) => {
      const wire = Either.getOrThrow(
        RequestOptions.toWire(options, { startTimeoutHeader: StartTimeout.startTimeoutName })
      )
      assert.isUndefined(wire.headers[StartTimeout.name])
      assert.isTrue(RequestOptions.Equivalence(Either.getOrThrow(RequestOptions.fromWire(wire)), sent(options)))
    },
    runs
  )

  it.prop(
    "combine is associative",
    [RequestOptions.schema, RequestOptions.schema, RequestOptions.schema],
    ([a, b, c]) => {
      const left = RequestOptions.combine(RequestOptions.combine(a, b), c)
      const right = RequestOptions.combine(a, RequestOptions.combine(b, c))
      assert.deepStrictEqual(left, right)
    },
    runs
  )

  it.prop("empty is the identity", [RequestOptions.schema], ([a]) => {
    assert.deepStrictEqual(RequestOptions.combine(RequestOptions.empty, a), a)
    assert.deepStrictEqual(RequestOptions.combine(a, RequestOptions.empty), a)
  }, runs)

  it.prop("combineAll folds combine from the left", [Schema.Array(RequestOptions.schema)], ([all]) => {
    const folded = all.reduce<RequestOptions.RequestOptions>(RequestOptions.combine, RequestOptions.empty)
    assert.deepStrictEqual(RequestOptions.combineAll(all), folded)
  }, runs)

  it.prop(
    "toWire is a homomorphism: toWire(combine(a, b)) = right-biased merge of toWire(a) and toWire(b), a false flag in b removing a's",
    [RequestOptions.schema, RequestOptions.schema],
    ([a, b]) => {
      const wa = wireOf(a)
      const wb = wireOf(b)
      const combined = wireOf(RequestOptions.combine(a, b))
      const merged: Record<string, string> = { ...wa.headers, ...wb.headers }
      if (b.noRetry === false) delete merged[NoRetry.name]
      if (b.disableFallback === false) delete merged[DisableFallback.name]
      assert.deepStrictEqual(combined.headers, merged)
      assert.deepStrictEqual(combined.query, { ...wa.query, ...wb.query })
    },
    runs
  )

  it.prop("every encoded header value is visible ASCII without CR/LF", [RequestOptions.schema], ([options]) => {
    const wire = wireOf(options)
    for (const [name, value] of Object.entries(wire.headers)) {
      assert.match(name, /^[A-Za-z0-9-]+$/)
      assert.match(value, visibleAscii, `${name}: ${JSON.stringify(value)}`)
    }
    for (const value of Object.values(wire.query)) {
      assert.notMatch(value, /[\r\n]/)
      assert.isAtMost(value.length, Webhook.maxLength)
    }
    if (wire.headers[RunnerHint.name] !== undefined) {
      assert.match(wire.headers[RunnerHint.name], /^[\x21-\x7e]{1,1024}$/)
    }
    if (wire.headers[IdempotencyKey.name] !== undefined) {
      assert.match(wire.headers[IdempotencyKey.name], /^[\x21-\x7e]{1,255}$/)
    }
  }, runs)

  it.prop("combine is right-biased field by field", [RequestOptions.schema, RequestOptions.schema], ([a, b]) => {
    const combined = RequestOptions.combine(a, b)
    for (const key of Object.keys({ ...a, ...b }) as Array<keyof RequestOptions.RequestOptions>) {
      assert.strictEqual(combined[key], b[key] !== undefined ? b[key] : a[key])
    }
  }, runs)
})

const codecLaw = <A>(codec: HeaderCodec.HeaderCodec<A>) => {
  const equivalence = Schema.equivalence(codec.type)
  it.prop(`${codec.name}: decode(encode(a)) = a through its Schema, and encode agrees`, [codec.type], ([value]) => {
    const wire = Schema.encodeSync(codec.schema)(value)
    assert.isTrue(equivalence(Schema.decodeSync(codec.schema)(wire), value))
    assert.strictEqual(Either.getOrThrow(codec.encode(value)), wire)
    assert.isTrue(equivalence(Either.getOrThrow(codec.decode(wire)), value))
  }, runs)
}

describe("per-header codecs", () => {
  codecLaw(StartTimeout.codec)
  codecLaw(RunnerHint.codec)
  codecLaw(QueuePriority.codec)
  codecLaw(ObjectLifecycle.codec)
  codecLaw(StoreIO.codec)
  codecLaw(NoRetry.codec)
  codecLaw(DisableFallback.codec)
  codecLaw(MaxQueueLength.codec)
  codecLaw(Webhook.codec)
  codecLaw(IdempotencyKey.codec)
})

describe("ResponseMeta laws", () => {
  it.prop("fromHeaders(toHeaders(m)) = m", [ResponseMeta.schema], ([meta]) => {
    assert.deepStrictEqual(ResponseMeta.fromHeaders(ResponseMeta.toHeaders(meta)), meta)
  }, runs)

  it.prop("decoding ignores header-name case", [ResponseMeta.schema], ([meta]) => {
    const shouted = Object.fromEntries(
      Object.entries(ResponseMeta.toHeaders(meta)).map(([name, value]) => [name.toUpperCase(), value])
    )
    assert.deepStrictEqual(ResponseMeta.fromHeaders(shouted), meta)
  }, runs)
})
