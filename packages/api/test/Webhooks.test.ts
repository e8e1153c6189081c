import { FalClient, WebhookKeys, Webhooks } from "@effect-fal/api"
import { WebhookSigner } from "@effect-fal/testing"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Redacted, Ref, Schema, TestClock } from "effect"
import * as crypto from "node:crypto"
import { receiveInTest } from "./examples/webhooks.js"
import { atNow, closedUrl, deliveryBody, jwksServer, now, nowSeconds, post, reasonOf, serve } from "./utils/webhooks.js"

const Output = Schema.Struct({ images: Schema.Array(Schema.Struct({ url: Schema.String })) })
const okBody = deliveryBody({ payload: { images: [{ url: "https://cdn.example/a.png" }] } })

/** A signer, a loopback JWKS server for it, and a loopback receiver built with `Webhooks.handler`. */
const setup = (options: { readonly handlerFails?: Ref.Ref<number> } = {}) =>
  Effect.gen(function*() {
    yield* atNow
    const signer = yield* WebhookSigner.make()
    const jwks = yield* jwksServer(signer)
    const keys = yield* Layer.build(WebhookKeys.layer({ url: jwks.url }))
    const events = yield* Ref.make<ReadonlyArray<Webhooks.WebhookEvent<typeof Output.Type>>>([])
    const app = Webhooks.handler((event) =>
      Effect.gen(function*() {
        yield* Ref.update(events, (all) => [...all, event])
        if (options.handlerFails !== undefined && (yield* Ref.getAndUpdate(options.handlerFails, (n) => n - 1)) > 0) {
          return yield* Effect.fail("the receiver's database is down")
        }
      }), { payload: Output })
    const receiver = yield* serve(Effect.provide(app, keys))
    const deliver = (headers: Record<string, string>, body: Uint8Array | string = okBody) =>
      post(`${receiver}/`, headers, body)
    const sign = (body: string = okBody, timestamp?: number) =>
      signer.sign({ requestId: "req-1", userId: "user-1", body, timestamp })
    return { signer, jwks, keys, events: Ref.get(events), deliver, sign }
  })

const verifyFixed = (signer: WebhookSigner.Service, delivery: Webhooks.Delivery) =>
  Effect.flatMap(
    signer.jwks,
    ({ keys }) => Webhooks.verify(delivery).pipe(Effect.provide(WebhookKeys.layerFixed(keys)))
  )

