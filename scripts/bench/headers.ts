/**
 * The header algebra against hand-written object-literal baselines. Each case runs in batches; a
 * batch's time divided by its size is one sample, and the report gives the median sample.
 */
import { RequestOptions, ResponseMeta } from "@effect-fal/headers"
import * as Either from "effect/Either"
import { performance } from "node:perf_hooks"
import { type Gate, gateLine, isMain, stamp } from "./report.js"

const samples = 41
const batch = 20_000
const warmup = 5

let sink = 0

const measure = (run: () => unknown): number => {
  const perOp: Array<number> = []
  for (let s = 0; s < samples + warmup; s++) {
    const start = performance.now()
    for (let i = 0; i < batch; i++) {
      const out = run()
      if (out === undefined) sink++
    }
    const elapsed = performance.now() - start
    if (s >= warmup) perOp.push((elapsed * 1e6) / batch)
  }
  perOp.sort((a, b) => a - b)
  return perOp[Math.floor(perOp.length / 2)]
}

// A full option set, every field present.
const options = RequestOptions.make({
  startTimeout: "30 seconds",
  runnerHint: "runner-a1b2",
  priority: "low",
  objectLifecycle: "1 hour",
  storeIO: false,
  noRetry: true,
  disableFallback: true,
  maxQueueLength: 10,
  webhookUrl: "https://example.com/fal/webhook",
  idempotencyKey: "550e8400-e29b-41d4-a716-446655440000"
})
const wire = Either.getOrThrow(RequestOptions.toWire(options))

// Baseline: what a hand-written client does, an object literal with no validation at all.
const handToWire = (o: {
  startTimeoutSeconds: number
  runnerHint: string
  priority: string
  lifecycleSeconds: number
  storeIO: boolean
  noRetry: boolean
  disableFallback: boolean
  maxQueueLength: number
  webhookUrl: string
  idempotencyKey: string
}) => ({
  headers: {
    "X-Fal-Request-Timeout": String(o.startTimeoutSeconds),
    "X-Fal-Runner-Hint": o.runnerHint,
    "X-Fal-Queue-Priority": o.priority,
    "X-Fal-Object-Lifecycle-Preference": `{"expiration_duration_seconds": ${o.lifecycleSeconds}}`,
    "X-Fal-Store-IO": o.storeIO ? "1" : "0",
    "X-Fal-No-Retry": o.noRetry ? "1" : "0",
    "x-app-fal-disable-fallback": o.disableFallback ? "true" : "false",
    "Idempotency-Key": o.idempotencyKey
  },
  query: { fal_max_queue_length: String(o.maxQueueLength), fal_webhook: o.webhookUrl }
})
const plain = {
  startTimeoutSeconds: 30,
  runnerHint: "runner-a1b2",
  priority: "low",
  lifecycleSeconds: 3600,
  storeIO: false,
  noRetry: true,
  disableFallback: true,
  maxQueueLength: 10,
  webhookUrl: "https://example.com/fal/webhook",
  idempotencyKey: "550e8400-e29b-41d4-a716-446655440000"
}
const handFromWire = (w: typeof wire) => {
  const h = w.headers
  return {
    startTimeoutSeconds: Number(h["X-Fal-Request-Timeout"]),
    runnerHint: h["X-Fal-Runner-Hint"],
    priority: h["X-Fal-Queue-Priority"],
    lifecycleSeconds: JSON.parse(h["X-Fal-Object-Lifecycle-Preference"]).expiration_duration_seconds as number,
    storeIO: h["X-Fal-Store-IO"] === "1",
    noRetry: h["X-Fal-No-Retry"] === "1",
    disableFallback: h["x-app-fal-disable-fallback"] === "true",
    maxQueueLength: Number(w.query["fal_max_queue_length"]),
    webhookUrl: w.query["fal_webhook"],
    idempotencyKey: h["Idempotency-Key"]
  }
}

