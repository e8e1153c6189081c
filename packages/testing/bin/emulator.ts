/**
 * The fal platform emulator as a standalone process: `pnpm emulator` (optionally `PORT=8080`).
 * Prints its base URLs and keys, serves until SIGINT.
 */
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

const port = Number(process.env.PORT ?? "0")

const program = Effect.gen(function*() {
  const { urls } = yield* FalEmulator.FalEmulator
  const platform = yield* FalPlatform.FalPlatform
  yield* Console.log(
    [
      "fal platform emulator",
      `  run:   ${urls.run}`,
      `  queue: ${urls.queue}`,
      `  api:   ${urls.api}`,
      `  rest:  ${urls.rest}`,
      `  cdn:   ${urls.cdn}`,
      `  key (API scope):   ${FalPlatform.defaultKeys.user}`,
      `  key (ADMIN scope): ${FalPlatform.defaultKeys.admin}`,
      `  models: ${(yield* platform.models).join(", ")}`,
      "",
      `  try: curl -X POST ${urls.run}/fal-ai/echo -H 'Authorization: Key ${FalPlatform.defaultKeys.user}' \\`,
      "         -H 'Content-Type: application/json' -d '{\"hello\": \"world\"}'",
      "Ctrl-C to stop."
    ].join("\n")
  )
  return yield* Effect.never
}).pipe(Effect.provide(FalEmulator.layer({ port: Number.isFinite(port) ? port : 0 })))

NodeRuntime.runMain(program)
