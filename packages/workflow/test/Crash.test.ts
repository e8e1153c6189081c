import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Child from "./utils/child.js"

const JOBS = 50
const ROUNDS = 5

/** A model taking 20 to 200 ms (seeded by the input), so kills land on every step. */
const work = Model.make({
  id: "test/work",
  input: Schema.Struct({ id: Schema.Number }),
  handler: (input) => Effect.as(Effect.sleep(`${20 + ((input.id * 37) % 180)} millis`), { echo: input.id })
})

const isSubmit = (entry: FalPlatform.HttpLogEntry) =>
  entry.method === "POST" && entry.base === "queue" && entry.path === "/test/work"

describe("FalJob on the SQLite single runner, in a child process killed at random points", () => {
  it.live(
    "50 workflows, SIGKILL five times, every one completes with one submit (crash-window cases counted)",
    () =>
      Effect.gen(function*() {
        const emulator = yield* FalEmulator.FalEmulator
        const platform = yield* FalPlatform.FalPlatform
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "fal-job-crash-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
        const env = {
          DB: Path.join(dir, "workflows.sqlite"),
          QUEUE_URL: emulator.urls.queue,
          REST_URL: emulator.urls.rest,
          FAL_KEY: FalPlatform.defaultKeys.user,
          WEBHOOK_PORT: String(yield* Child.freePort),
          JOBS: String(JOBS),
          POLL: "200"
        }
        const random = Child.seeded(20261207)
        const submits = Effect.map(platform.httpLog, (log) => log.filter(isSubmit))
        const kills: Array<number> = []
        for (let round = 0; round < ROUNDS; round++) {
          yield* Effect.scoped(Effect.gen(function*() {
            const child = yield* Child.spawnRunner(env)
            const before = (yield* platform.httpLog).length
            // Kill once a seeded number of further requests reached the emulator (submits, polls,
            // results: every step of a job), or once the child has finished.
            const target = before + 1 + Math.floor(random() * 120)
            const finished = () => child.lines().includes("all done")
            yield* Child.until(Effect.map(platform.httpLog, (log) => log.length >= target || finished())).pipe(
              Effect.timeoutFail({
                duration: "60 seconds",
                onTimeout: () =>
                  new Error(`round ${round}: no progress\n${child.lines().join("\n")}\n${child.stderr()}`)
              })
            )
            kills.push((yield* submits).length)
            console.log(`round ${round}: kill after ${kills[kills.length - 1]} submits`)
            yield* child.kill
          }))
        }
        const last = yield* Effect.scoped(Effect.gen(function*() {
          const child = yield* Child.spawnRunner(env)
          const code = yield* child.exited.pipe(
            Effect.timeoutFail({
              duration: "60 seconds",
              onTimeout: () => {
                const ids = new Set(child.lines().filter((l) => l.startsWith("done ")).map((l) => l.split(" ")[1]))
                const missing = Array.from({ length: JOBS }, (_, i) => String(i)).filter((i) => !ids.has(i))
                return new Error(`last run: no end; missing ${missing.join(",")}\n${child.stderr()}`)
              }
            })
          )
          assert.strictEqual(code, 0, child.stderr())
          return child.lines()
        }))
        // Every workflow completed with its own output.
        const done = last.filter((line) => line.startsWith("done "))
        assert.strictEqual(done.length, JOBS, last.join("\n"))
        for (const line of done) {
          const [, id, , echo] = line.split(" ")
          assert.strictEqual(id, echo)
        }
        // Submits per job, grouped by the idempotency key each execution sends. A job submitted
        // more than once was killed in the crash window (after fal's answer, before the journal):
        // the emulator, like fal's queue, does not deduplicate submits by key.
        const log = yield* platform.httpLog
        const byKey = new Map<string, Array<string>>()
        for (const entry of log.filter(isSubmit)) {
          const key = entry.headers["idempotency-key"] ?? "none"
          byKey.set(key, [...(byKey.get(key) ?? []), entry.id])
        }
        assert.strictEqual(byKey.size, JOBS, "one key per execution")
        const results = done.map((line) => line.split(" ")[2]!)
        assert.strictEqual(new Set(results).size, JOBS, "each workflow returned its own request")
        // Each workflow's result is the request its journal recorded; every other submit of its
        // key is a crash-window stray.
        const recorded = new Set(results)
        const strays = [...byKey.values()].flatMap((ids) => ids.filter((id) => !recorded.has(id)))
        const resubmitted = [...byKey.values()].filter((ids) => ids.length > 1).length
        assert.strictEqual(strays.length, log.filter(isSubmit).length - JOBS)
        const cancelled = strays.filter((id) =>
          log.some((entry) => entry.method === "PUT" && entry.path.endsWith(`/requests/${id}/cancel`))
        )
        console.log(
          `crash test: kills after ${kills.join(", ")} submits; ${resubmitted} jobs resubmitted in the crash ` +
            `window, ${strays.length} strays, ${cancelled.length} of them cancelled`
        )
      }).pipe(
        Effect.provide(FalEmulator.layer({ models: [work], demoModels: false })),
        Effect.scoped
      ),
    180_000
  )
})
