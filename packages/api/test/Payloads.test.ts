import { Payloads } from "@effect-fal/api"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Ref, TestClock } from "effect"
import * as Fake from "./utils/fake.js"

const ID = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
const links = [
  { link: "https://v3.fal.media/files/a/out.png", exception: null },
  { link: "https://v3.fal.media/files/b/out.mp4", exception: "not found" }
]

describe("Payloads", () => {
  it.effect("delete: DELETE {api}/models/requests/{id}/payloads with the admin key and an Idempotency-Key", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(200, { cdn_delete_results: links }), { adminKey: true })
      const deletion = yield* Payloads.delete(ID).pipe(Effect.provide(fake.layer))
      assert.strictEqual(deletion.requestId, ID)
      assert.deepStrictEqual(Payloads.deleted(deletion), ["https://v3.fal.media/files/a/out.png"])
      assert.deepStrictEqual(Payloads.failed(deletion).map((l) => l.error), [Option.some("not found")])
      const [seen] = yield* Ref.get(fake.log)
      assert.strictEqual(`${seen.method} ${seen.url}`, `DELETE https://api.fal.ai/v1/models/requests/${ID}/payloads`)
      assert.strictEqual(seen.headers["authorization"], `Key ${Fake.ADMIN_KEY}`)
      assert.match(seen.headers["idempotency-key"], /^[0-9a-f-]{36}$/)
    }))

  it.effect("without an admin key, deletion uses the main key", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(200, { cdn_delete_results: [] }))
      yield* Payloads.delete(ID).pipe(Effect.provide(fake.layer))
      const [seen] = yield* Ref.get(fake.log)
      assert.strictEqual(seen.headers["authorization"], `Key ${Fake.KEY}`)
    }))

  it.effect("every retried attempt carries the same Idempotency-Key; a new call a new one", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((_, i) =>
        i === 0 ? "reset" : i === 1 ? Fake.json(503, {}) : Fake.json(200, { cdn_delete_results: [] })
      )
      const fiber = yield* Effect.fork(
        Effect.provide(Effect.zip(Payloads.delete(ID), Payloads.delete(ID)), fake.layer)
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      const keys = (yield* Ref.get(fake.log)).map((s) => s.headers["idempotency-key"])
      assert.strictEqual(keys.length, 4)
      assert.strictEqual(new Set(keys.slice(0, 3)).size, 1)
      assert.notStrictEqual(keys[3], keys[0])
    }))

  it.effect("a v1 deletion whose 200 answer is cut short is retried with the same key", () =>
    Effect.gen(function*() {
      const whole = JSON.stringify({ cdn_delete_results: links })
      const fake = yield* Fake.layer((_, i) =>
        i === 0
          ? new Response(whole.slice(0, 20), { status: 200, headers: { "content-type": "application/json" } })
          : Fake.json(200, { cdn_delete_results: links }), { adminKey: true })
      const fiber = yield* Effect.fork(Effect.provide(Payloads.delete(ID), fake.layer))
      yield* TestClock.adjust("1 minute")
      const deletion = yield* Fiber.join(fiber)
      assert.deepStrictEqual(Payloads.deleted(deletion), ["https://v3.fal.media/files/a/out.png"])
      const keys = (yield* Ref.get(fake.log)).map((s) => s.headers["idempotency-key"])
      assert.strictEqual(keys.length, 2)
      assert.strictEqual(keys[0], keys[1])
    }))

  it.effect("a given idempotency key is sent as is; an invalid one fails before sending", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(200, { cdn_delete_results: [] }))
      yield* Payloads.delete(ID, { idempotencyKey: "my-key-1" }).pipe(Effect.provide(fake.layer))
      const error = yield* Payloads.delete(ID, { idempotencyKey: "bad\nkey" }).pipe(
        Effect.flip,
        Effect.provide(fake.layer)
      )
      assert.strictEqual(error._tag, "InvalidRequestOptions")
      const log = yield* Ref.get(fake.log)
      assert.deepStrictEqual(log.map((s) => s.headers["idempotency-key"]), ["my-key-1"])
    }))

  it.effect("legacy: PUT {rest}/requests/delete_io/{id}, decoded to the same PayloadDeletion", () =>
    Effect.gen(function*() {
      const v1 = yield* Fake.layer(() => Fake.json(200, { cdn_delete_results: links }), { adminKey: true })
      const legacy = yield* Fake.layer(() => Fake.json(200, { CDN_DELETE_RESULTS: links }), { adminKey: true })
      const a = yield* Payloads.delete(ID).pipe(Effect.provide(v1.layer))
      const b = yield* Payloads.deleteLegacy(ID).pipe(Effect.provide(legacy.layer))
      assert.deepStrictEqual(a.links, b.links)
      const [seen] = yield* Ref.get(legacy.log)
      assert.strictEqual(`${seen.method} ${seen.url}`, `PUT https://rest.alpha.fal.ai/requests/delete_io/${ID}`)
      assert.strictEqual(seen.headers["authorization"], `Key ${Fake.ADMIN_KEY}`)
    }))

  it.effect("legacy: one Idempotency-Key per call on every attempt, yet no retry after an ambiguous failure", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer((_, i) =>
        i === 0 ? Fake.json(503, {}) : i === 1 ? Fake.json(200, { CDN_DELETE_RESULTS: [] }) : "reset"
      )
      const fiber = yield* Effect.fork(
        Effect.provide(
          Effect.zip(
            Payloads.deleteLegacy(ID, { idempotencyKey: "legacy-key-1" }),
            Effect.flip(Payloads.deleteLegacy(ID))
          ),
          fake.layer
        )
      )
      yield* TestClock.adjust("1 minute")
      const [, error] = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "TransportError")
      const keys = (yield* Ref.get(fake.log)).map((s) => s.headers["idempotency-key"])
      // the 503 was retried with the same key; the reset of the second call was not retried
      assert.deepStrictEqual(keys.slice(0, 2), ["legacy-key-1", "legacy-key-1"])
      assert.strictEqual(keys.length, 3)
      assert.notStrictEqual(keys[2], "legacy-key-1")
    }))

  it.effect("a non-UUID request id fails with InvalidRequestId and sends nothing", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(200, { cdn_delete_results: [] }))
      const errors = yield* Effect.all([
        Payloads.delete("not-a-uuid").pipe(Effect.flip),
        Payloads.deleteLegacy("../../etc").pipe(Effect.flip)
      ]).pipe(Effect.provide(fake.layer))
      assert.deepStrictEqual(errors.map((e) => e._tag), ["InvalidRequestId", "InvalidRequestId"])
      assert.strictEqual((yield* Ref.get(fake.log)).length, 0)
    }))

  it.effect("403 for a key without ADMIN scope is Forbidden, with the platform's message", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() =>
        Fake.json(403, { error: { type: "authorization_error", message: "Admin scope required", request_id: ID } })
      )
      const error = yield* Payloads.delete(ID).pipe(Effect.flip, Effect.provide(fake.layer))
      assert.strictEqual(error._tag, "Forbidden")
      assert.strictEqual(error._tag === "Forbidden" && error.detail, "Admin scope required")
      assert.strictEqual((yield* Ref.get(fake.log)).length, 1)
    }))
})
