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
        // When each submit answer reached the child (by request id), and when the child was killed.
        const answeredAt = new Map<string, number>()
        const killedAt: Array<number> = []
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
            killedAt.push(Date.now())
            yield* child.kill
            kills.push((yield* submits).length)
            for (const line of child.lines().filter((l) => l.startsWith("answered "))) {
              const [, id, , at] = line.split(" ")
              answeredAt.set(id!, Number(at))
            }
          }))
        }
        // The last run serves webhooks until every extra request has been dealt with: a delivery
        // that found the child dead is delivered again later (fal's schedule: 15 s, 30 s, ...).
        const { extras, last, log } = yield* Effect.scoped(Effect.gen(function*() {
          const child = yield* Child.spawnRunner({ ...env, LINGER: "1" })
          const describe = () => {
            const ids = new Set(child.lines().filter((l) => l.startsWith("done ")).map((l) => l.split(" ")[1]))
            const missing = Array.from({ length: JOBS }, (_, i) => String(i)).filter((i) => !ids.has(i))
            return `missing ${missing.join(",")}\n${child.stderr()}`
          }
          yield* Child.until(Effect.sync(() => child.lines().includes("all done"))).pipe(
            Effect.timeoutFail({
              duration: "60 seconds",
              onTimeout: () => new Error(`last run: no end; ${describe()}`)
            })
          )
          const lines = child.lines()
          const winners = new Set(lines.filter((l) => l.startsWith("done ")).map((l) => l.split(" ")[2]!))
          const extrasOf = (entries: ReadonlyArray<FalPlatform.HttpLogEntry>) =>
            entries.filter(isSubmit).filter((entry) => !winners.has(entry.id))
          const cancelOf = (entries: ReadonlyArray<FalPlatform.HttpLogEntry>, id: string) =>
            entries.find((entry) =>
              entry.method === "PUT" && entry.path.endsWith(`/requests/${id}/cancel`) &&
              typeof entry.status === "number"
            )
          yield* Child.until(
            Effect.map(platform.httpLog, (entries) => extrasOf(entries).every((e) => cancelOf(entries, e.id)))
          ).pipe(
            Effect.timeoutFail({
              duration: "100 seconds",
              onTimeout: () => new Error(`extra requests never cancelled\n${child.stderr()}`)
            })
          )
          const entries = yield* platform.httpLog
          return {
            last: lines,
            log: entries,
            extras: extrasOf(entries).map((entry) => ({
              id: entry.id,
              key: entry.headers["idempotency-key"] ?? "none",
              cancel: cancelOf(entries, entry.id)!.status
            }))
          }
        }))
        // Every workflow completed with its own output.
        const done = last.filter((line) => line.startsWith("done "))
        assert.strictEqual(done.length, JOBS, last.join("\n"))
        for (const line of done) {
          const [, id, , echo] = line.split(" ")
          assert.strictEqual(id, echo)
        }
        const results = done.map((line) => line.split(" ")[2]!)
        assert.strictEqual(new Set(results).size, JOBS, "each workflow returned its own request")
        // Submits per job, grouped by the idempotency key each execution sends: one, plus one per
        // crash-window case (a kill after fal accepted a submit and before the journal recorded it;
        // the emulator, like fal's queue, does not deduplicate submits by key).
        const byKey = new Map<string, Array<string>>()
        for (const entry of log.filter(isSubmit)) {
          const key = entry.headers["idempotency-key"] ?? "none"
          byKey.set(key, [...(byKey.get(key) ?? []), entry.id])
        }
        assert.strictEqual(byKey.size, JOBS, "one key per execution")
        const winners = new Set(results)
        for (const [key, ids] of byKey) {
          assert.strictEqual(ids.filter((id) => winners.has(id)).length, 1, `one winner for ${key}`)
        }
        assert.strictEqual(extras.length, log.filter(isSubmit).length - JOBS)
        // Every extra request was cancelled upstream: the cancel landed (202) or answered that
        // the request had already completed (400: it finished before it could be cancelled).
        const landed = extras.filter((extra) => extra.cancel === 202)
        const alreadyCompleted = extras.filter((extra) => extra.cancel === 400)
        assert.strictEqual(landed.length + alreadyCompleted.length, extras.length, JSON.stringify(extras))
        // Deterministic kill points (seeded): the counts are those of the seed.
        // The submits lost in the crash window: of each job, every submit but its last (the last
        // one is the one the journal recorded). How long before the kill had their answers arrived?
        const lost = [...byKey.values()].flatMap((ids) => ids.slice(0, -1))
        const window = lost.flatMap((id) => {
          const at = answeredAt.get(id)
          const kill = at === undefined ? undefined : killedAt.find((t) => t >= at)
          return at === undefined || kill === undefined ? [] : [kill - at]
        }).sort((a, b) => a - b)
        console.log(
          `crash test: kills after ${kills.join(", ")} submits; ${byKey.size} jobs, ${extras.length} ` +
            `crash-window cases (${window.length} of them after the lost submit's answer reached the process` +
            `${window.length === 0 ? "" : `, ${window[0]}..${window[window.length - 1]} ms before the kill`}); ` +
            `extra requests cancelled while queued or running: ${landed.length}, finished before they ` +
            `could be cancelled: ${alreadyCompleted.length}`
        )
        assert.isAbove(extras.length, 0, "the seeded kills land in the crash window")
      }).pipe(
        Effect.provide(FalEmulator.layer({ models: [work], demoModels: false })),
        Effect.scoped
      ),
    180_000
  )
})
