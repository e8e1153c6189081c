/**
 * `pnpm soak`: 20,000 logical operations (run, subscribe by stream and by polling, delete,
 * delete legacy) at 64 in flight against the loopback emulator, in this process, with 10 % of
 * the HTTP requests hit by mixed faults (503, resets before and after the request was handled,
 * 1 s delays, malformed bodies, 429 with Retry-After). Then it checks, from the calls' outcomes
 * and the emulator's records: every call ended in a result or a typed FalError, nothing hung,
 * no result lost or misrouted, no duplicate job, no deletion applied twice, attempts within the
 * retry policy. It prints the figures and exits 1 on any violation.
 *
 * Issue 23's faults are on by default: `500`, `502` and `504` and answers cut short on the status
 * and result reads and the status stream, status streams closed after 50 ms, deletions applied and
 * their answers cut short, and uploads (a tenth of the operations) whose initiate or PUT is
 * applied and its answer lost; with them, a subscribe that fails although its job completed (and
 * its request id was known) is a "lost completed result", and any is a violation.
 * `--classic` (or `SOAK_LOST_ANSWERS=0`) runs the earlier fault mix alone.
 *
 * It prints a table of the outcome classes (ok, each `FalError` tag, hang, defect, ...) by
 * operation, the faults injected, the attempts per call and the counters.
 *
 * Flags (or environment variables): `--ops` (`SOAK_OPS`, default 20000), `--concurrency`
 * (`SOAK_CONCURRENCY`, 64), `--seed` (`SOAK_SEED`, 1), `--fault-rate` (`SOAK_FAULT_RATE`, 0.1),
 * `--per-call-seconds` (`SOAK_PER_CALL_SECONDS`, 120), `--timeout-minutes`
 * (`SOAK_TIMEOUT_MINUTES`, 60), `--classic`. Example: `pnpm soak -- --ops 20000`.
 */
import { FalPlatform } from "@effect-fal/testing"
import * as Effect from "effect/Effect"
import * as os from "node:os"
import { loopback } from "../packages/api/test/utils/emulator.js"
import { check, kinds, type Progress, soak } from "../packages/api/test/utils/soak.js"
import { webhookFlood } from "./soak-webhooks.js"

/** `--name value` and `--name=value` flags; a bare `--` (from `pnpm soak -- ...`) is skipped. */
const flags = new Map<string, string>()
{
  const args = process.argv.slice(2).filter((arg) => arg !== "--")
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (!arg.startsWith("--")) {
      process.stderr.write(`unexpected argument ${JSON.stringify(arg)}\n`)
      process.exit(2)
    }
    const [name, inline] = arg.slice(2).split("=", 2)
    if (name === "classic") flags.set(name, "1")
    else if (inline !== undefined) flags.set(name, inline)
    else if (i + 1 < args.length) flags.set(name, args[++i])
    else {
      process.stderr.write(`--${name} needs a value\n`)
      process.exit(2)
    }
  }
}
const flagOf: Record<string, string> = {
  SOAK_OPS: "ops",
  SOAK_CONCURRENCY: "concurrency",
  SOAK_SEED: "seed",
  SOAK_FAULT_RATE: "fault-rate",
  SOAK_PER_CALL_SECONDS: "per-call-seconds",
  SOAK_TIMEOUT_MINUTES: "timeout-minutes"
}
for (const name of flags.keys()) {
  if (name !== "classic" && !Object.values(flagOf).includes(name)) {
    process.stderr.write(`unknown flag --${name}\n`)
    process.exit(2)
  }
}

const number = (name: string, fallback: number): number => {
  const raw = flags.get(flagOf[name]) ?? process.env[name]
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
const lostAnswers = !flags.has("classic") && process.env.SOAK_LOST_ANSWERS !== "0"

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
    `soak: ${ops} operations, ${concurrency} in flight, ${faultRate * 100} % mixed faults${
      lostAnswers ? " plus read faults and lost answers" : ""
    }, seed ${seed}, per-call bound ${perCallSeconds} s, overall ${timeoutMinutes} min; load before ${load}, ${os.cpus().length} cores`
  )
  const report = yield* soak({
    ops,
    concurrency,
    seed,
    faultRate,
    lostAnswers,
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
  print("outcome classes by operation:")
  const shown = kinds.filter((kind) => Object.values(f.outcomes[kind]).some((n) => n > 0))
  const rows = Object.entries(f.classes).sort((a, b) =>
    Object.values(b[1]).reduce((x, y) => x + y, 0) - Object.values(a[1]).reduce((x, y) => x + y, 0)
  )
  const header = ["class", ...shown, "total"]
  const table = [
    header,
    ...rows.map(([name, counts]) => [
      name,
      ...shown.map((kind) => String(counts[kind])),
      String(shown.reduce((n, kind) => n + counts[kind], 0))
    ]),
    ["total", ...shown.map((kind) => String(Object.values(f.outcomes[kind]).reduce((a, b) => a + b, 0))), String(f.ops)]
  ]
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)))
  for (const row of table) {
    print(`  ${row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("  ")}`)
  }
  print("HTTP requests per logical call, by step (requests: calls):")
  for (const [step, histogram] of Object.entries(f.attempts)) {
    print(`  ${step}: ${Object.entries(histogram).map(([n, c]) => `${n}: ${c}`).join(", ")}`)
  }
  print(
    `lost completed results (subscribes failed after their job completed, request id known): ${f.lostCompletedResults}${
      lostAnswers ? " (must be 0)" : ""
    }`
  )
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
