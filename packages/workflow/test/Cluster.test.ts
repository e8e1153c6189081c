import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Child from "./utils/child.js"
import * as Postgres from "./utils/postgres.js"

const JOBS = 100

const work = Model.make({
  id: "test/work",
  input: Schema.Struct({ id: Schema.Number }),
  handler: (input) => Effect.as(Effect.sleep(`${50 + ((input.id * 37) % 250)} millis`), { echo: input.id })
})

const isSubmit = (entry: FalPlatform.HttpLogEntry) =>
  entry.method === "POST" && entry.base === "queue" && entry.path === "/test/work"

describe("FalJob on two cluster runners on PostgreSQL", () => {
  it.live(
    "100 jobs; one runner is killed midway; its shards move and every job completes",
    () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.start
        const emulator = yield* FalEmulator.FalEmulator
        const platform = yield* FalPlatform.FalPlatform
        const webhookA = yield* Child.freePort
        const common = {
          PG_URL: pg.url,
          QUEUE_URL: emulator.urls.queue,
          REST_URL: emulator.urls.rest,
          FAL_KEY: FalPlatform.defaultKeys.user,
          JOBS: String(JOBS),
          POLL: "500"
        }
        const a = yield* Child.spawnRunner({
          ...common,
          RUNNER_PORT: String(yield* Child.freePort),
          WEBHOOK_PORT: String(webhookA),
          START: "0"
        })
        // B advertises A's webhook URL: deliveries for B's workflows reach A, which routes them.
        const b = yield* Child.spawnRunner({
          ...common,
          RUNNER_PORT: String(yield* Child.freePort),
          WEBHOOK_PORT: String(yield* Child.freePort),
          WEBHOOK_URL: `http://127.0.0.1:${webhookA}/webhook`,
          START: "1"
        })
        // B starts the workflows (spread over both runners' shards) and waits for them all.
        yield* Child.until(Effect.map(platform.httpLog, (log) => log.filter(isSubmit).length >= JOBS / 2)).pipe(
          Effect.timeoutFail({
            duration: "90 seconds",
            onTimeout: () => new Error(`no submits\nA:${a.stderr()}\nB:${b.stderr()}`)
          })
        )
        yield* a.kill
        const code = yield* b.exited.pipe(
          Effect.timeoutFail({
            duration: "120 seconds",
            onTimeout: () =>
              new Error(
                `B did not finish\n${b.lines().length} lines\n${
                  b.lines().filter((l) => !l.startsWith("answered")).slice(-5).join("\n")
                }\n${b.stderr().slice(-3000)}`
              )
          })
        )
        assert.strictEqual(code, 0, `${b.stderr()}\n${b.lines().slice(-5).join("\n")}`)
        const done = b.lines().filter((line) => line.startsWith("done "))
        assert.strictEqual(done.length, JOBS)
        for (const line of done) {
          const [, id, , echo] = line.split(" ")
          assert.strictEqual(id, echo)
        }
        const log = yield* platform.httpLog
        const keys = new Set(log.filter(isSubmit).map((entry) => entry.headers["idempotency-key"]))
        assert.strictEqual(keys.size, JOBS)
        const outcomes = new Map<string, number>()
        for (const delivery of yield* platform.webhooks) {
          outcomes.set(String(delivery.outcome), (outcomes.get(String(delivery.outcome)) ?? 0) + 1)
        }
        const perKey = new Map<string, number>()
        for (const entry of log.filter(isSubmit)) {
          const key = entry.headers["idempotency-key"] ?? ""
          perKey.set(key, (perKey.get(key) ?? 0) + 1)
        }
        const histogram = new Map<number, number>()
        for (const n of perKey.values()) histogram.set(n, (histogram.get(n) ?? 0) + 1)
        console.log(
          `cluster test: ${log.filter(isSubmit).length} submits for ${JOBS} jobs (submits per job: ` +
            `${JSON.stringify([...histogram])}); deliveries by outcome ${JSON.stringify([...outcomes])}`
        )
      }).pipe(
        Effect.provide(FalEmulator.layer({ models: [work], demoModels: false })),
        Effect.scoped
      ),
    300_000
  )
})
