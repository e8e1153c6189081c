import { Cli } from "@effect-fal/cli"
import { NodeContext } from "@effect/platform-node"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Console, Effect, Either, Exit, Layer, TestClock } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as History from "../../api/test/utils/history.js"

interface Captured {
  readonly out: Array<string>
  readonly err: Array<string>
  readonly redraws: Array<string>
}

const text = (args: ReadonlyArray<unknown>) => args.map(String).join(" ")

/** Runs `effect-fal <args>` in-process against the harness; returns the exit code and the output. */
const cli = (
  harness: History.Harness,
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly interactive?: boolean } = {}
) =>
  Effect.gen(function*() {
    const captured: Captured = { out: [], err: [], redraws: [] }
    const env = options.env ?? { FAL_ADMIN_KEY: History.ADMIN_KEY, FAL_API_URL: History.apiUrl }
    const layer = Layer.mergeAll(
      NodeContext.layer,
      Layer.succeed(HttpClient.HttpClient, History.client(harness)),
      Layer.succeed(Cli.Terminal, {
        interactive: options.interactive === true,
        redraw: (line) => Effect.sync(() => void captured.redraws.push(line))
      })
    )
    const exit = yield* Console.consoleWith((current) =>
      Cli.main(["node", "effect-fal", ...args], { version: "0.0.0-test" }).pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
        Console.withConsole({
          ...current,
          log: (...xs) => Effect.sync(() => void captured.out.push(text(xs))),
          error: (...xs) => Effect.sync(() => void captured.err.push(text(xs)))
        }),
        Effect.exit
      )
    )
    return { code: Cli.exitCode(exit), exit, ...captured }
  })

const before = "2026-12-01"

