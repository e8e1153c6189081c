import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Child from "./utils/child.js"
import * as Postgres from "./utils/postgres.js"

const work = Model.make({
  id: "test/work",
  input: Schema.Struct({ id: Schema.Number }),
  handler: (input) => Effect.as(Effect.sleep(`${50 + ((input.id * 37) % 250)} millis`), { echo: input.id })
})

const isSubmit = (entry: FalPlatform.HttpLogEntry) =>
  entry.method === "POST" && entry.base === "queue" && entry.path === "/test/work"

const isStatus = (entry: FalPlatform.HttpLogEntry) => entry.method === "GET" && entry.path.endsWith("/status")

const common = (pg: Postgres.Postgres, emulator: FalEmulator.FalEmulator["Type"], jobs: number, poll: number) => ({
  PG_URL: pg.url,
  QUEUE_URL: emulator.urls.queue,
  REST_URL: emulator.urls.rest,
  FAL_KEY: FalPlatform.defaultKeys.user,
  JOBS: String(jobs),
  POLL: String(poll)
})

const webhookUrl = (port: number) => `http://127.0.0.1:${port}/webhook`

/** `done <id> <requestId> <echo>` lines: every job once, each with its own output. */
const assertDone = (lines: ReadonlyArray<string>, jobs: number) => {
  const done = lines.filter((line) => line.startsWith("done "))
  assert.strictEqual(done.length, jobs, lines.filter((line) => !line.startsWith("answered")).join("\n"))
  assert.strictEqual(new Set(done.map((line) => line.split(" ")[1])).size, jobs)
  for (const line of done) {
    const [, id, , echo] = line.split(" ")
    assert.strictEqual(id, echo)
  }
  return done.map((line) => line.split(" ")[2]!)
}

/** Waits for a runner's `ready` (its layers built: the cluster's tables exist once the first is). */
const ready = (child: Child.Child) =>
  Child.until(Effect.sync(() => child.lines().includes("ready"))).pipe(
    Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`runner not ready\n${child.stderr()}`) })
  )

const finish = (child: Child.Child, duration: number) =>
  child.exited.pipe(
    Effect.timeoutFail({
      duration,
      onTimeout: () =>
        new Error(
          `the runner did not finish\n${child.lines().filter((l) => !l.startsWith("answered")).slice(-5).join("\n")}\n${
            child.stderr().slice(-3000)
          }`
        )
    })
  )

