/**
 * `effect-fal upload` in-process against the loopback emulator: real files, real HTTP (undici),
 * the storage base from `FAL_STORAGE_URL`; what the CDN holds afterwards is compared byte for byte.
 */
import { Cli } from "@effect-fal/cli"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Console, Effect, Layer, Option } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const KEY = FalPlatform.defaultKeys.user

interface Result {
  readonly code: number
  readonly out: ReadonlyArray<string>
  readonly err: ReadonlyArray<string>
  readonly redraws: ReadonlyArray<string>
}

const text = (args: ReadonlyArray<unknown>) => args.map(String).join(" ")

/** Every base on the emulator, so that nothing can leave the test; the key from `FAL_KEY`. */
const envOf = (urls: FalPlatform.Urls, key: string = KEY): Record<string, string> => ({
  FAL_KEY: key,
  FAL_RUN_URL: urls.run,
  FAL_QUEUE_URL: urls.queue,
  FAL_API_URL: urls.api,
  FAL_REST_URL: urls.rest,
  FAL_STORAGE_URL: urls.storage
})

/** Runs `effect-fal <args>` in-process with undici as the transport to the emulator in context. */
const cli = (
  args: ReadonlyArray<string>,
  options: {
    readonly key?: string
    readonly interactive?: boolean
    /** Changes the process's file system, e.g. to report another size than the file has. */
    readonly fileSystem?: (fs: FileSystem.FileSystem) => FileSystem.FileSystem
  } = {}
) =>
  Effect.gen(function*() {
    const { urls } = yield* FalEmulator.FalEmulator
    const out: Array<string> = []
    const err: Array<string> = []
    const redraws: Array<string> = []
    const fileSystem = options.fileSystem
    const layer = Layer.mergeAll(
      fileSystem === undefined ? NodeContext.layer : Layer.provideMerge(
        Layer.effect(FileSystem.FileSystem, Effect.map(FileSystem.FileSystem, fileSystem)),
        NodeContext.layer
      ),
      NodeHttpClient.layerUndici,
      Layer.succeed(Cli.Terminal, {
        interactive: options.interactive === true,
        redraw: (line) => Effect.sync(() => void redraws.push(line))
      })
    )
    const exit = yield* Console.consoleWith((current) =>
      Cli.main(["node", "effect-fal", ...args], { version: "0.0.0-test" }).pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(envOf(urls, options.key))))),
        Console.withConsole({
          ...current,
          log: (...xs) => Effect.sync(() => void out.push(text(xs))),
          error: (...xs) => Effect.sync(() => void err.push(text(xs)))
        }),
        Effect.exit
      )
    )
    const result: Result = { code: Cli.exitCode(exit), out, err, redraws }
    // whatever the outcome, the key is in no output
    const key = options.key ?? KEY
    if (key !== "") assert.notInclude([...out, ...err, ...redraws].join("\n"), key)
    return result
  })

/** Bytes that differ at every offset, so that a misplaced part or a dropped byte shows. */
const bytesOf = (size: number): Uint8Array => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i += 4096) {
    out.set(Crypto.createHash("sha256").update(String(i)).digest().subarray(0, Math.min(32, size - i)), i)
  }
  for (let i = 0; i < size; i++) out[i] ^= i & 0xff
  return out
}

/** A fresh directory, removed with the test's scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-fal-upload-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const writeFile = (dir: string, name: string, bytes: Uint8Array) => {
  const path = Path.join(dir, name)
  Fs.writeFileSync(path, bytes)
  return path
}

/** The CDN file at `url`, which must exist, and its bytes compared with `expected`. */
const assertStored = (url: string, expected: Uint8Array) =>
  Effect.gen(function*() {
    const platform = yield* FalPlatform.FalPlatform
    const file = yield* platform.file(url)
    assert.isTrue(Option.isSome(file), `${url} is not on the CDN`)
    if (Option.isNone(file)) return
    assert.strictEqual(file.value.content.byteLength, expected.byteLength)
    assert.isTrue(Buffer.from(file.value.content).equals(Buffer.from(expected)), "the stored bytes differ")
    return file.value
  })

const progressPattern = /^[\d.]+ (B|kB|MB) \/ [\d.]+ (B|kB|MB) {2}\d{1,3}% {2}[\d.]+ MB\/s {2}ETA \S+/

