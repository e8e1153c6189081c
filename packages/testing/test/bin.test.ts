/**
 * The standalone emulator stops cleanly: SIGINT (Ctrl-C) and SIGTERM interrupt it through
 * `NodeRuntime.runMain`, its scope closes the server, and the process exits 0: the source bin,
 * and the compiled one the package publishes (`build/esm/bin.js`, after `pnpm build`). (`pnpm
 * emulator` itself still reports 130/143 on a Ctrl-C: pnpm receives the terminal's signal too and
 * exits with it, whatever its script returned.) And `--version` is the package's own version.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Command from "@effect/platform/Command"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { existsSync, readFileSync } from "node:fs"
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

const manifest: { readonly version: string } = JSON.parse(
  readFileSync(fileURLToPath(new URL("../package.json", import.meta.url)), "utf8")
)

// The two signals run at once (the suite is concurrent): one emulator start's time in all.
describe("fal-emulator (bin)", () => {
  for (const signal of signals) {
    it.live(
      `exits 0 on ${signal}`,
      () => Effect.map(stopWith(source, signal), (code) => assert.strictEqual(code, 0)),
      60_000
    )
  }

  it.live("--version is the package's version, on one line", () =>
    Effect.gen(function*() {
      const output = yield* Command.string(
        Command.make("node", "--import", "tsx", source, "--version").pipe(Command.workingDirectory(root))
      )
      assert.strictEqual(output, `${manifest.version}\n`)
    }).pipe(Effect.provide(NodeContext.layer)), 60_000)
})

// The compiled bin exists after `pnpm build`; without it these are reported as skipped, by name.
const built = existsSync(compiled)
describe("fal-emulator (compiled bin, build/esm/bin.js)", () => {
  for (const signal of signals) {
    it.live.skipIf(!built)(
      built ? `exits 0 on ${signal}` : `exits 0 on ${signal} (skipped: run pnpm build first)`,
      () => Effect.map(stopWith(compiled, signal), (code) => assert.strictEqual(code, 0)),
      60_000
    )
  }
})
