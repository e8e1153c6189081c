#!/usr/bin/env node
/**
 * `effect-fal`: the command on Node, with undici as the transport.
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { Cause, Effect, Layer, Option } from "effect"
import { Cli } from "./index.js"

const program = Cli.run(process.argv).pipe(
  Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, Cli.layerProcessTerminal))
)

// the exit code tells a script what happened: 0 done, 1 failures, 2 bad input (see Cli.exitCode)
Effect.runPromiseExit(program).then((exit) => {
  if (exit._tag === "Failure") {
    // @effect/cli prints its own usage errors; the rest is reported here, by message only
    const error = Cause.failureOption(exit.cause)
    const text = Option.match(error, {
      onNone: () => Cause.isInterruptedOnly(exit.cause) ? "interrupted" : Cause.pretty(exit.cause),
      onSome: (e) => (e instanceof Error ? e.message : String(e))
    })
    if (!(Option.isSome(error) && Cli.isUsageError(error.value))) process.stderr.write(`effect-fal: ${text}\n`)
  }
  process.exitCode = Cli.exitCode(exit)
})
