import { Cli } from "@effect-fal/cli"
import { NodeContext } from "@effect/platform-node"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Console, Effect, Exit, Layer } from "effect"
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
      Cli.run(["node", "effect-fal", ...args]).pipe(
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
})