// A response as fal sends it (lower-cased names, as Node and undici deliver them).
const responseHeaders: Record<string, string> = {
  "content-type": "application/json",
  "content-length": "512",
  date: "Sat, 21 Nov 2026 12:00:00 GMT",
  "x-fal-request-id": "764cabcf-b745-4b3e-ae38-1200304cf45b",
  "x-fal-billable-units": "0.50000000",
  "x-fal-served-from": "runner-7f3a",
  "x-fal-runner-hints": "runner-7f3a,runner-9c1d",
  "x-fal-needs-retry": "0"
}
const handMeta = (h: Record<string, string>) => ({
  requestId: h["x-fal-request-id"],
  billableUnits: Number(h["x-fal-billable-units"]),
  servedFrom: h["x-fal-served-from"],
  runnerHints: h["x-fal-runner-hints"]?.split(","),
  needsRetry: h["x-fal-needs-retry"] === "1"
})

interface Row {
  readonly name: string
  readonly ns: number
  readonly baseline: number
}

const fmt = (n: number) => n.toFixed(0)

/** The gate: a validated round trip (encode, then decode) under this many nanoseconds. */
const roundTripBoundNs = 5000

/** Runs the cases and returns the report's section (markdown) and its gate. */
export const headersSection = (): { readonly markdown: string; readonly gates: ReadonlyArray<Gate> } => {
  const started = stamp("npx tsx --import ./scripts/bench/built-register.mjs scripts/bench/headers.ts")
  const rows: Array<Row> = [
    {
      name: "RequestOptions.toWire (full option set, validated)",
      ns: measure(() => RequestOptions.toWire(options)),
      baseline: measure(() => handToWire(plain))
    },
    {
      name: "RequestOptions.fromWire (full option set, validated)",
      ns: measure(() => RequestOptions.fromWire(wire)),
      baseline: measure(() => handFromWire(wire))
    },
    {
      name: "Round trip: fromWire(toWire(options))",
      ns: measure(() => RequestOptions.fromWire(Either.getOrThrow(RequestOptions.toWire(options)))),
      baseline: measure(() => handFromWire(handToWire(plain)))
    },
    {
      name: "ResponseMeta.fromHeaders (8 headers, 5 fal ones)",
      ns: measure(() => ResponseMeta.fromHeaders(responseHeaders)),
      baseline: measure(() => handMeta(responseHeaders))
    }
  ]
  if (sink === -1) console.log(sink)
  const roundTripNs = rows[2].ns
  const table = [
    "| case | effect-fal (median ns/op) | hand-written baseline (median ns/op) | ratio |",
    "|---|---:|---:|---:|",
    ...rows.map((r) => `| ${r.name} | ${fmt(r.ns)} | ${fmt(r.baseline)} | ${(r.ns / r.baseline).toFixed(1)}x |`)
  ].join("\n")
  const gate: Gate = {
    name: "Header round trip, fromWire(toWire(options))",
    measured: `${(roundTripNs / 1000).toFixed(2)} µs`,
    bound: `< ${roundTripBoundNs / 1000} µs`,
    pass: roundTripNs < roundTripBoundNs
  }
  const markdown = `## Header algebra (@effect-fal/headers)

${started}

Method: each case runs ${warmup} warm-up batches and ${samples} measured batches of ${batch.toLocaleString("en-US")}
calls, in one process; a sample is a batch's wall time (\`performance.now\`) divided by its size, and
the table gives the median sample. The baselines are what a hand-written client does: object literals
with string concatenation, no validation, no error reporting. The price over the baseline buys
validation of every value (header injection, ranges, URL shape), a typed error naming each
rejected value, and case-insensitive decoding.

${table}

Gate: ${gateLine(gate)}.
`
  return { markdown, gates: [gate] }
}

// `tsx scripts/bench/headers.ts` prints the section on its own.
if (isMain(import.meta.filename)) {
  const { gates, markdown } = headersSection()
  console.log(markdown)
  gates.forEach((gate) => console.log(gateLine(gate)))
}