describe("effect-fal upload", () => {
  it.live("prints only the emulator's CDN URL on stdout; the CDN holds the file's bytes; plain progress on stderr", () =>
    Effect.gen(function*() {
      const { urls } = yield* FalEmulator.FalEmulator
      const platform = yield* FalPlatform.FalPlatform
      const dir = yield* tempDir
      const bytes = bytesOf(5 * 1024 * 1024 + 123)
      const path = writeFile(dir, "Cat.PNG", bytes)
      const result = yield* cli(["upload", path])
      assert.strictEqual(result.code, 0, result.err.join("\n"))
      assert.strictEqual(result.out.length, 1)
      const url = result.out[0]
      assert.isTrue(url.startsWith(`${urls.cdn}/`), url)
      const file = yield* assertStored(url, bytes)
      assert.strictEqual(file?.contentType, "image/png")
      assert.strictEqual(file?.kind, "input")
      // not a terminal: a few plain lines (one per 10% at most), the last at 100%; no redraws
      assert.deepStrictEqual(result.redraws, [])
      assert.isAtLeast(result.err.length, 1)
      assert.isAtMost(result.err.length, 11)
      assert.isTrue(result.err.every((line) => progressPattern.test(line)), result.err.join("\n"))
      assert.match(result.err[result.err.length - 1], /^5\.2 MB \/ 5\.2 MB {2}100% .*ETA 0s$/)
      // the initiate named the file by its base name; the PUT carried no key
      const log = yield* platform.httpLog
      const initiate = log.find((entry) => entry.base === "storage")
      assert.deepStrictEqual(JSON.parse(initiate?.body ?? "{}"), { content_type: "image/png", file_name: "Cat.PNG" })
      assert.strictEqual(initiate?.auth, "user")
      assert.isTrue(
        log.filter((entry) => entry.base === "upload").every((e) => e.headers["authorization"] === undefined)
      )
    }).pipe(Effect.scoped, Effect.provide(FalEmulator.layer())))

  it.live(
    "a 25 MB file goes in parts with --concurrency; --json, --file-name, --content-type and --expires-in",
    () =>
      Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const dir = yield* tempDir
        const bytes = bytesOf(25 * 1000 * 1000)
        const path = writeFile(dir, "clip.bin", bytes)
        const result = yield* cli([
          "upload",
          "--json",
          "--concurrency",
          "2",
          "--file-name",
          "clip.mp4",
          "--content-type",
          "video/mp4",
          "--expires-in",
          "1h",
          path
        ])
        assert.strictEqual(result.code, 0, result.err.join("\n"))
        assert.strictEqual(result.out.length, 1)
        const printed = JSON.parse(result.out[0])
        assert.deepStrictEqual(Object.keys(printed), ["url", "contentType", "fileName", "size", "parts"])
        assert.deepStrictEqual({ ...printed, url: undefined }, {
          url: undefined,
          contentType: "video/mp4",
          fileName: "clip.mp4",
          size: bytes.byteLength,
          parts: 3
        })
        const file = yield* assertStored(printed.url, bytes)
        assert.strictEqual(file?.contentType, "video/mp4")
        assert.strictEqual((file?.expiresAt ?? 0) - (file?.createdAt ?? 0), 3_600_000)
        const initiate = (yield* platform.httpLog).find((entry) => entry.base === "storage")
        assert.strictEqual(initiate?.path, "/storage/upload/initiate-multipart")
        // a line per acknowledged 10 MiB part, each in a tenth of its own
        assert.deepStrictEqual(result.err.map((line) => line.split("  ")[1]), ["41%", "83%", "100%"])
      }).pipe(Effect.scoped, Effect.provide(FalEmulator.layer())),
    30_000
  )

  it.live("--expires-in never keeps the file for good; extensions guess common media types", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const bytes = bytesOf(1000)
      const path = writeFile(dir, "notes.txt", bytes)
      const result = yield* cli(["upload", "--expires-in", "never", path])
      assert.strictEqual(result.code, 0, result.err.join("\n"))
      const file = yield* assertStored(result.out[0], bytes)
      assert.strictEqual(file?.contentType, "text/plain")
      assert.strictEqual(file?.expiresAt, undefined)
      assert.deepStrictEqual(result.err, ["1.0 kB / 1.0 kB  100%  " + result.err[0].split("  ")[2] + "  ETA 0s"])
    }).pipe(Effect.scoped, Effect.provide(FalEmulator.layer())))

  it.live("on a terminal the progress line is redrawn in place and ended by a newline; stderr stays empty", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const bytes = bytesOf(4 * 1024 * 1024)
      const path = writeFile(dir, "song.mp3", bytes)
      const result = yield* cli(["upload", path], { interactive: true })
      assert.strictEqual(result.code, 0, result.err.join("\n"))
      yield* assertStored(result.out[0], bytes)
      assert.deepStrictEqual(result.err, [])
      // a 4 MiB single PUT is sent in 1 MiB slices: a redraw each, and the last one again with its newline
      assert.strictEqual(result.redraws.length, 5)
      assert.isTrue(result.redraws.every((line) => progressPattern.test(line)), result.redraws.join("\n"))
      assert.deepStrictEqual(result.redraws.map((line) => line.split("  ")[1]), ["25%", "50%", "75%", "100%", "100%"])
      assert.isTrue(result.redraws[4].endsWith("\n"))
      assert.isFalse(result.redraws[3].endsWith("\n"))
    }).pipe(Effect.scoped, Effect.provide(FalEmulator.layer())))

  it.live("bad input is one line and exit 2, and nothing reaches the emulator", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const dir = yield* tempDir
      const file = writeFile(dir, "ok.png", bytesOf(10))
      const empty = writeFile(dir, "empty.png", new Uint8Array(0))
      const missing = Path.join(dir, "missing.png")
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["upload", missing], `effect-fal: ${missing}: no such file`],
        [["upload", dir], `effect-fal: ${dir}: is a directory`],
        [["upload", empty], `effect-fal: ${empty}: is empty`],
        [["upload", "--concurrency", "0", file], "--concurrency: must be in 1..32, not 0"],
        [["upload", "--concurrency", "33", file], "--concurrency: must be in 1..32, not 33"],
        [["upload", "--concurrency", "two", file], "two"],
        [["upload", "--expires-in", "soon", file], "--expires-in: \"soon\" is not a duration"],
        [["upload", "--expires-in", "-1h", file], "--expires-in: the duration must not be negative"],
        [["upload", "--content-type", "image/png\r\nX-Injected: 1", file], "Content-Type: must be a media type"],
        [["upload", "--expires-in", "1500 millis", file], "X-Fal-Object-Lifecycle"],
        [["upload"], "path"]
      ]
      for (const [args, expected] of cases) {
        const result = yield* cli(args)
        assert.strictEqual(result.code, 2, `${args.join(" ")}: ${result.err.join("\n")}`)
        assert.deepStrictEqual(result.out, [], args.join(" "))
        assert.strictEqual(result.err.length, 1, `${args.join(" ")}: ${result.err.join("\n")}`)
        assert.include(result.err[0], expected, args.join(" "))
        assert.notInclude(result.err[0], "\r")
      }
      const noKey = yield* cli(["upload", file], { key: "" })
      assert.strictEqual(noKey.code, 2)
      assert.deepStrictEqual(noKey.err, [
        "effect-fal: FAL_KEY is empty: set it to your fal key (key-id:key-secret), or unset it"
      ])
      assert.deepStrictEqual(yield* platform.httpLog, [])
    }).pipe(Effect.scoped, Effect.provide(FalEmulator.layer())))

  it.live("fal refusing the key is one line and exit 1; the key is never printed", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const dir = yield* tempDir
      const path = writeFile(dir, "a.png", bytesOf(10))
      const key = "0000-not-a-key:secret-that-must-not-show"
      const result = yield* cli(["upload", path], { key })
      assert.strictEqual(result.code, 1)
      assert.deepStrictEqual(result.out, [])
      assert.strictEqual(result.err.length, 1, result.err.join("\n"))
      assert.match(result.err[0], /^effect-fal: .*401/)
      const log = yield* platform.httpLog
      assert.deepStrictEqual(log.map((entry) => [entry.base, entry.auth]), [["storage", "unknown"]])
      assert.deepStrictEqual(yield* platform.files, [])
    }).pipe(Effect.scoped, Effect.provide(FalEmulator.layer())))

  it.live(
    "a file that changes size while it is read is one line and exit 1; fal stores nothing",
    () =>
      Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const dir = yield* tempDir
        // the file as a concurrent writer leaves it: other than its size when it was checked
        const off = (by: number) => (fs: FileSystem.FileSystem): FileSystem.FileSystem => ({
          ...fs,
          stat: (path) =>
            Effect.map(fs.stat(path), (info) => ({ ...info, size: FileSystem.Size(info.size + BigInt(by)) }))
        })
        const cases: ReadonlyArray<readonly [number, number]> = [[1000, 1], [1000, -1], [15 * 1024 * 1024, -1]]
        for (const [size, by] of cases) {
          const path = writeFile(dir, `grows-${size}-${by}.bin`, bytesOf(size))
          const result = yield* cli(["upload", path], { fileSystem: off(by) })
          assert.strictEqual(result.code, 1, `${size} ${by}: ${result.err.join("\n")}`)
          assert.deepStrictEqual(result.out, [])
          const failure = result.err.filter((line) => line.startsWith("effect-fal:"))
          assert.deepStrictEqual(failure, [
            `effect-fal: ${path} changed while it was uploaded (it held ${size + by} bytes when it was checked); ` +
            "nothing was stored: upload it again once nothing writes to it"
          ])
        }
        assert.deepStrictEqual(yield* platform.files, [])
        // the large one was initiated (its parts are read as they are sent), but never completed
        assert.isFalse((yield* platform.httpLog).some((entry) => entry.path.endsWith("/complete")))
      }).pipe(Effect.scoped, Effect.provide(FalEmulator.layer())),
    30_000
  )

  it.live("--help lists upload and its flags", () =>
    Effect.gen(function*() {
      const root = yield* cli(["--help"])
      assert.strictEqual(root.code, 0)
      assert.include(root.out.join("\n"), "upload")
      const help = yield* cli(["upload", "--help"])
      assert.strictEqual(help.code, 0)
      for (const flag of ["--content-type", "--file-name", "--concurrency", "--expires-in", "--json", "<path>"]) {
        assert.include(help.out.join("\n"), flag)
      }
    }).pipe(Effect.provide(FalEmulator.layer())))
})

