/**
 * `pnpm soak`: 20,000 logical operations (run, subscribe by stream and by polling, delete,
 * delete legacy) at 64 in flight against the loopback emulator, in this process, with 10 % of
 * the HTTP requests hit by mixed faults (503, resets before and after the request was handled,
 * 1 s delays, malformed bodies, 429 with Retry-After). Then it checks, from the calls' outcomes
 * and the emulator's records: every call ended in a result or a typed FalError, nothing hung,
 * no result lost or misrouted, no duplicate job, no deletion applied twice, attempts within the
 * retry policy. It prints the figures and exits 1 on any violation.
 *
 * `SOAK_OPS` (default 20000), `SOAK_CONCURRENCY` (64), `SOAK_SEED` (1), `SOAK_FAULT_RATE`
 * (0.1), `SOAK_PER_CALL_SECONDS` (120), `SOAK_TIMEOUT_MINUTES` (60).
 */
import { FalPlatform } from "@effect-fal/testing"
import * as Effect from "effect/Effect"
import * as os from "node:os"
import { loopback } from "../packages/api/test/utils/emulator.js"
import { check, type Progress, soak } from "../packages/api/test/utils/soak.js"
import { webhookFlood } from "./soak-webhooks.js"

const number = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`${name} must be a positive number, got ${JSON.stringify(raw)}\n`)
    process.exit(2)
  }
  return value
}

const ops = Math.floor(number("SOAK_OPS", 20_000))
const concurrency = Math.floor(number("SOAK_CONCURRENCY", 64))
const seed = Math.floor(number("SOAK_SEED", 1))
const faultRate = number("SOAK_FAULT_RATE", 0.1)
const perCallSeconds = number("SOAK_PER_CALL_SECONDS", 120)
const timeoutMinutes = number("SOAK_TIMEOUT_MINUTES", 60)

const keys = [FalPlatform.defaultKeys.user, FalPlatform.defaultKeys.admin]
/** Every printed line goes through this: no key, whatever an error quoted. */
const clean = (line: string): string => keys.reduce((text, key) => text.split(key).join("<redacted>"), line)
const print = (line: string) => process.stdout.write(`${clean(line)}\n`)

const tty = process.stdout.isTTY === true
const progressLine = (p: Progress) =>
  `soak ${p.done}/${p.total} done, ${p.inFlight} in flight, ${p.ok} ok, ${p.failed} failed (typed or not), ${
    (p.elapsedMs / 1000).toFixed(0)
  } s, ${(p.done / Math.max(p.elapsedMs / 1000, 0.001)).toFixed(0)} ops/s`
let lastPlain = 0
const onProgress = (p: Progress) =>
  Effect.sync(() => {
    if (tty) process.stdout.write(`\r${clean(progressLine(p))}\x1b[K`)
    else if (p.done === p.total || p.elapsedMs - lastPlain >= 5000) {
      lastPlain = p.elapsedMs
      print(progressLine(p))
    }
  })

const percent = (part: number, whole: number) => `${(100 * part / Math.max(whole, 1)).toFixed(2)} %`

const program = Effect.gen(function*() {
  const load = os.loadavg().map((l) => l.toFixed(2)).join(" ")
  print(
    `soak: ${ops} operations, ${concurrency} in flight, ${
      faultRate * 100
    } % faults, seed ${seed}, per-call bound ${perCallSeconds} s, overall ${timeoutMinutes} min; load before ${load}, ${os.cpus().length} cores`
  )
  const report = yield* soak({
    ops,
    concurrency,
    seed,
    faultRate,
    perCall: `${perCallSeconds} seconds`,
    overall: `${timeoutMinutes} minutes`,
    progressEvery: tty ? "250 millis" : "1 second",
    onProgress
  }).pipe(Effect.provide(loopback({ adminKey: true, config: { demoRunners: 8 } })))
  if (tty) process.stdout.write("\n")
  const verdict = check(report)
  const f = verdict.figures
  const injected = Object.values(f.faults).reduce((a, b) => a + b, 0)
  print(`wall time ${(f.wallMs / 1000).toFixed(1)} s; load after ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
  print(
    `HTTP requests at the emulator: ${f.httpRequests}; hit by a fault: ${injected} (${
      percent(injected, f.httpRequests)
    })`
  )
  for (const [name, count] of Object.entries(f.faults).sort((a, b) => b[1] - a[1])) {
    print(`  fault ${name}: ${count}`)
  }
  print("outcomes by operation:")
  for (const [kind, counts] of Object.entries(f.outcomes)) {
    const total = Object.values(counts).reduce((a, b) => a + b, 0)
    print(
      `  ${kind} (${total}): ${
        Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ")
      }`
    )
  }
  print("HTTP requests per logical call, by step (requests: calls):")
  for (const [step, histogram] of Object.entries(f.attempts)) {
    print(`  ${step}: ${Object.entries(histogram).map(([n, c]) => `${n}: ${c}`).join(", ")}`)
  }
  print(`subscribes failed (typed, with their request id) after their job completed: ${f.failedAfterCompletion}`)
  print(
    `subscribes whose submit answer a reset after handling dropped (job ran unfollowed): ${f.orphanedBySubmitReset}`
  )
  print(
    `subscribes whose submit timed out at the client while fal created the job (job ran unfollowed): ${f.orphanedBySubmitTimeout}`
  )
  print(`runs whose job completed but whose answer was lost: ${f.runsLostAfterCompletion}`)
  if (verdict.violations.length === 0) {
    print("soak: every property holds")
    return 0
  }
  print(`soak: ${verdict.violations.length} violations`)
  for (const violation of verdict.violations.slice(0, 50)) print(`  ${violation}`)
  if (verdict.violations.length > 50) print(`  ... and ${verdict.violations.length - 50} more`)
  return 1
})

Effect.runPromise(Effect.zipWith(program, webhookFlood(print), Math.max)).then(
  (code) => process.exit(code),
  (error) => {
    print(`soak: crashed: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
)
