/**
 * The link model: latency and throughput on the Effect clock (TestClock in memory), loss on
 * upload PUTs, its parsing, the `fal-emulator` flags, and aborted requests in the log over a
 * real socket.
 */
import { FalEmulator, FalPlatform, Link } from "@effect-fal/testing"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Command from "@effect/platform/Command"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Fiber, Option, Stream, TestClock } from "effect"
import { fileURLToPath } from "node:url"

const MB = 1_000_000
const authorization = `Key ${FalPlatform.defaultKeys.user}`

/** A POST of `size` bytes of JSON to the echo model, as a fiber. */
const post = (url: string, size: number) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    client.execute(
      HttpClientRequest.post(url).pipe(
        HttpClientRequest.setHeader("authorization", authorization),
        HttpClientRequest.setBody(HttpBody.text(JSON.stringify({ p: "x".repeat(size - 8) }), "application/json"))
      )
    )).pipe(Effect.flatMap((response) => response.text), Effect.scoped)

describe("Link", () => {
  it.effect("a 1 MB body at 1 MB/s takes 1 s of TestClock time, plus the latency", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(post("https://fal.run/fal-ai/echo", MB))
      yield* TestClock.adjust("999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "done before the body's second")
      yield* TestClock.adjust("50 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "done before the latency")
      yield* TestClock.adjust("1 millis")
      const answer = yield* Fiber.join(fiber)
      assert.strictEqual(answer.length, MB)
    }).pipe(Effect.provide(FalPlatform.layerClient({ link: { latency: "50 millis", throughput: MB } }))))

  it.effect("a body over 1 MB, read as a stream into one buffer, also takes its bytes' time to the millisecond", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(post("https://fal.run/fal-ai/echo", 4 * MB))
      yield* TestClock.adjust("4049 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "done before the body's time and the latency")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Fiber.join(fiber)).length, 4 * MB)
    }).pipe(Effect.provide(FalPlatform.layerClient({ link: { latency: "50 millis", throughput: MB } }))))

  it.effect("without a throughput, only the latency: each request waits it once", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(post("https://fal.run/fal-ai/echo", 10 * MB))
      yield* TestClock.adjust("199 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Fiber.join(fiber)).length, 10 * MB)
    }).pipe(Effect.provide(FalPlatform.layerClient({ link: { latency: "200 millis" } }))))

  it.effect("loss hits only PUTs to the upload base; a loss of 1 resets every one", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const client = yield* HttpClient.HttpClient
      const put = yield* client.execute(
        HttpClientRequest.put("https://upload.fal.media/upload/nope/1?token=x").pipe(
          HttpClientRequest.bodyUint8Array(new Uint8Array(10))
        )
      ).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(put._tag, "RequestError")
      assert.strictEqual(yield* post("https://fal.run/fal-ai/echo", 100).pipe(Effect.map((text) => text.length)), 100)
      const log = yield* platform.httpLog
      assert.deepStrictEqual(log.map((entry) => [entry.base, entry.status]), [["upload", "reset"], ["run", 200]])
    }).pipe(Effect.provide(FalPlatform.layerClient({ link: { loss: 1 } }))))

  it("parses command-line settings and refuses bad ones, naming them", () => {
    const link = Either.getOrThrow(Link.parse({ latency: "50ms", throughput: "20MB/s", loss: "0.05", seed: "7" }))
    assert.deepStrictEqual(Duration.toMillis(Duration.decode(link.latency ?? 0)), 50)
    assert.strictEqual(link.throughput, 20e6)
    assert.strictEqual(link.loss, 0.05)
    assert.strictEqual(link.seed, 7)
    assert.strictEqual(Either.getOrThrow(Link.parseThroughput("512KiB/s")), 512 * 1024)
    assert.strictEqual(Either.getOrThrow(Link.parseThroughput("1000")), 1000)
    assert.strictEqual(Duration.toMillis(Either.getOrThrow(Link.parseDuration("1.5s"))), 1500)
    for (
      const [flags, setting] of [
        [{ latency: "soon" }, "latency"],
        [{ throughput: "fast" }, "throughput"],
        [{ throughput: "0MB/s" }, "throughput"],
        [{ loss: "1.5" }, "loss"],
        [{ loss: "" }, "loss"],
        [{ seed: "x" }, "seed"]
      ] as const
    ) {
      const invalid = Link.parse(flags)
      assert.isTrue(Either.isLeft(invalid))
      if (Either.isLeft(invalid)) assert.strictEqual(invalid.left.setting, setting)
    }
    assert.strictEqual(
      Link.describe(link),
      "latency 50ms, 20 MB/s per connection, 5% of upload PUTs lost (seed 7)"
    )
  })

  it.live(
    "over loopback, a body is read at the throughput: 2 MB at 4 MB/s takes about half a second",
    () =>
      Effect.gen(function*() {
        const { urls } = yield* FalEmulator.FalEmulator
        const start = Date.now()
        yield* post(`${urls.run}/fal-ai/echo`, 2 * MB)
        const took = Date.now() - start
        assert.isAtLeast(took, 450, `${took} ms`)
      }).pipe(
        Effect.provide(FalEmulator.layerClient({ config: { link: { throughput: 4 * MB } } }))
      ),
    30_000
  )

  it.live(
    "over loopback, a request whose client gives up while its body is read is logged as aborted",
    () =>
      Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const { urls } = yield* FalEmulator.FalEmulator
        // 64 MB at 4 MB/s: 16 s to read; what the kernel buffered before the abort drains first
        const client = yield* HttpClient.HttpClient
        const body = new TextEncoder().encode(JSON.stringify({ p: "x".repeat(64 * MB) }))
        const fiber = yield* Effect.fork(
          Effect.scoped(client.execute(
            HttpClientRequest.post(`${urls.run}/fal-ai/echo`).pipe(
              HttpClientRequest.setHeader("authorization", authorization),
              HttpClientRequest.bodyUint8Array(body, "application/json")
            )
          ))
        )
        yield* Effect.sleep("2 seconds")
        yield* Fiber.interrupt(fiber)
        const entry = yield* platform.awaitHttpLog((entry) => entry.status === "aborted")
        assert.strictEqual(entry.base, "run")
      }).pipe(
        Effect.provide(FalEmulator.layerClient({ config: { link: { throughput: 4 * MB } } }))
      ),
    30_000
  )
})

