/**
 * The loopback emulator for the HTTP benchmark, in its own process so that the client process
 * measures only the client. 64 runners per demo model, so the emulator is not the queue.
 * Prints one line of JSON with the base URLs, then serves until killed. Each line read on stdin
 * is answered with one line of JSON: the process's CPU time so far (`process.cpuUsage()`, µs),
 * so that the benchmark can tell the emulator's CPU per request apart from the client's.
 */
import { FalEmulator } from "@effect-fal/testing"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { createInterface } from "node:readline"

createInterface({ input: process.stdin }).on("line", () => console.log(JSON.stringify(process.cpuUsage())))

NodeRuntime.runMain(
  Effect.gen(function*() {
    const { urls } = yield* FalEmulator.FalEmulator
    yield* Console.log(JSON.stringify(urls))
    return yield* Effect.never
  }).pipe(Effect.provide(FalEmulator.layer({ demoRunners: 64 })))
)
