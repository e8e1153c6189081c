/**
 * The soak's smoke version: 150 operations against the loopback emulator with 10 %
 * mixed faults, through the same workload and checker as `pnpm soak`; and the checker on a
 * doctored report, so each of its properties is known to fail when broken.
 */
import { Fault } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { loopback } from "./utils/emulator.js"
import { check, type OpRecord, type Report, soak } from "./utils/soak.js"

/**
 * Issue 23's faults (500/502/504 and cut-short reads, status streams closed early, lost answers of
 * deletions and uploads) and its property (no lost completed result). Off until the api retries
 * reads and falls back from the stream; switch on here once it does.
 */
const lostAnswers = true

const smoke = soak({ ops: 150, concurrency: 32, seed: 7, perCall: "60 seconds", overall: "3 minutes", lostAnswers })
  .pipe(
    Effect.provide(loopback({ adminKey: true, config: { demoRunners: 8 } }))
  )

describe("soak", () => {
  it.live(
    "150 operations with 10% mixed faults: typed outcomes, no lost result, no duplicate, attempts within policy",
    () =>
      Effect.gen(function*() {
        const report = yield* smoke
        const verdict = check(report)
        assert.deepStrictEqual(verdict.violations, [])
        assert.strictEqual(verdict.figures.ops, 150)
        // the faults really were injected, of every kind
        const injected = Object.values(verdict.figures.faults).reduce((a, b) => a + b, 0)
        assert.isAbove(injected, 0)
        assert.isAtLeast(Object.keys(verdict.figures.faults).length, 4)

        // the checker catches each broken property on the same report
        const doctor = (f: (op: OpRecord) => OpRecord | undefined): Report => ({
          ...report,
          records: report.records.map((op) => f(op) ?? op)
        })
        const first = (kind: OpRecord["kind"]) => report.records.find((op) => op.kind === kind && op.outcome === "ok")!
        const run = first("run")
        const sub = first("subscribeStream")
        const del = first("deleteLegacy")
        const violations = (r: Report) => check(r).violations.join("\n")
        assert.match(
          violations(doctor((op) => op === run ? { ...op, echoed: "soak-7-99999" } : undefined)),
          /misrouted/
        )
        assert.match(
          violations(doctor((op) => op === sub ? { ...op, outcome: "typed", error: "TransportError" } : undefined)),
          /lost result/
        )
        // a subscribe failing after its job completed, its request id known: a lost completed
        // result, counted always and a violation with issue 23's faults on
        const lostCompleted = doctor((op) =>
          op === sub ? { ...op, outcome: "typed", error: "ServerError", errorOperation: "result" } : undefined
        )
        assert.strictEqual(
          check(lostCompleted).figures.lostCompletedResults,
          verdict.figures.lostCompletedResults + 1
        )
        assert.match(
          violations({ ...lostCompleted, options: { ...lostCompleted.options, lostAnswers: true } }),
          /lost completed result: op \d+ \(subscribeStream\) job .* failed with ServerError \(in result\)/
        )
        // a submit the client gave up on (its headers timeout) while fal created the job: the
        // caller never learned the id, counted apart; the same failure without a timeout is lost
        const unanswered = { ...sub, requestId: undefined, outcome: "typed", error: "TransportError" } as const
        const timedOut = check(
          doctor((op) => op === sub ? { ...unanswered, errorOperation: "submit", errorTimeout: "headers" } : undefined)
        )
        assert.deepStrictEqual(timedOut.violations, [])
        assert.strictEqual(timedOut.figures.orphanedBySubmitTimeout, verdict.figures.orphanedBySubmitTimeout + 1)
        assert.match(
          violations(doctor((op) => op === sub ? { ...unanswered, errorOperation: "submit" } : undefined)),
          /lost result: .* TransportError \(in submit\) without its request id/
        )
        assert.match(
          violations(doctor((op) => op === run ? { ...op, outcome: "defect", error: "boom" } : undefined)),
          /defect/
        )
        assert.match(violations(doctor((op) => op === del ? { ...op, failedLinks: 1 } : undefined)), /applied twice/)
        const runPost = report.log.find((e) => e.base === "run" && e.body.includes(`"${run.token}"`))!
        assert.match(
          violations({ ...report, log: [...report.log, runPost, runPost, runPost, runPost] }),
          // four more copies of the run's request: at least 5 in all (one more if a fault was retried)
          /attempts: op \d+ \(run\) made ([5-9]|\d{2,}) run requests/
        )
        assert.match(
          violations({ ...report, log: [...report.log, { ...runPost, fault: Fault.resetAfter }, runPost] }),
          /re-sent a run after a fault that may have reached fal/
        )
        const job = [...report.jobs.values()].find((j) => j.id === sub.requestId)!
        assert.match(
          violations({ ...report, jobs: new Map([...report.jobs, ["duplicate", { ...job, id: "duplicate" }]]) }),
          /duplicate job/
        )
        // the answered attempt (the last one: earlier ones may have been faulted before the route)
        const deletion = report.log.filter((e) => e.base === "rest" && e.path.endsWith(del.requestId!)).at(-1)!
        assert.match(violations({ ...report, log: [...report.log, deletion] }), /applied 2 times/)
      }),
    { timeout: 240_000 }
  )
})
