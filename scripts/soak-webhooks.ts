/**
 * The soak's webhook flood: 1,000 forged deliveries in 10 s against a `Webhooks.handler` receiver
 * running alone in a `node --expose-gc` process (packages/api/test/utils/webhookReceiver.ts), a
 * mix of the ways a public endpoint is hit: no headers, plausible headers with a bad signature, a
 * stale timestamp, a malformed signature, and every 20th a body declared 300 MB. Then it checks,
 * from the receiver's own figures: every one was refused (400, 401 or 413), each answered within
 * a second of its arrival, and the receiver's memory after a GC back within 8 MiB of its baseline.
 *
 * `SOAK_WEBHOOKS` (default 1000) and `SOAK_WEBHOOKS_SECONDS` (10) change the flood.
 */
import { WebhookSigner } from "@effect-fal/testing"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Command from "@effect/platform/Command"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import { fileURLToPath } from "node:url"
import { deliveryBody, rawPost, Stats } from "../packages/api/test/utils/webhooks.js"

const MiB = 1024 * 1024
const root = fileURLToPath(new URL("../", import.meta.url))

const positive = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback)
  return Number.isFinite(value) && value > 0 ? value : fallback
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]

/** Runs the flood, prints its figures with `print`, and answers the exit code (0: every property holds). */
export const webhookFlood = (print: (line: string) => void): Effect.Effect<number> =>
  Effect.gen(function*() {
    const count = Math.floor(positive("SOAK_WEBHOOKS", 1000))
    const seconds = positive("SOAK_WEBHOOKS_SECONDS", 10)
    const signer = yield* WebhookSigner.make()
    const child = yield* Command.start(
      Command.make("node", "--expose-gc", "--import", "tsx", "packages/api/test/utils/webhookReceiver.ts").pipe(
        Command.workingDirectory(root),
        Command.env({ WEBHOOK_JWKS: JSON.stringify(yield* signer.jwks) })
      )
    )
    const first = yield* child.stdout.pipe(Stream.decodeText(), Stream.splitLines, Stream.runHead)
    const { port } = yield* Schema.decodeUnknown(Schema.parseJson(Schema.Struct({ port: Schema.Number })))(
      Option.getOrElse(first, () => "")
    )
    const url = `http://127.0.0.1:${port}/fal/webhook`
    const stats = HttpClient.get(`http://127.0.0.1:${port}/stats`).pipe(
      Effect.flatMap(HttpClientResponse.schemaBodyJson(Stats)),
      Effect.scoped
    )
    const body = deliveryBody({ request_id: "req-forged", payload: { images: [] } })
    const forged = (i: number) => {
      const now = Math.floor(Date.now() / 1000)
      const plausible = {
        "X-Fal-Webhook-Request-Id": `req-forged-${i}`,
        "X-Fal-Webhook-User-Id": "user-1",
        "X-Fal-Webhook-Timestamp": String(now),
        "X-Fal-Webhook-Signature": crypto.randomBytes(64).toString("hex")
      }
      if (i % 20 === 19) return rawPost(url, { headers: plausible, size: 300 * MiB })
      switch (i % 4) {
        case 0:
          return rawPost(url, { body })
        case 1:
          return rawPost(url, { headers: plausible, body })
        case 2:
          return rawPost(url, { headers: { ...plausible, "X-Fal-Webhook-Timestamp": String(now - 3600) }, body })
        default:
          return rawPost(url, { headers: { ...plausible, "X-Fal-Webhook-Signature": "not-hex" }, body })
      }
    }
    // warm up every path, then the baseline
    for (let i = 0; i < 20; i++) yield* forged(i)
    const before = yield* stats
    const started = Date.now()
    const answers = yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => Effect.delay(Effect.either(forged(i)), Duration.millis((i * seconds * 1000) / count)),
      { concurrency: "unbounded" }
    )
    const wallMs = Date.now() - started
    const after = yield* stats

    const served = after.requests
    const times = served.map((r) => r.ms).sort((a, b) => a - b)
    const statuses: Record<string, number> = {}
    for (const r of served) statuses[r.status] = (statuses[r.status] ?? 0) + 1
    const failed = answers.filter((a) => a._tag === "Left").length
    const base = before.heap + before.arrayBuffers
    const kept = after.heap + after.arrayBuffers - base
    const peak = after.peak - base
    print(
      `webhook flood: ${count} forged deliveries over ${seconds} s (${
        (wallMs / 1000).toFixed(1)
      } s wall); answered ${served.length}: ${
        Object.entries(statuses).map(([s, n]) => `${s}: ${n}`).join(", ")
      }; client errors ${failed}`
    )
    print(
      `  time at the receiver, arrival to answered: p50 ${percentile(times, 0.5).toFixed(1)} ms, p99 ${
        percentile(times, 0.99).toFixed(1)
      } ms, max ${(times.at(-1) ?? 0).toFixed(1)} ms`
    )
    print(
      `  receiver memory (heap + buffers): baseline ${(base / MiB).toFixed(1)} MiB, peak +${
        (peak / MiB).toFixed(1)
      } MiB (garbage included), after a GC +${(kept / MiB).toFixed(2)} MiB`
    )
    const violations: Array<string> = []
    if (served.length !== count) violations.push(`${count - served.length} deliveries not answered`)
    const accepted = served.filter((r) => r.status !== 400 && r.status !== 401 && r.status !== 413)
    if (accepted.length > 0) violations.push(`${accepted.length} forged deliveries answered other than 400/401/413`)
    if (failed > 0) violations.push(`${failed} deliveries failed at the client`)
    const slow = served.filter((r) => r.ms >= 1000)
    if (slow.length > 0) violations.push(`${slow.length} answers took a second or more`)
    if (kept >= 8 * MiB) violations.push(`the receiver kept ${(kept / MiB).toFixed(1)} MiB after the flood`)
    for (const violation of violations) print(`  violation: ${violation}`)
    print(violations.length === 0 ? "webhook flood: every property holds" : "webhook flood: violations")
    return violations.length === 0 ? 0 : 1
  }).pipe(
    Effect.scoped,
    Effect.provide([NodeContext.layer, NodeHttpClient.layerUndici]),
    Effect.catchAllCause((cause) => Effect.as(Effect.sync(() => print(`webhook flood: crashed: ${cause}`)), 1))
  )
