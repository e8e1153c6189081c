import { WebhookKeys, Webhooks } from "@effect-fal/api"
import { WebhookSigner } from "@effect-fal/testing"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, ManagedRuntime, Schema, TestContext } from "effect"
import { deliveryBody } from "./utils/webhooks.js"

const runs = { fastCheck: { numRuns: 200 } }

const signer = Effect.runSync(WebhookSigner.make())
const keys = Effect.runSync(
  Effect.provide(WebhookKeys.WebhookKeys, WebhookKeys.layerFixed(Effect.runSync(signer.jwks).keys))
)
const body = deliveryBody({ payload: { images: [{ url: "https://cdn.example/a.png" }] } })
const bodyBytes = Buffer.from(body, "utf8")
// Signed at Unix time 0 and checked at it (a TestClock at its start), so only the change under
// test can make a delivery fail.
const headers = Effect.runSync(signer.sign({ requestId: "req-1", userId: "user-1", body, timestamp: 0 }))
// One test runtime for every run (its TestClock stays at 0): cheaper than a fresh one per run.
const atEpoch = ManagedRuntime.make(TestContext.TestContext)
afterAll(() => atEpoch.dispose())

const verify = (delivery: Webhooks.Delivery) =>
  Webhooks.verify(delivery).pipe(Effect.provideService(WebhookKeys.WebhookKeys, keys))
const rejection = (delivery: Webhooks.Delivery) => atEpoch.runSync(Effect.flip(verify(delivery)))

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
  it("the untouched delivery verifies (the properties below start from a valid one)", () => {
    assert.strictEqual(atEpoch.runSync(verify({ headers, body }))._tag, "Ok")
  })

  it.prop(
    "any single-byte change to the body is rejected",
    {
      index: Schema.Int.pipe(Schema.between(0, bodyBytes.length - 1)),
      delta: Schema.Int.pipe(Schema.between(1, 255))
    },
    ({ delta, index }) => {
      const changed = Buffer.from(bodyBytes)
      changed[index] = (changed[index] + delta) % 256
      assert.strictEqual(rejection({ headers, body: changed }).reason, "NoKeyVerifies")
    },
    runs
  )

  it.prop(
    "any change to a header is rejected",
    {
      header: Schema.Literal(...Object.values(WebhookSigner.headerNames)),
      change: Schema.Literal("replace", "append"),
      index: Schema.Int.pipe(Schema.between(0, 200)),
      step: Schema.Int.pipe(Schema.between(0, 100))
    },
    ({ change, header, index, step }) => {
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
      const error = rejection({ headers: { ...headers, [header]: changed }, body })
      assert.include(["NoKeyVerifies", "MalformedSignature", "StaleTimestamp", "FutureTimestamp"], error.reason)
      if (header !== WebhookSigner.headerNames.signature && header !== WebhookSigner.headerNames.timestamp) {
        assert.strictEqual(error.reason, "NoKeyVerifies")
      }
    },
    runs
  )
})
