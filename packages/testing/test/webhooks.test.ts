/**
 * Webhook deliveries as SPEC section 9 describes them, checked with node:crypto alone (no
 * `@effect-fal/api`): the signature verifies against the JWKS the `rest` base serves, over the
 * exact bytes POSTed; every try is signed afresh; rotation; no trace context is forwarded.
 */
import { FalPlatform } from "@effect-fal/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import { send, submit } from "./utils/memory.js"

interface Received {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

interface Jwk {
  readonly kty: string
  readonly crv: string
  readonly x: string
  readonly kid: string
}

/** A webhook receiver as an `HttpClient`: records each POST and answers the next status (then 204). */
const receiver = (statuses: ReadonlyArray<number> = []) =>
  Effect.gen(function*() {
    const received = yield* Queue.unbounded<Received>()
    const pending = yield* Ref.make(statuses)
    const client = HttpClient.make((request: HttpClientRequest.HttpClientRequest, url) =>
      Effect.gen(function*() {
        const body = request.body._tag === "Uint8Array" ? request.body.body : new Uint8Array()
        yield* Queue.offer(received, { url: url.toString(), headers: { ...request.headers }, body })
        const status = yield* Ref.modify(pending, ([first, ...rest]) => [first ?? 204, rest])
        return HttpClientResponse.fromWeb(request, new Response(null, { status }))
      })
    )
    return { client, next: Queue.take(received) }
  })

/** The JWKS as the platform serves it: public, fetched without a key. */
const jwks = Effect.map(
  send("GET", "https://rest.alpha.fal.ai/.well-known/jwks.json", { key: null }),
  (answer) => {
    assert.strictEqual(answer.status, 200)
    return (answer.json as { keys: ReadonlyArray<Jwk> }).keys
  }
)

/** The kids of the keys verifying the delivery, per SPEC section 9, with node:crypto only. */
const verifyingKids = (delivery: Received, keys: ReadonlyArray<Jwk>): ReadonlyArray<string> => {
  const h = delivery.headers
  const digest = crypto.createHash("sha256").update(delivery.body).digest("hex")
  const message = Buffer.from(
    `${h["x-fal-webhook-request-id"]}\n${h["x-fal-webhook-user-id"]}\n${h["x-fal-webhook-timestamp"]}\n${digest}`,
    "utf8"
  )
  const signature = Buffer.from(h["x-fal-webhook-signature"], "hex")
  assert.strictEqual(signature.length, 64)
  return keys
    .filter((jwk) =>
      crypto.verify(
        null,
        message,
        crypto.createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" }),
        signature
      )
    )
    .map((jwk) => jwk.kid)
}

const hook = "?fal_webhook=https://receiver.example/hook"
const start = 1_780_000_000_000

describe("webhook deliveries", () => {
  it.effect("are signed over the exact bytes POSTed, verify against the served JWKS, and carry no trace context", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const { client, next } = yield* receiver()
      yield* Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        // submitted inside a span: the client's trace context must not reach the receiver
        const job = yield* submit("fal-ai/echo", { prompt: "a fox" }, {}, hook).pipe(Effect.withSpan("client"))
        const delivery = yield* next
        const keys = yield* jwks
        assert.strictEqual(keys.length, 1)
        assert.deepStrictEqual(verifyingKids(delivery, keys), [keys[0].kid])
        assert.strictEqual(delivery.url, "https://receiver.example/hook")
        assert.strictEqual(delivery.headers["content-type"], "application/json")
        assert.strictEqual(delivery.headers["x-fal-webhook-request-id"], job.request_id)
        assert.strictEqual(delivery.headers["x-fal-webhook-timestamp"], String(start / 1000))
        assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(delivery.body)), {
          request_id: job.request_id,
          gateway_request_id: job.request_id,
          status: "OK",
          payload: { prompt: "a fox" }
        })
        const traceHeaders = Object.keys(delivery.headers).filter((name) =>
          name === "traceparent" || name === "tracestate" || name === "b3" || name.startsWith("x-b3-")
        )
        assert.deepStrictEqual(traceHeaders, [])
        const recorded = yield* platform.webhooks
        assert.deepStrictEqual(recorded.map((d) => [d.attempt, d.outcome]), [[1, 204]])
        assert.strictEqual(recorded[0].headers["X-Fal-Webhook-Signature"], delivery.headers["x-fal-webhook-signature"])
      }).pipe(Effect.provide(FalPlatform.layerClient({ webhookClient: client })))
    }))

  it.effect("one stable user id per API key", () =>
    Effect.gen(function*() {
      const { client, next } = yield* receiver()
      const keys: ReadonlyArray<FalPlatform.ApiKey> = [{ key: "key-a", scope: "API" }, { key: "key-b", scope: "API" }]
      yield* Effect.gen(function*() {
        const userOf = (key: string) =>
          Effect.gen(function*() {
            yield* send("POST", `https://queue.fal.run/fal-ai/echo${hook}`, { key, body: {} })
            return (yield* next).headers["x-fal-webhook-user-id"]
          })
        const a1 = yield* userOf("key-a")
        const b = yield* userOf("key-b")
        const a2 = yield* userOf("key-a")
        assert.isAbove(a1.length, 0)
        assert.strictEqual(a1, a2)
        assert.notStrictEqual(a1, b)
        assert.notInclude(a1, "key-a")
      }).pipe(Effect.provide(FalPlatform.layerClient({ keys, webhookClient: client })))
    }))

  it.effect("a redelivery is signed afresh: same bytes, a new timestamp, a valid signature", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const { client, next } = yield* receiver([500])
      yield* Effect.gen(function*() {
        yield* submit("fal-ai/echo", { n: 1 }, {}, hook)
        const first = yield* next
        yield* TestClock.adjust("15 seconds")
        const second = yield* next
        const keys = yield* jwks
        assert.deepStrictEqual(second.body, first.body)
        assert.strictEqual(first.headers["x-fal-webhook-timestamp"], String(start / 1000))
        assert.strictEqual(second.headers["x-fal-webhook-timestamp"], String(start / 1000 + 15))
        assert.notStrictEqual(second.headers["x-fal-webhook-signature"], first.headers["x-fal-webhook-signature"])
        assert.strictEqual(verifyingKids(first, keys).length, 1)
        assert.strictEqual(verifyingKids(second, keys).length, 1)
      }).pipe(Effect.provide(FalPlatform.layerClient({ webhookClient: client })))
    }))

  it.effect("rotation: the new key signs the next delivery, the old one stays listed until retired", () =>
    Effect.gen(function*() {
      const { client, next } = yield* receiver()
      yield* Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const [old] = yield* jwks
        const kid = yield* platform.webhookSigner.rotate()
        assert.notStrictEqual(kid, old.kid)
        yield* submit("fal-ai/echo", {}, {}, hook)
        const delivery = yield* next
        const listed = yield* jwks
        assert.deepStrictEqual(listed.map((k) => k.kid), [kid, old.kid])
        assert.deepStrictEqual(verifyingKids(delivery, listed), [kid])
        yield* platform.webhookSigner.retire()
        assert.deepStrictEqual((yield* jwks).map((k) => k.kid), [kid])
      }).pipe(Effect.provide(FalPlatform.layerClient({ webhookClient: client })))
    }))

  it.effect("webhookKey: the platform signs with the configured key", () =>
    Effect.gen(function*() {
      const { client, next } = yield* receiver()
      const pair = crypto.generateKeyPairSync("ed25519")
      const jwk = pair.privateKey.export({ format: "jwk" })
      const webhookKey = { kty: "OKP", crv: "Ed25519", x: jwk.x ?? "", d: jwk.d ?? "", kid: "configured" } as const
      yield* Effect.gen(function*() {
        yield* submit("fal-ai/echo", {}, {}, hook)
        const delivery = yield* next
        const listed = yield* jwks
        assert.deepStrictEqual(listed, [{ kty: "OKP", crv: "Ed25519", x: webhookKey.x, kid: "configured" }])
        assert.deepStrictEqual(verifyingKids(delivery, listed), ["configured"])
      }).pipe(Effect.provide(FalPlatform.layerClient({ webhookKey, webhookClient: client })))
    }))
})