describe("the upload's rendering", () => {
  it("uploadLine: bytes of the total, percent, MB/s and ETA", () => {
    assert.strictEqual(
      Cli.uploadLine({ loaded: 10e6, total: 40e6, elapsedMs: 2000 }),
      "10.0 MB / 40.0 MB  25%  5.0 MB/s  ETA 6s"
    )
    assert.strictEqual(
      Cli.uploadLine({ loaded: 0, total: 2_500_000_000, elapsedMs: 0 }),
      "0 B / 2.50 GB  0%  0.0 MB/s  ETA ?"
    )
    assert.strictEqual(
      Cli.uploadLine({ loaded: 1500, total: 1500, elapsedMs: 0 }),
      "1.5 kB / 1.5 kB  100%  0.0 MB/s  ETA 0s"
    )
    // rounded down: 100% only once every byte is sent
    assert.include(Cli.uploadLine({ loaded: 999_999, total: 1_000_000, elapsedMs: 1000 }), " 99% ")
    assert.strictEqual(
      Cli.uploadLine({ loaded: 90e6, total: 100e6, elapsedMs: 60_000 }),
      "90.0 MB / 100.0 MB  90%  1.5 MB/s  ETA 7s"
    )
    assert.strictEqual(Cli.uploadLine({ loaded: 3e6, total: undefined, elapsedMs: 1000 }), "3.0 MB sent  3.0 MB/s")
  })

  it("tenthOf: off a terminal, a line only when the tenth goes up, at most 11 per file", () => {
    const total = 123_457
    let last = -1
    let lines = 0
    for (let loaded = 0; loaded <= total; loaded += 97) {
      const tenth = Cli.tenthOf(loaded, total)
      if (tenth > last) {
        last = tenth
        lines++
      }
    }
    if (Cli.tenthOf(total, total) > last) lines++
    assert.strictEqual(lines, 11)
    assert.strictEqual(Cli.tenthOf(total - 1, total), 9)
    assert.strictEqual(Cli.tenthOf(total, total), 10)
    assert.strictEqual(Cli.tenthOf(5, undefined), 0)
  })

  it("contentTypeOf: common media by extension, any case; else application/octet-stream", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["a.png", "image/png"],
      ["dir/b.JPG", "image/jpeg"],
      ["c.jpeg", "image/jpeg"],
      ["d.webp", "image/webp"],
      ["e.gif", "image/gif"],
      ["f.mp4", "video/mp4"],
      ["g.mov", "video/quicktime"],
      ["h.webm", "video/webm"],
      ["i.mp3", "audio/mpeg"],
      ["j.wav", "audio/wav"],
      ["k.ogg", "audio/ogg"],
      ["l.json", "application/json"],
      ["m.txt", "text/plain"],
      ["n.tar.gz", "application/octet-stream"],
      ["README", "application/octet-stream"],
      [".png", "application/octet-stream"],
      ["x.constructor", "application/octet-stream"]
    ]
    for (const [name, type] of cases) assert.strictEqual(Cli.contentTypeOf(name), type, name)
  })
})
