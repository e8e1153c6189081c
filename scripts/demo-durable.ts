/**
 * `pnpm demo:durable`: a durable fal job survives its process being killed.
 *
 * Starts the fal emulator here (it outlives the runner), runs one `FalJob` workflow on SQLite in a
 * child process (`packages/workflow/test/fixtures/runner.ts`), kills the child with SIGKILL while
 * the job runs, starts it again on the same file, and shows the job finishing with one submit.
 */
import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const runner = Path.join(import.meta.dirname, "..", "packages", "workflow", "test", "fixtures", "runner.ts")

/** A model that takes three seconds: long enough to kill its runner in the middle. */
const paint = Model.make({
  id: "test/work",
  input: Schema.Struct({ id: Schema.Number }),
  handler: (input) => Effect.as(Effect.sleep("3 seconds"), { echo: input.id })
})

const start = (env: Record<string, string>) =>
  Effect.sync(() => {
    const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", runner], {
      cwd: Path.dirname(Path.dirname(runner)),
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => void (out += chunk))
    const exited = Effect.promise(() => new Promise<number | null>((resolve) => child.on("exit", resolve)))
    return { child, exited, output: () => out }
  })

const main = Effect.gen(function*() {
  const emulator = yield* FalEmulator.FalEmulator
  const platform = yield* FalPlatform.FalPlatform
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "fal-durable-demo-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
  const env = {
    DB: Path.join(dir, "workflows.sqlite"),
    QUEUE_URL: emulator.urls.queue,
    REST_URL: emulator.urls.rest,
    FAL_KEY: FalPlatform.defaultKeys.user,
    WEBHOOK_PORT: "0",
    JOBS: "1",
    POLL: "500"
  }
  const isSubmit = (entry: FalPlatform.HttpLogEntry) => entry.method === "POST" && entry.base === "queue"
  yield* Console.log(`[demo] emulator on ${emulator.origin}; journal ${env.DB}`)
  const first = yield* start(env)
  yield* Console.log(`[demo] runner started (pid ${first.child.pid}): one durable job on SQLite`)
  const submit = yield* platform.awaitHttpLog(isSubmit)
  yield* Console.log(`[demo] fal received the submit (${submit.id}); the job runs for 3 s`)
  yield* platform.awaitHttpLog((entry) => entry.method === "GET" && entry.path.endsWith("/status"))
  yield* Console.log(`[demo] the runner recorded the request and polls its status: SIGKILL`)
  first.child.kill("SIGKILL")
  yield* first.exited
  const second = yield* start(env)
  yield* Console.log(`[demo] runner restarted on the same journal (pid ${second.child.pid})`)
  const code = yield* second.exited
  const done = second.output().split("\n").find((line) => line.startsWith("done "))
  const submits = (yield* platform.httpLog).filter(isSubmit).length
  yield* Console.log(`[demo] ${done ?? "no result"}; exit ${code}`)
  yield* Console.log(`[demo] submits fal received: ${submits} (the restarted runner resumed, it did not submit again)`)
  if (done === undefined || submits !== 1) return yield* Effect.dieMessage("the durable job did not finish once")
})

NodeRuntime.runMain(
  main.pipe(Effect.provide(FalEmulator.layer({ models: [paint], demoModels: false })), Effect.scoped)
)
