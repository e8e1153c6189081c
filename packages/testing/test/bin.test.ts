/**
 * The standalone emulator stops cleanly: SIGINT (Ctrl-C) and SIGTERM interrupt it through
 * `NodeRuntime.runMain`, its scope closes the server, and the process exits 0: the source bin,
 * and the compiled one the package publishes (`build/esm/bin.js`, after `pnpm build`). (`pnpm
 * emulator` itself still reports 130/143 on a Ctrl-C: pnpm receives the terminal's signal too and
 * exits with it, whatever its script returned.)
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Command from "@effect/platform/Command"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const source = `${root}packages/testing/src/bin.ts`
const compiled = `${root}packages/testing/build/esm/bin.js`

const stopWith = (bin: string, signal: "SIGINT" | "SIGTERM") =>
  Effect.scoped(
    Effect.gen(function*() {
      // One process (tsx as a loader, not its CLI): the CLI's parent process answers a signal that
      // reaches it after its child exited with 128 + n, a race of the wrapper, not of the bin. The
      // compiled bin needs the loader too, in this repository: the workspace packages it imports
      // export their TypeScript sources.
      const process = yield* Command.start(
        Command.make("node", "--import", "tsx", bin, "--port", "0").pipe(Command.workingDirectory(root))
      )
      // The banner's last line says it serves.
      const lines = yield* process.stdout.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.takeUntil((line) => line === "Ctrl-C to stop."),
        Stream.runCollect
      )
      assert.isTrue(Array.from(lines).some((line) => line.startsWith("  queue: http://127.0.0.1:")))
      yield* process.kill(signal)
      return yield* process.exitCode
    })
  ).pipe(Effect.provide(NodeContext.layer))

const signals = ["SIGINT", "SIGTERM"] as const

/** About 20 s per signal on a loaded 2-core machine: opt in with EMULATOR_SIGNALS=1. */
describe.skipIf(process.env.EMULATOR_SIGNALS === undefined)("fal-emulator (bin)", () => {
  for (const signal of signals) {
    it.live(
      `exits 0 on ${signal}`,
      () => Effect.map(stopWith(source, signal), (code) => assert.strictEqual(code, 0)),
      60_000
    )
  }
})

describe.skipIf(process.env.EMULATOR_SIGNALS === undefined || !existsSync(compiled))(
  "fal-emulator (compiled bin)",
  () => {
    for (const signal of signals) {
      it.live(
        `exits 0 on ${signal}`,
        () => Effect.map(stopWith(compiled, signal), (code) => assert.strictEqual(code, 0)),
        60_000
      )
    }
  }
)
