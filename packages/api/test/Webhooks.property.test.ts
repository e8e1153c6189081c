import { WebhookKeys, Webhooks } from "@effect-fal/api"
import { WebhookSigner } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { deliveryBody } from "./utils/webhooks.js"

const runs = { fastCheck: { numRuns: 100 } }

const signer = Effect.runSync(WebhookSigner.make())
const keys = Effect.runSync(
  Effect.provide(WebhookKeys.WebhookKeys, WebhookKeys.layerFixed(Effect.runSync(signer.jwks).keys))
)
const body = deliveryBody({ payload: { images: [{ url: "https://cdn.example/a.png" }] } })
const bodyBytes = Buffer.from(body, "utf8")
// Signed at Unix time 0, the TestClock's start, so only the change under test can make it fail.
const headers = Effect.runSync(signer.sign({ requestId: "req-1", userId: "user-1", body, timestamp: 0 }))

const verify = (delivery: Webhooks.Delivery) =>
  Webhooks.verify(delivery).pipe(Effect.provideService(WebhookKeys.WebhookKeys, keys))

const hexDigits = "0123456789abcdef"

/** Changes the character at `index` (mod length) into a different one of the same alphabet. */
const changeChar = (value: string, alphabet: string, index: number, step: number): string => {
  const at = index % value.length
  const from = alphabet.indexOf(value[at])
  const to = alphabet[(from + 1 + (step % (alphabet.length - 1))) % alphabet.length]
  return value.slice(0, at) + to + value.slice(at + 1)
}

const printable = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join("")

describe("Webhooks.verify properties", () => {
  it.effect("the untouched delivery verifies (the properties below start from a valid one)", () =>
    Effect.map(verify({ headers, body }), (event) => assert.strictEqual(event._tag, "Ok")))

  it.effect.prop(
    "any single-byte change to the body is rejected",
    {
      index: Schema.Int.pipe(Schema.between(0, bodyBytes.length - 1)),
      delta: Schema.Int.pipe(Schema.between(1, 255))
    },
    ({ delta, index }) =>
      Effect.gen(function*() {
        const changed = Buffer.from(bodyBytes)
        changed[index] = (changed[index] + delta) % 256
        const error = yield* Effect.flip(verify({ headers, body: changed }))
        assert.strictEqual(error.reason, "NoKeyVerifies")
      }),
    runs
  )

  it.effect.prop(
    "any change to a header is rejected",
    {
      header: Schema.Literal(...Object.values(WebhookSigner.headerNames)),
      change: Schema.Literal("replace", "append"),
      index: Schema.Int.pipe(Schema.between(0, 200)),
      step: Schema.Int.pipe(Schema.between(0, 100))
    },
    ({ change, header, index, step }) =>
      Effect.gen(function*() {
        const value = headers[header]
        // the signature's alphabet is hex (a changed nibble), the others any visible character;
        // the timestamp stays digits so the window check passes and the signature is what fails
        const alphabet = header === WebhookSigner.headerNames.signature
          ? hexDigits
          : header === WebhookSigner.headerNames.timestamp
          ? "0123456789"
          : printable
        const changed = change === "append"
          ? value + alphabet[step % alphabet.length]
          : changeChar(value, alphabet, index, step)
        assert.notStrictEqual(changed, value)
        const error = yield* Effect.flip(verify({ headers: { ...headers, [header]: changed }, body }))
        assert.include(["NoKeyVerifies", "MalformedSignature", "StaleTimestamp", "FutureTimestamp"], error.reason)
        if (header !== WebhookSigner.headerNames.signature && header !== WebhookSigner.headerNames.timestamp) {
          assert.strictEqual(error.reason, "NoKeyVerifies")
        }
      }),
    runs
  )
})