describe("effect-fal", () => {
  it.effect("--help on the command and on every subcommand", () =>
    Effect.gen(function*() {
      const harness = History.make([])
      const root = yield* cli(harness, ["--help"])
      assert.strictEqual(root.code, 0)
      assert.include(root.out.join("\n"), "purge")
      assert.include(root.out.join("\n"), "requests")
      assert.include(root.out.join("\n"), "upload")
      const purge = yield* cli(harness, ["purge", "--help"])
      assert.strictEqual(purge.code, 0)
      for (
        const flag of [
          "--endpoint",
          "--older-than",
          "--before",
          "--status",
          "--concurrency",
          "--dry-run",
          "--checkpoint",
          "--api-url"
        ]
      ) {
        assert.include(purge.out.join("\n"), flag)
      }
      const requests = yield* cli(harness, ["requests", "--help"])
      assert.include(requests.out.join("\n"), "--since")
      assert.include(requests.out.join("\n"), "--json")
      assert.deepStrictEqual(harness.requests, [])
    }))

  it.effect("purge deletes every request before the cut-off, prints a summary and exits 0", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(150))
      const result = yield* cli(harness, ["purge", "--endpoint", History.endpoint, "--before", before])
      assert.strictEqual(result.code, 0)
      assert.strictEqual(new Set(harness.deleteLog.map((e) => e.requestId)).size, 150)
      const summary = result.out[result.out.length - 1]
      assert.include(summary, "listed 150")
      assert.include(summary, "deleted 150")
      assert.include(summary, "files removed 300")
      assert.include(summary, "failures 0")
      // piped: plain progress lines, one per page, no redraws
      assert.isTrue(result.out.some((line) => line.startsWith("listed 100")))
      assert.deepStrictEqual(result.redraws, [])
    }))

  it.effect("on a terminal the progress line is redrawn with listed, deleted, failed, rate and ETA", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(20))
      const result = yield* cli(harness, ["purge", "-e", History.endpoint, "--before", before], { interactive: true })
      assert.strictEqual(result.code, 0)
      assert.isAbove(result.redraws.length, 20)
      assert.match(result.redraws[result.redraws.length - 1], /listed 20 {2}deleted 20 .*failed 0 .*req\/s {2}ETA /)
    }))

  it.effect("exits 1 when a request could not be purged, naming it; the key is never printed", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(10), { failing: new Set([History.idOf(4)]) })
      const result = yield* cli(harness, ["purge", "--endpoint", History.endpoint, "--before", before])
      assert.strictEqual(result.code, 1)
      assert.isTrue(Exit.isFailure(result.exit))
      assert.isTrue(result.err.some((line) => line.includes(History.idOf(4))))
      assert.include(result.out[result.out.length - 1], "failures 1")
      const all = [...result.out, ...result.err].join("\n")
      assert.notInclude(all, History.ADMIN_KEY)
    }))

  it.effect("--dry-run deletes nothing and lists what would be deleted", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(30))
      const result = yield* cli(harness, ["purge", "--endpoint", History.endpoint, "--before", before, "--dry-run"])
      assert.strictEqual(result.code, 0)
      assert.deepStrictEqual(harness.deleteLog, [])
      assert.strictEqual(result.out.filter((line) => line.startsWith("would delete ")).length, 30)
      assert.include(result.out[result.out.length - 1], "would delete 30")
    }))

  it.effect("bad input exits 2 before anything is sent", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(5))
      const cases: ReadonlyArray<ReadonlyArray<string>> = [
        ["purge", "--endpoint", History.endpoint, "--older-than", "-7d"],
        ["purge", "--endpoint", History.endpoint, "--older-than", "soon"],
        ["purge", "--endpoint", History.endpoint, "--before", "not-a-date"],
        ["purge", "--endpoint", History.endpoint, "--before", before, "--status", "weird"],
        ["purge", "--endpoint", History.endpoint, "--before", before, "--concurrency", "0"],
        ["purge", "--endpoint", "no-slash", "--before", before],
        ["purge", "--before", before],
        ["requests", "--endpoint", History.endpoint, "--since", "later"]
      ]
      for (const args of cases) {
        const result = yield* cli(harness, args)
        assert.strictEqual(result.code, 2, args.join(" "))
      }
      const noKey = yield* cli(harness, ["purge", "--endpoint", History.endpoint, "--before", before], {
        env: { FAL_API_URL: History.apiUrl }
      })
      assert.strictEqual(noKey.code, 2)
      assert.deepStrictEqual(harness.requests, [])
    }))

  it.effect("requests lists the history, as text or JSON lines, through --api-url", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(120))
      const env = { FAL_KEY: History.KEY }
      const json = yield* cli(harness, [
        "requests",
        "--endpoint",
        History.endpoint,
        "--since",
        "2026-10-01",
        "--status",
        "error",
        "--json",
        "--api-url",
        History.apiUrl
      ], { env })
      assert.strictEqual(json.code, 0)
      assert.strictEqual(json.out.length, 12)
      const first = JSON.parse(json.out[0])
      assert.strictEqual(first.status_code, 500)
      assert.strictEqual(first.endpoint_id, History.endpoint)
      const plain = yield* cli(harness, ["requests", "-e", History.endpoint, "--since", "2026-10-01"])
      assert.strictEqual(plain.out.length, 120)
      assert.match(plain.out[0], /^[0-9a-f-]{36}\tfal-ai\/flux\/dev\t2026-11-01T01:59:00\.000Z\t500\t5\.00s$/)
    }))

  it.effect("a bad --older-than is one message, without a complaint about --before", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(5))
      const result = yield* cli(harness, ["purge", "-e", History.endpoint, "--older-than", "7"])
      assert.strictEqual(result.code, 2)
      assert.strictEqual(result.err.length, 1, result.err.join("\n"))
      assert.include(result.err[0], "--older-than")
      assert.include(result.err[0], "7d")
      assert.notInclude(result.err.join("\n"), "--before")
      assert.deepStrictEqual(harness.requests, [])
    }))

  it.effect("two cut-offs together are an error, and a bad --before is never ignored", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(5))
      const both = yield* cli(harness, ["purge", "-e", History.endpoint, "--older-than", "1d", "--before", before])
      assert.strictEqual(both.code, 2)
      assert.deepStrictEqual(both.err, [
        "effect-fal: --older-than and --before were both given: give one cut-off, either --older-than 7d or --before 2026-11-01"
      ])
      const badBefore = yield* cli(harness, [
        "purge",
        "-e",
        History.endpoint,
        "--older-than",
        "1d",
        "--before",
        "yesterday"
      ])
      assert.strictEqual(badBefore.code, 2)
      assert.strictEqual(badBefore.err.length, 1)
      assert.include(badBefore.err[0], "--before: 'yesterday' is not a date")
      const none = yield* cli(harness, ["purge", "-e", History.endpoint])
      assert.strictEqual(none.code, 2)
      assert.deepStrictEqual(none.err, [
        "effect-fal: no cut-off: give --older-than (e.g. 7d) or --before (e.g. 2026-11-01)"
      ])
      assert.deepStrictEqual(harness.requests, [])
    }))

  it.effect("--older-than takes Effect's durations and the short forms", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 11, 1))
      for (const age of ["7 days", "1 day", "7d", "36h", "90m", "1w", "0s", "1.5 hours"]) {
        const harness = History.make(History.fixture(3))
        const result = yield* cli(harness, ["purge", "-e", History.endpoint, "--older-than", age, "--dry-run"])
        assert.strictEqual(result.code, 0, `${age}: ${result.err.join("\n")}`)
      }
      assert.deepStrictEqual(Cli.parseAge("older-than", "7d"), Cli.parseAge("older-than", "7 days"))
      for (const bad of ["7", "soon", "-7d", "-7 days", "d", "7 parsecs"]) {
        assert.isTrue(Either.isLeft(Cli.parseAge("older-than", bad)), bad)
      }
    }))

  it.effect("configuration mistakes are one line each, naming the variable or flag, exit 2, the key never", () =>
    Effect.gen(function*() {
      const harness = History.make(History.fixture(5))
      const args = ["purge", "-e", History.endpoint, "--before", before]
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, Record<string, string>, string]> = [
        [[...args, "--api-url", "notaurl"], { FAL_KEY: History.KEY }, "--api-url: \"notaurl\" is not an absolute URL"],
        [args, { FAL_KEY: History.KEY, FAL_API_URL: "notaurl" }, "FAL_API_URL: \"notaurl\" is not an absolute URL"],
        [args, { FAL_KEY: History.KEY, FAL_ADMIN_KEY: "" }, "FAL_ADMIN_KEY is empty"],
        [args, { FAL_KEY: "", FAL_API_URL: History.apiUrl }, "FAL_KEY is empty"],
        [args, { FAL_KEY: History.KEY, FAL_QUEUE_URL: "ftp://x" }, "FAL_QUEUE_URL: \"ftp://x\" is not an http(s) URL"],
        [args, { FAL_API_URL: History.apiUrl }, "no key: set FAL_ADMIN_KEY"]
      ]
      for (const [argv, env, expected] of cases) {
        const result = yield* cli(harness, argv, { env })
        assert.strictEqual(result.code, 2, expected)
        assert.strictEqual(result.err.length, 1, result.err.join("\n"))
        assert.isTrue(result.err[0].startsWith(`effect-fal: ${expected}`), result.err[0])
        assert.notInclude([...result.out, ...result.err].join("\n"), History.KEY)
      }
      assert.deepStrictEqual(harness.requests, [])
    }))

  it.effect("a re-run with the same checkpoint says the checkpoint covered the endpoint", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-fal-cli-"))
      const checkpoint = Path.join(dir, "purge.jsonl")
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const harness = History.make(History.fixture(20))
      const args = ["purge", "-e", History.endpoint, "--before", before, "--checkpoint", checkpoint]
      const first = yield* cli(harness, args)
      assert.strictEqual(first.code, 0)
      const firstSummary = first.out[first.out.length - 1]
      assert.include(firstSummary, "deleted 20")
      assert.include(firstSummary, `checkpoint ${checkpoint}: a fresh start`)
      const requestsBefore = harness.requests.length
      const second = yield* cli(harness, args)
      assert.strictEqual(second.code, 0)
      const summary = second.out[second.out.length - 1]
      assert.include(summary, "listed 0")
      assert.include(
        summary,
        `checkpoint ${checkpoint}: already completed by an earlier run, not listed again: ${History.endpoint}`
      )
      assert.strictEqual(harness.requests.length, requestsBefore)
    }).pipe(Effect.scoped))

  it.effect("a checkpoint held by another running purge is one line naming the lock and what to do; nothing is sent", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-fal-cli-"))
      const checkpoint = Path.join(dir, "purge.jsonl")
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      // this very process holds it: alive on this host, so never taken over as stale
      Fs.writeFileSync(
        `${checkpoint}.lock`,
        JSON.stringify({ pid: process.pid, host: Os.hostname(), since: new Date().toISOString() })
      )
      const harness = History.make(History.fixture(5))
      const result = yield* cli(harness, [
        "purge",
        "-e",
        History.endpoint,
        "--before",
        before,
        "--checkpoint",
        checkpoint
      ])
      assert.strictEqual(result.code, 1)
      assert.strictEqual(result.err.length, 1)
      assert.include(result.err[0], `lock file ${checkpoint}.lock`)
      assert.include(result.err[0], `process ${process.pid}`)
      assert.include(result.err[0], "--wait-for-lock")
      assert.deepStrictEqual(harness.requests, [])
    }).pipe(Effect.scoped))
})