describe("FalJob on two cluster runners on PostgreSQL", () => {
  it.live(
    "webhooks delivered to either runner complete the right workflow (no poll: webhooks only)",
    () =>
      Effect.gen(function*() {
        const JOBS = 40
        const pg = yield* Postgres.start
        const emulator = yield* FalEmulator.FalEmulator
        const platform = yield* FalPlatform.FalPlatform
        const portA = yield* Child.freePort
        const portB = yield* Child.freePort
        // The poll fallback's first status check is an hour away: a job completes only when a
        // delivery completes its deferred.
        const env = common(pg, emulator, JOBS, 3_600_000)
        // Each runner advertises the OTHER's webhook URL: every delivery for a workflow running on
        // A reaches B, and every one for a workflow running on B reaches A, so each completion is
        // routed by the cluster to the runner that owns the execution.
        const a = yield* Child.spawnRunner({
          ...env,
          RUNNER_PORT: String(yield* Child.freePort),
          WEBHOOK_PORT: String(portA),
          WEBHOOK_URL: webhookUrl(portB),
          START: "0"
        })
        yield* ready(a)
        const b = yield* Child.spawnRunner({
          ...env,
          RUNNER_PORT: String(yield* Child.freePort),
          WEBHOOK_PORT: String(portB),
          WEBHOOK_URL: webhookUrl(portA),
          START: "1",
          // Both runners hold shards by then: the workflows are spread over both.
          START_AFTER: "6000"
        })
        const code = yield* finish(b, 90_000)
        assert.strictEqual(code, 0, `${b.lines().join("\n")}\n${b.stderr()}`)
        const winners = assertDone(b.lines(), JOBS)

        const log = yield* platform.httpLog
        assert.strictEqual(log.filter(isSubmit).length, JOBS, "one submit per job")
        assert.strictEqual(log.filter(isStatus).length, 0, "no job was polled")
        const deliveries = yield* platform.webhooks
        const to = (port: number) => deliveries.filter((d) => d.url.startsWith(webhookUrl(port)))
        // Every delivery was accepted at its first try (2xx), by the runner it reached.
        for (const delivery of deliveries) {
          assert.isTrue(
            typeof delivery.outcome === "number" && delivery.outcome >= 200 && delivery.outcome < 300,
            `delivery of ${delivery.requestId} to ${delivery.url}: ${delivery.outcome}`
          )
        }
        assert.strictEqual(deliveries.length, JOBS)
        assert.deepStrictEqual(new Set(deliveries.map((d) => d.requestId)), new Set(winners))
        // Both directions happened: A completed workflows owned by B, and B ones owned by A.
        const toA = to(portA).length
        const toB = to(portB).length
        console.log(`cluster webhook test: ${toA} deliveries to A (workflows on B), ${toB} to B (workflows on A)`)
        assert.isAbove(toA, 0, "no workflow ran on B")
        assert.isAbove(toB, 0, "no workflow ran on A")
        assert.strictEqual(toA + toB, JOBS)
      }).pipe(
        Effect.provide(FalEmulator.layer({ models: [work], demoModels: false })),
        Effect.scoped
      ),
    180_000
  )

  it.live(
    "100 jobs; one runner is killed midway; its shards move and every job completes",
    () =>
      Effect.gen(function*() {
        const JOBS = 100
        const pg = yield* Postgres.start
        const emulator = yield* FalEmulator.FalEmulator
        const platform = yield* FalPlatform.FalPlatform
        const env = common(pg, emulator, JOBS, 500)
        const a = yield* Child.spawnRunner({
          ...env,
          RUNNER_PORT: String(yield* Child.freePort),
          WEBHOOK_PORT: String(yield* Child.freePort),
          START: "0"
        })
        yield* ready(a)
        const b = yield* Child.spawnRunner({
          ...env,
          RUNNER_PORT: String(yield* Child.freePort),
          WEBHOOK_PORT: String(yield* Child.freePort),
          START: "1",
          START_AFTER: "6000"
        })
        // B starts the workflows (spread over both runners' shards) and waits for them all.
        yield* Child.until(Effect.map(platform.httpLog, (log) => log.filter(isSubmit).length >= JOBS / 2)).pipe(
          Effect.timeoutFail({
            duration: "90 seconds",
            onTimeout: () => new Error(`no submits\nA:${a.stderr()}\nB:${b.stderr()}`)
          })
        )
        yield* a.kill
        const code = yield* finish(b, 120_000)
        assert.strictEqual(code, 0, `${b.stderr()}\n${b.lines().slice(-5).join("\n")}`)
        const winners = new Set(assertDone(b.lines(), JOBS))

        const log = yield* platform.httpLog
        const byKey = new Map<string, Array<string>>()
        for (const entry of log.filter(isSubmit)) {
          const key = entry.headers["idempotency-key"] ?? "none"
          byKey.set(key, [...(byKey.get(key) ?? []), entry.id])
        }
        assert.strictEqual(byKey.size, JOBS, "one key per execution")
        for (const [key, ids] of byKey) {
          assert.strictEqual(ids.filter((id) => winners.has(id)).length, 1, `one winner for ${key}`)
        }
        // A submit more than one per job is a crash-window case: a submit of a workflow that was
        // running on A, whose answer reached A (or was on its way) when A was killed, resubmitted
        // by B once the shard moved. None can come from B, which was not killed.
        const answeredByA = new Set(a.lines().filter((l) => l.startsWith("answered ")).map((l) => l.split(" ")[1]))
        const answeredByB = new Set(b.lines().filter((l) => l.startsWith("answered ")).map((l) => l.split(" ")[1]))
        const extras = [...byKey.values()].flatMap((ids) => ids.filter((id) => !winners.has(id)))
        const extrasOfB = extras.filter((id) => answeredByB.has(id))
        const outcomes = new Map<string, number>()
        for (const delivery of yield* platform.webhooks) {
          outcomes.set(String(delivery.outcome), (outcomes.get(String(delivery.outcome)) ?? 0) + 1)
        }
        console.log(
          `cluster kill test: ${log.filter(isSubmit).length} submits for ${JOBS} jobs; ${extras.length} ` +
            `crash-window cases (${extras.filter((id) => answeredByA.has(id)).length} answered to A before ` +
            `the kill, ${extrasOfB.length} answered to B); deliveries by outcome ${JSON.stringify([...outcomes])}`
        )
        assert.strictEqual(extrasOfB.length, 0, "a runner that was not killed submitted a job twice")
        assert.isAtMost(extras.length, JOBS, "at most one resubmit per job")
      }).pipe(
        Effect.provide(FalEmulator.layer({ models: [work], demoModels: false })),
        Effect.scoped
      ),
    300_000
  )
})
