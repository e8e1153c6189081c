#!/usr/bin/env node
/**
 * `effect-fal`: the command on Node, with undici as the transport. Its version is the one in the
 * package's own `package.json`.
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { Cli } from "./index.js"
import { versionOf } from "./internal/packageVersion.js"

const program = Cli.main(process.argv, { version: versionOf(import.meta.url, "@effect-fal/cli") }).pipe(
  Effect.provide(
    Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, Cli.layerProcessTerminal, Cli.layerProcessConsole)
  )
)

// the exit code tells a script what happened: 0 done, 1 failures, 2 bad input (see Cli.exitCode);
// Cli.main has printed what went wrong, in one line
Effect.runPromiseExit(program).then((exit) => {
  process.exitCode = Cli.exitCode(exit)
})