describe("Webhooks.handler over loopback", () => {
  it.scoped("a valid delivery is verified, decoded with the Schema and handed to the user's effect", () =>
    Effect.gen(function*() {
      const { deliver, events, jwks, sign } = yield* setup()
      const response = yield* deliver(yield* sign())
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(response.json, { received: true, duplicate: false })
      assert.deepStrictEqual(yield* events, [{
        _tag: "Ok",
        requestId: "req-1",
        gatewayRequestId: "gw-1",
        payload: { images: [{ url: "https://cdn.example/a.png" }] }
      }])
      assert.strictEqual(yield* jwks.hits, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("rejected deliveries get 4xx with the reason, and never reach the user's effect", () =>
    Effect.gen(function*() {
      const { deliver, events, sign } = yield* setup()
      const headers = yield* sign()
      const { "X-Fal-Webhook-Signature": _, ...unsigned } = headers
      const missing = yield* deliver(unsigned)
      assert.deepStrictEqual([missing.status, missing.json], [400, {
        error: "MissingHeader",
        detail: "the x-fal-webhook-signature header is missing"
      }])

      const bytes = Buffer.from(okBody, "utf8")
      bytes[10] = bytes[10] ^ 1
      const tampered = yield* deliver(headers, bytes)
      assert.deepStrictEqual([tampered.status, tampered.json], [401, {
        error: "NoKeyVerifies",
        detail: "no key of the JWKS verifies the signature"
      }])

      const ahead = yield* deliver(yield* sign(okBody, nowSeconds + 301))
      assert.strictEqual(ahead.status, 401)
      assert.strictEqual((ahead.json as { error: string }).error, "FutureTimestamp")
      assert.deepStrictEqual(yield* events, [])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a duplicate delivery runs the user's effect once and still answers 2xx", () =>
    Effect.gen(function*() {
      const { deliver, events, sign } = yield* setup()
      const headers = yield* sign()
      const first = yield* deliver(headers)
      const again = yield* deliver(headers)
      // a redelivery is signed afresh (a later timestamp), and is still the same job
      yield* TestClock.adjust("90 seconds")
      const redelivered = yield* deliver(yield* sign())
      assert.deepStrictEqual([first.status, again.status, redelivered.status], [200, 200, 200])
      assert.deepStrictEqual(again.json, { received: true, duplicate: true })
      assert.deepStrictEqual(redelivered.json, { received: true, duplicate: true })
      assert.strictEqual((yield* events).length, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a failing user effect answers 5xx, and fal's redelivery runs it again", () =>
    Effect.gen(function*() {
      const failures = yield* Ref.make(1)
      const { deliver, events, sign } = yield* setup({ handlerFails: failures })
      const headers = yield* sign()
      const failed = yield* deliver(headers)
      assert.deepStrictEqual([failed.status, failed.json], [500, { error: "ReceiverFailed" }])
      const retried = yield* deliver(headers)
      assert.deepStrictEqual([retried.status, retried.json], [200, { received: true, duplicate: false }])
      assert.strictEqual((yield* events).length, 2)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a WebhookDeduplication in context replaces the handler's own guard", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const { keys } = yield* signer.jwks
      const states = yield* Ref.make<ReadonlyMap<string, "inProgress" | "done">>(new Map())
      const shared = Webhooks.WebhookDeduplication.of({
        claim: (id) =>
          Ref.modify(states, (all): [Webhooks.Claim, ReadonlyMap<string, "inProgress" | "done">] => {
            const state = all.get(id)
            return state === undefined ? ["claimed", new Map([...all, [id, "inProgress"]])] : [state, all]
          }),
        complete: (id) => Ref.update(states, (all) => new Map([...all, [id, "done"]])),
        release: (id) => Ref.update(states, (all) => new Map([...all].filter(([key]) => key !== id)))
      })
      const runs = yield* Ref.make(0)
      // two handlers (two processes) sharing one store: the job runs once across both
      const receiver = () =>
        serve(
          Webhooks.handler(() => Ref.update(runs, (n) => n + 1)).pipe(
            Effect.provide(WebhookKeys.layerFixed(keys)),
            Effect.provideService(Webhooks.WebhookDeduplication, shared)
          )
        )
      const a = yield* receiver()
      const b = yield* receiver()
      const headers = yield* signer.sign({ requestId: "req-1", userId: "user-1", body: okBody })
      yield* post(a, headers, okBody)
      const second = yield* post(b, headers, okBody)
      assert.deepStrictEqual(second.json, { received: true, duplicate: true })
      assert.strictEqual(yield* Ref.get(runs), 1)
      assert.deepStrictEqual([...(yield* Ref.get(states))], [["req-1", "done"]])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("the in-memory guard: in progress, done, released, and forgotten after its window", () =>
    Effect.gen(function*() {
      const guard = yield* Webhooks.makeMemoryDeduplication("1 hour")
      assert.strictEqual(yield* guard.claim("req-1"), "claimed")
      assert.strictEqual(yield* guard.claim("req-1"), "inProgress")
      yield* guard.complete("req-1")
      assert.strictEqual(yield* guard.claim("req-1"), "done")
      assert.strictEqual(yield* guard.claim("req-2"), "claimed")
      yield* guard.release("req-2")
      assert.strictEqual(yield* guard.claim("req-2"), "claimed")
      yield* TestClock.adjust("59 minutes")
      assert.strictEqual(yield* guard.claim("req-1"), "done")
      yield* guard.complete("req-2")
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(yield* guard.claim("req-1"), "claimed")
      assert.strictEqual(yield* guard.claim("req-2"), "done")
    }))

  it.scoped("a copy arriving while another is handled gets 409, and the job runs once", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const { keys } = yield* signer.jwks
      const started = yield* Deferred.make<void>()
      const finish = yield* Deferred.make<void>()
      const runs = yield* Ref.make(0)
      const receiver = yield* serve(
        Webhooks.handler(() =>
          Ref.update(runs, (n) => n + 1).pipe(
            Effect.zipRight(Deferred.succeed(started, undefined)),
            Effect.zipRight(Deferred.await(finish))
          )
        ).pipe(Effect.provide(WebhookKeys.layerFixed(keys)))
      )
      const headers = yield* signer.sign({ requestId: "req-1", userId: "user-1", body: okBody })
      const first = yield* Effect.fork(post(receiver, headers, okBody))
      yield* Deferred.await(started)
      const concurrent = yield* post(receiver, headers, okBody)
      assert.deepStrictEqual([concurrent.status, concurrent.json], [409, { error: "InProgress" }])
      yield* Deferred.succeed(finish, undefined)
      assert.strictEqual((yield* Fiber.join(first)).status, 200)
      assert.strictEqual((yield* post(receiver, headers, okBody)).status, 200)
      assert.strictEqual(yield* Ref.get(runs), 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("Webhooks.verify rejections", () => {
  it.effect("each missing header is named", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const headers = yield* signer.sign({ requestId: "req-1", userId: "user-1", body: okBody })
      for (const name of Object.values(WebhookSigner.headerNames)) {
        const partial = Object.fromEntries(Object.entries(headers).filter(([key]) => key !== name))
        const error = yield* Effect.flip(verifyFixed(signer, { headers: partial, body: okBody }))
        assert.strictEqual(error.reason, "MissingHeader")
        assert.strictEqual(error.detail, `the ${name.toLowerCase()} header is missing`)
      }
    }))

  it.effect("a body with one byte changed is rejected", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const headers = yield* signer.sign({ requestId: "req-1", userId: "user-1", body: okBody })
      const bytes = Buffer.from(okBody, "utf8")
      bytes[bytes.length - 2] = bytes[bytes.length - 2] + 1
      assert.strictEqual(yield* reasonOf(verifyFixed(signer, { headers, body: bytes })), "NoKeyVerifies")
      // and the untouched body passes
      const event = yield* verifyFixed(signer, { headers, body: okBody })
      assert.strictEqual(event._tag, "Ok")
    }))

  it.effect("a delivery signed by a key not in the JWKS is rejected", () =>
    Effect.gen(function*() {
      yield* atNow
      const listed = yield* WebhookSigner.make()
      const forger = yield* WebhookSigner.make()
      const headers = yield* forger.sign({ requestId: "req-1", userId: "user-1", body: okBody })
      assert.strictEqual(yield* reasonOf(verifyFixed(listed, { headers, body: okBody })), "NoKeyVerifies")
    }))

  it.effect("the timestamp window is 300 s either way, on the Effect Clock", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const signedAt = (timestamp: number) =>
        signer.sign({ requestId: "req-1", userId: "user-1", body: okBody, timestamp })
      const old = yield* signedAt(nowSeconds)
      const ahead301 = yield* signedAt(nowSeconds + 301)
      const ahead300 = yield* signedAt(nowSeconds + 300)
      yield* TestClock.adjust("300 seconds")
      assert.strictEqual((yield* verifyFixed(signer, { headers: old, body: okBody }))._tag, "Ok")
      yield* TestClock.adjust("1 second")
      const stale = yield* Effect.flip(verifyFixed(signer, { headers: old, body: okBody }))
      assert.strictEqual(stale.reason, "StaleTimestamp")
      assert.strictEqual(stale.detail, "the timestamp is 301 s old, more than the 300 s allowed")
      yield* TestClock.setTime(now)
      assert.strictEqual((yield* verifyFixed(signer, { headers: ahead300, body: okBody }))._tag, "Ok")
      const future = yield* Effect.flip(verifyFixed(signer, { headers: ahead301, body: okBody }))
      assert.strictEqual(future.reason, "FutureTimestamp")
      assert.strictEqual(future.detail, "the timestamp is 301 s ahead, more than the 300 s allowed")
      const notSeconds = { ...old, "X-Fal-Webhook-Timestamp": "2026-05-28T00:00:00Z" }
      assert.strictEqual(
        yield* reasonOf(verifyFixed(signer, { headers: notSeconds, body: okBody })),
        "InvalidTimestamp"
      )
    }))

  it.effect("a signature of the wrong length, or not hex, is malformed", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const headers = yield* signer.sign({ requestId: "req-1", userId: "user-1", body: okBody })
      const signature = headers["X-Fal-Webhook-Signature"]
      assert.match(signature, /^[0-9a-f]{128}$/)
      for (const bad of [signature.slice(2), `${signature}00`, `${signature.slice(0, 127)}g`, "", "zz".repeat(64)]) {
        const error = yield* Effect.flip(
          verifyFixed(signer, { headers: { ...headers, "X-Fal-Webhook-Signature": bad }, body: okBody })
        )
        assert.strictEqual(error.reason, "MalformedSignature")
        assert.notInclude(error.message, signature.slice(0, 16))
      }
    }))

  it.effect("an authentic body that is not a delivery, or a payload not matching its Schema, is rejected after verifying", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const { keys } = yield* signer.jwks
      const check = (body: string) =>
        Effect.flatMap(
          signer.sign({ requestId: "req-1", userId: "user-1", body }),
          (headers) =>
            Webhooks.verify({ headers, body }, { payload: Output }).pipe(
              Effect.provide(WebhookKeys.layerFixed(keys)),
              Effect.flip
            )
        )
      const notJson = yield* check("not json")
      assert.strictEqual(notJson.reason, "InvalidBody")
      const wrongShape = yield* check(JSON.stringify({ request_id: "req-1", status: "DONE" }))
      assert.strictEqual(wrongShape.reason, "InvalidBody")
      const secret = "private-user-value"
      const badPayload = yield* check(deliveryBody({ payload: { images: [{ url: 42, note: secret }] } }))
      assert.strictEqual(badPayload.reason, "InvalidPayload")
      assert.include(badPayload.detail, "images.0.url")
      assert.notInclude(badPayload.message, secret)
    }))
})

describe("Webhooks events", () => {
  it.effect("an ERROR delivery decodes with its error and payload", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const detail = { detail: [{ loc: ["body", "prompt"], msg: "field required", type: "value_error.missing" }] }
      const body = deliveryBody({ status: "ERROR", error: "Invalid status code: 422", payload: detail })
      const headers = yield* signer.sign({ requestId: "req-1", userId: "user-1", body })
      assert.deepStrictEqual(yield* verifyFixed(signer, { headers, body }), {
        _tag: "Error",
        requestId: "req-1",
        gatewayRequestId: "gw-1",
        error: "Invalid status code: 422",
        payload: detail
      })
    }))

  it.effect("an output that was not JSON decodes as PayloadError, even with a payload Schema", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const { keys } = yield* signer.jwks
      const body = deliveryBody({ payload: null, payload_error: "Response payload is not JSON serializable" })
      const headers = yield* signer.sign({ requestId: "req-1", userId: "user-1", body })
      const event = yield* Webhooks.verify({ headers, body }, { payload: Output }).pipe(
        Effect.provide(WebhookKeys.layerFixed(keys))
      )
      assert.deepStrictEqual(event, {
        _tag: "PayloadError",
        requestId: "req-1",
        gatewayRequestId: "gw-1",
        payloadError: "Response payload is not JSON serializable"
      })
    }))
})

describe("WebhookKeys", () => {
  it.scoped("JWKS unreachable with nothing cached: KeysUnavailable, and the handler answers 503", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const headers = yield* signer.sign({ requestId: "req-1", userId: "user-1", body: okBody })
      const closed = yield* closedUrl
      const failing = yield* serve(HttpRouter.empty.pipe(
        HttpRouter.get("/.well-known/jwks.json", HttpServerResponse.text("boom", { status: 500 }))
      ))
      const notJwks = yield* serve(HttpRouter.empty.pipe(
        HttpRouter.get("/.well-known/jwks.json", HttpServerResponse.unsafeJson({ hello: "world" }))
      ))
      for (
        const url of [
          `${closed}/.well-known/jwks.json`,
          `${failing}/.well-known/jwks.json`,
          `${notJwks}/.well-known/jwks.json`
        ]
      ) {
        const keys = yield* Layer.build(WebhookKeys.layer({ url }))
        const error = yield* Effect.flip(Effect.provide(Webhooks.verify({ headers, body: okBody }), keys))
        assert.strictEqual(error.reason, "KeysUnavailable")
        const receiver = yield* serve(Effect.provide(Webhooks.handler(() => Effect.void), keys))
        yield* TestClock.adjust("61 seconds") // past the retry interval: the handler tries again, and fails again
        const response = yield* post(receiver, headers, okBody)
        assert.deepStrictEqual([response.status, (response.json as { error: string }).error], [503, "KeysUnavailable"])
      }
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("rotation: a new kid triggers one refetch and verifies; refetches are rate-limited", () =>
    Effect.gen(function*() {
      const { deliver, events, jwks, sign, signer } = yield* setup()
      const forger = yield* WebhookSigner.make()
      const forged = () => forger.sign({ requestId: "req-2", userId: "user-1", body: okBody })
      assert.strictEqual((yield* deliver(yield* sign())).status, 200)
      assert.strictEqual(yield* jwks.hits, 1)

      const oldKid = yield* signer.activeKid
      const newKid = yield* signer.rotate()
      assert.notStrictEqual(newKid, oldKid)
      assert.deepStrictEqual((yield* signer.jwks).keys.map((key) => key.kid), [newKid, oldKid])
      yield* TestClock.adjust("2 minutes")
      const afterRotation = deliveryBody({ request_id: "req-3", payload: { images: [] } })
      const rotated = yield* deliver(yield* sign(afterRotation), afterRotation)
      assert.strictEqual(rotated.status, 200)
      assert.strictEqual(yield* jwks.hits, 2)

      // a forged delivery right after: no key verifies, and no refetch within the minute
      assert.strictEqual((yield* deliver(yield* forged())).status, 401)
      assert.strictEqual(yield* jwks.hits, 2)
      yield* TestClock.adjust("61 seconds")
      assert.strictEqual((yield* deliver(yield* forged())).status, 401)
      assert.strictEqual(yield* jwks.hits, 3)
      assert.strictEqual((yield* deliver(yield* forged())).status, 401)
      assert.strictEqual(yield* jwks.hits, 3)

      yield* signer.retire(oldKid)
      assert.deepStrictEqual((yield* signer.jwks).keys.map((key) => key.kid), [newKid])
      assert.deepStrictEqual((yield* events).map((event) => event.requestId), ["req-1", "req-3"])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("the JWKS is cached up to 24 hours, then fetched again", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const jwks = yield* jwksServer(signer)
      const service = yield* WebhookKeys.make({ url: jwks.url })
      yield* service.current
      yield* TestClock.adjust("23 hours")
      yield* service.current
      assert.strictEqual(yield* jwks.hits, 1)
      yield* TestClock.adjust("1 hour")
      const keys = yield* service.current
      assert.strictEqual(yield* jwks.hits, 2)
      assert.deepStrictEqual(keys.map((key) => key.kid), [yield* signer.activeKid])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("the JWKS request carries no Authorization header, also when following the FalClient rest base", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<string | undefined>>([])
      const base = yield* serve(HttpRouter.empty.pipe(HttpRouter.get(
        "/.well-known/jwks.json",
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          yield* Ref.update(seen, (all) => [...all, request.headers.authorization])
          return HttpServerResponse.unsafeJson({ keys: [] })
        })
      )))
      const keys = yield* WebhookKeys.make({ url: `${base}/.well-known/jwks.json` })
      assert.deepStrictEqual(yield* keys.current, [])
      // following a FalClient whose `rest` base is that server: its key is still not sent
      const fromFal = yield* WebhookKeys.WebhookKeys.pipe(
        Effect.provide(WebhookKeys.layerFromFalClient()),
        Effect.provide(FalClient.layer({ key: Redacted.make("key-id:key-secret"), urls: { rest: base } }))
      )
      assert.deepStrictEqual(yield* fromFal.current, [])
      assert.deepStrictEqual(yield* Ref.get(seen), [undefined, undefined])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("layerFixed skips entries that are not Ed25519 keys", () =>
    Effect.gen(function*() {
      const signer = yield* WebhookSigner.make()
      const { keys } = yield* signer.jwks
      const service = yield* Effect.provide(
        WebhookKeys.WebhookKeys,
        WebhookKeys.layerFixed([...keys, { kty: "OKP", crv: "Ed25519", x: "c2hvcnQ", kid: "short" }])
      )
      assert.deepStrictEqual((yield* service.current).map((key) => key.kid), [keys[0].kid])
    }))
})

describe("WebhookSigner follows SPEC section 9", () => {
  it.effect("the signature is Ed25519 over request_id, user_id, timestamp and hex(sha256(body)), joined by newlines", () =>
    Effect.gen(function*() {
      yield* atNow
      const signer = yield* WebhookSigner.make()
      const headers = yield* signer.sign({ requestId: "req-1", userId: "user-1", body: okBody })
      assert.deepStrictEqual(Object.keys(headers), [
        "X-Fal-Webhook-Request-Id",
        "X-Fal-Webhook-User-Id",
        "X-Fal-Webhook-Timestamp",
        "X-Fal-Webhook-Signature"
      ])
      assert.strictEqual(headers["X-Fal-Webhook-Timestamp"], String(nowSeconds))
      const { keys: [jwk] } = yield* signer.jwks
      assert.deepStrictEqual([jwk.kty, jwk.crv, Buffer.from(jwk.x, "base64url").length], ["OKP", "Ed25519", 32])
      const digest = crypto.createHash("sha256").update(okBody).digest("hex")
      const message = Buffer.from(`req-1\nuser-1\n${nowSeconds}\n${digest}`)
      const key = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" })
      assert.isTrue(crypto.verify(null, message, key, Buffer.from(headers["X-Fal-Webhook-Signature"], "hex")))
    }))

  it.effect("a given private key signs, under its kid", () =>
    Effect.gen(function*() {
      const { privateKey } = crypto.generateKeyPairSync("ed25519")
      const jwk = privateKey.export({ format: "jwk" })
      const signer = yield* WebhookSigner.make({
        key: { kty: "OKP", crv: "Ed25519", x: jwk.x ?? "", d: jwk.d ?? "", kid: "pinned" }
      })
      assert.strictEqual(yield* signer.activeKid, "pinned")
      assert.deepStrictEqual((yield* signer.jwks).keys, [{ kty: "OKP", crv: "Ed25519", x: jwk.x ?? "", kid: "pinned" }])
    }))

  it.effect("the guide's test recipe verifies a signed delivery", () =>
    Effect.map(receiveInTest, (event) =>
      assert.deepStrictEqual(event, {
        _tag: "Ok",
        requestId: "req-1",
        gatewayRequestId: "req-1",
        payload: { images: [{ url: "https://example.com/fox.png" }] }
      })))
})
