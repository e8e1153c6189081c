/**
 * The `effect-fal` process as a user runs it: what it prints on stdout and stderr, and its exit
 * code. Each configuration mistake is one line on stderr naming what is wrong and how to fix it,
 * never the key; `--help` piped has no terminal styles; `--version` is the package's version.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import { fileURLToPath } from "node:url"

const packageDir = fileURLToPath(new URL("..", import.meta.url))
const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))
const manifest: { readonly version: string } = JSON.parse(
  Fs.readFileSync(fileURLToPath(new URL("../package.json", import.meta.url)), "utf8")
)

const SECRET = "bin-test-key-id:bin-test-key-secret-do-not-print"

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the bin (tsx as a loader) with exactly `env` besides PATH: no FAL_* of the caller's leaks in. */
const effectFal = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.async<Ran>((resume) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", bin, ...args],
      { cwd: packageDir, env: { PATH: process.env.PATH ?? "", ...env }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resume(
          Effect.succeed({
            code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
            stdout,
            stderr
          })
        )
    )
    return Effect.sync(() => void child.kill())
  })

const purge = ["purge", "-e", "fal-ai/echo", "--older-than", "1d"]

describe("effect-fal (bin)", () => {
  it.live(
    "every configuration mistake is one line on stderr and exit 2; the key is never printed",
    () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, Record<string, string>, string]> = [
          [
            [...purge, "--api-url", "notaurl"],
            { FAL_KEY: SECRET },
            "effect-fal: --api-url: \"notaurl\" is not an absolute URL: give the Platform API base URL, e.g. https://api.fal.ai/v1\n"
          ],
          [
            purge,
            { FAL_KEY: SECRET, FAL_API_URL: "notaurl" },
            "effect-fal: FAL_API_URL: \"notaurl\" is not an absolute URL: set it to an absolute http(s) URL such as https://api.fal.ai/v1, or unset it\n"
          ],
          [
            purge,
            { FAL_KEY: SECRET, FAL_ADMIN_KEY: "" },
            "effect-fal: FAL_ADMIN_KEY is empty: set it to a fal key with ADMIN scope, or unset it to use FAL_KEY\n"
          ]
        ]
        const results = yield* Effect.forEach(cases, ([args, env]) => effectFal(args, env), {
          concurrency: "unbounded"
        })
        results.forEach((result, i) => {
          const [args, , expected] = cases[i]
          assert.strictEqual(result.stderr, expected, args.join(" "))
          assert.strictEqual(result.code, 2, args.join(" "))
          assert.strictEqual(result.stdout, "")
          assert.notInclude(result.stderr + result.stdout, SECRET)
        })
      }),
    60_000
  )

  it.live("--help piped is plain text; --version is the package's version on one line", () =>
    Effect.gen(function*() {
      const [help, version] = yield* Effect.all([effectFal(["purge", "--help"]), effectFal(["--version"])], {
        concurrency: "unbounded"
      })
      assert.strictEqual(help.code, 0)
      assert.include(help.stdout, "--older-than")
      assert.notInclude(help.stdout, "\u001b[")
      assert.strictEqual(version.code, 0)
      assert.strictEqual(version.stdout, `${manifest.version}\n`)
    }), 60_000)
})
