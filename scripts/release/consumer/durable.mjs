// A durable fal job (@effect-fal/workflow) on the SQLite single runner, as npm installs it: the
// workflow engine, the cluster's SQL storage and better-sqlite3's native binding, against the
// loopback emulator (no webhook: the durable poll finishes the step).
import { FalClient } from "@effect-fal/api"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import { FalJob } from "@effect-fal/workflow"
import { NodeHttpClient } from "@effect/platform-node"
import { Workflow } from "@effect/workflow"
import { Effect, Layer, Redacted, Schema } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "durable-consumer-"))

const Echo = Workflow.make({
  name: "Echo",
  payload: { text: Schema.String },
  success: Schema.String,
  error: FalJob.FalErrorSchema,
  idempotencyKey: ({ text }) => text
})

const EchoLive = Echo.toLayer(({ text }) =>
  Effect.map(
    FalJob.run({ name: "echo", modelId: "fal-ai/echo", input: { text }, output: Schema.Struct({ text: Schema.String }) }),
    (result) => result.data.text
  )
)

const client = Layer.unwrapEffect(
  Effect.map(FalEmulator.FalEmulator, ({ urls }) =>
    FalClient.layer({ key: Redacted.make(FalPlatform.defaultKeys.user), urls }).pipe(
      Layer.provide(NodeHttpClient.layerUndici)
    ))
).pipe(Layer.provideMerge(FalEmulator.layer()))

const App = EchoLive.pipe(
  Layer.provideMerge(Layer.mergeAll(
    FalJob.layerSqlite({ filename: Path.join(directory, "jobs.db") }),
    FalJob.layerConfig({ pollInterval: 100 })
  )),
  Layer.provideMerge(client)
)

const text = await Effect.runPromise(Echo.execute({ text: "durable" }).pipe(Effect.provide(App)))
if (text !== "durable") throw new Error(`durable: unexpected output ${JSON.stringify(text)}`)
console.log("durable: ok (SQLite journal)")
Fs.rmSync(directory, { recursive: true, force: true })
// the cluster's graceful shutdown is not awaited: the journal is on disk
process.exit(0)