describe("fal-emulator link flags", () => {
  const root = fileURLToPath(new URL("../../../", import.meta.url))
  const run = (...args: ReadonlyArray<string>) =>
    Effect.scoped(Effect.gen(function*() {
      const process = yield* Command.start(
        Command.make("node", "--import", "tsx", `${root}packages/testing/src/bin.ts`, ...args).pipe(
          Command.workingDirectory(root)
        )
      )
      const [stdout, stderr] = yield* Effect.all([
        process.stdout.pipe(
          Stream.decodeText(),
          Stream.splitLines,
          Stream.takeUntil((l) => l === "Ctrl-C to stop."),
          Stream.runCollect
        ),
        process.stderr.pipe(Stream.decodeText(), Stream.runCollect)
      ], { concurrency: 2 })
      return { stdout: Chunk.toReadonlyArray(stdout), stderr: Chunk.join(stderr, "") }
    })).pipe(Effect.provide(NodeContext.layer))

  it.live("the banner names the link; a bad flag is one line on stderr", () =>
    Effect.gen(function*() {
      const bad = yield* run("--loss", "2")
      assert.include(bad.stderr, "--loss 2: must be from 0 to 1")
      const help = yield* run("--help")
      const text = help.stdout.join("\n")
      for (const flag of ["--latency", "--throughput", "--loss", "--seed"]) assert.include(text, flag)
    }), 60_000)
})
