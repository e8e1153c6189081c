/**
 * Uploads over a slow link: a 200 MB file through the loopback emulator with its link model
 * (50 ms latency per request, 20 MB/s per connection; then also 5% of upload PUTs lost),
 * effect-fal's `Storage.upload` (parts in flight at once, 6 by default) against
 * `@fal-ai/client`'s `storage.upload` (10 MB parts, one at a time), side by side in one run:
 * `tsx scripts/bench/upload-link.ts` (`pnpm bench` runs it as its "Upload over a slow link"
 * section). `BENCH_LINK_MB` sets another size.
 *
 * This process serves the emulator, started as `fal-emulator --latency 50ms --throughput 20MB/s
 * [--loss 0.05]` starts it (`Link.parse` of the same texts, `FalEmulator.layer({ link })`), one
 * per upload so that each stored file can be compared byte for byte with the file sent and
 * dropped after; one untimed upload first warms the emulator's process up (its code paths). Each
 * client uploads in its own child process (`tsx scripts/bench/upload-link.ts
 * client <name> <base> <file>`), whose RSS before the upload and peak RSS (`maxRSS`) show what the
 * client holds. Gates: effect-fal at least 4x faster than the official client without loss and
 * 3x with it, its peak RSS over its baseline within 1.5x of concurrency x part size (from a
 * `Stream`, the source that holds its parts), every part sent at most 3 times.
 */
import { FalClient, Storage } from "@effect-fal/api"
import { FalEmulator, FalPlatform, Link } from "@effect-fal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { createFalClient } from "@fal-ai/client"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { execFile } from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type Gate, isMain, printGates, runAlone, stamp, times } from "./report.js"

const megabytes = Number(process.env.BENCH_LINK_MB ?? "200")
if (!Number.isInteger(megabytes) || megabytes <= 0) throw new Error("BENCH_LINK_MB must be a positive integer")
const size = megabytes * 1024 * 1024
const flags = { latency: "50ms", throughput: "20MB/s" } as const
const lossRate = "0.05"

const clients = ["effect-fal (Stream)", "effect-fal (Blob)", "@fal-ai/client (Blob)"] as const
type ClientName = typeof clients[number]

interface ChildResult {
  readonly client: ClientName
  readonly seconds: number
  readonly error: string | undefined
  readonly baseRssMiB: number
  readonly maxRssMiB: number
  /** CPU seconds (user + system) the client's process spent on the upload. */
  readonly cpuSeconds: number
}

interface Run extends ChildResult {
  readonly loss: boolean
  /** The most times one part was PUT, as the emulator logged. */
  readonly maxAttempts: number
  /** Upload PUTs the link lost. */
  readonly lost: number
  /** The stored file equals the file sent, byte for byte. */
  readonly intact: boolean
  /** CPU seconds (user + system) the emulator's process spent during the upload. */
  readonly emulatorCpuSeconds: number
}

const key = FalPlatform.defaultKeys.user

/** One client, in this (child) process: one upload of the file; prints a JSON line. */
const client = async (name: ClientName, base: string, file: string): Promise<void> => {
  const baseRssMiB = process.memoryUsage().rss / 1024 / 1024
  let upload: () => Promise<string>
  let dispose = async () => {}
  if (name === "@fal-ai/client (Blob)") {
    const fal = createFalClient({
      credentials: key,
      requestMiddleware: async (request) => ({ ...request, url: request.url.replace("https://rest.fal.ai", base) })
    })
    upload = async () => fal.storage.upload(await Fs.openAsBlob(file))
  } else {
    const runtime = ManagedRuntime.make(
      FalClient.layer({ key: Redacted.make(key), urls: { storage: base } }).pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      )
    )
    dispose = () => runtime.dispose()
    upload = name === "effect-fal (Blob)"
      ? async () => (await runtime.runPromise(Storage.upload(await Fs.openAsBlob(file)))).url
      : async () => {
        const stream = Stream.fromAsyncIterable(
          Fs.createReadStream(file), // 64 KiB chunks, the default: short-lived garbage
          (cause) => new Error(String(cause))
          // a `Buffer` is a `Uint8Array`: handed on as it is
        ).pipe(Stream.map((chunk) => chunk as Buffer))
        return (await runtime.runPromise(Storage.upload({ stream, size }))).url
      }
  }
  const start = performance.now()
  const cpu = process.cpuUsage()
  let error: string | undefined
  try {
    await upload()
  } catch (cause) {
    error = String(cause).slice(0, 200)
  }
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  await dispose()
  const result: ChildResult = {
    client: name,
    seconds,
    error,
    baseRssMiB,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    cpuSeconds: (used.user + used.system) / 1e6
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

/** An emulator with the link model, as `fal-emulator` builds it from its flags, for one upload. */
const withEmulator = <A>(
  loss: boolean,
  use: (base: string) => Promise<A>,
  sent: Uint8Array
): Promise<
  A & {
    readonly maxAttempts: number
    readonly lost: number
    readonly intact: boolean
    readonly emulatorCpuSeconds: number
  }
> => {
  const link = Either.getOrThrow(Link.parse(loss ? { ...flags, loss: lossRate } : flags))
  return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(FalEmulator.layer({ link }))
    const { urls } = Context.get(context, FalEmulator.FalEmulator)
    const platform = Context.get(context, FalPlatform.FalPlatform)
    const cpu = process.cpuUsage()
    const result = yield* Effect.promise(() => use(urls.storage))
    const used = process.cpuUsage(cpu)
    const log = yield* platform.httpLog
    const attempts = new Map<string, number>()
    for (const entry of log) {
      if (entry.base === "upload" && entry.method === "PUT") {
        attempts.set(entry.path, (attempts.get(entry.path) ?? 0) + 1)
      }
    }
    const files = yield* platform.files
    const intact = files.length === 1 && Buffer.compare(files[0].content, sent) === 0
    return {
      ...result,
      maxAttempts: Math.max(0, ...attempts.values()),
      lost: log.filter((entry) => entry.base === "upload" && entry.status === "reset").length,
      intact,
      emulatorCpuSeconds: (used.user + used.system) / 1e6
    }
  })))
}

export const uploadLinkSection = async (): Promise<
  { readonly markdown: string; readonly gates: ReadonlyArray<Gate> }
> => {
  const started = stamp("npx tsx --import ./scripts/bench/built-register.mjs scripts/bench/upload-link.ts")
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-fal-upload-link-"))
  const file = Path.join(dir, "upload.bin")
  const block = Crypto.randomBytes(1024 * 1024 + 7)
  const out = Fs.openSync(file, "w")
  for (let written = 0; written < size; written += block.length) {
    Fs.writeSync(out, block, 0, Math.min(block.length, size - written))
  }
  Fs.closeSync(out)
  const sent = Fs.readFileSync(file)
  const tsx = Path.join(import.meta.dirname, "..", "..", "node_modules", ".bin", "tsx")
  // through tsx's command, not forked from this server: Linux carries a process's peak RSS over
  // fork and exec, so a child forked from here (holding the stored files) would report ours
  const child = (name: ClientName, base: string) =>
    new Promise<ChildResult>((resolve, reject) =>
      execFile(
        tsx,
        // the compiled packages: `built-register.mjs` passes itself on in NODE_OPTIONS
        [import.meta.filename, "client", name, base, file],
        { encoding: "utf8", maxBuffer: 1024 * 1024 },
        (error, stdout, stderr) =>
          error === null
            ? resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "") as ChildResult)
            : reject(new Error(`${error.message}\n${stderr}`))
      )
    )
  const runs: Array<Run> = []
  try {
    // untimed: the emulator's process compiles its upload path on its first upload; without this
    // the first client timed (effect-fal's) would pay for it
    console.error("upload over the link: warming the emulator up…")
    await withEmulator(false, (base) => child("effect-fal (Blob)", base), sent)
    for (const loss of [false, true]) {
      for (const name of clients) {
        console.error(`upload over the link: ${name}${loss ? ", 5% loss" : ""}…`)
        const result = await withEmulator(loss, (base) => child(name, base), sent)
        runs.push({ ...result, loss })
      }
    }
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
  const find = (name: ClientName, loss: boolean) => runs.find((run) => run.client === name && run.loss === loss)!
  const partsHeld = Storage.defaultConcurrency * Storage.partSize / 1024 / 1024
  const gates: Array<Gate> = []
  for (const loss of [false, true]) {
    const official = find("@fal-ai/client (Blob)", loss)
    const bound = loss ? 3 : 4
    for (const name of ["effect-fal (Stream)", "effect-fal (Blob)"] as const) {
      const ours = find(name, loss)
      const ratio = official.error === undefined ? official.seconds / ours.seconds : Infinity
      gates.push({
        name: `upload over a slow link${loss ? " with 5% loss" : ""}: ${name} vs @fal-ai/client`,
        measured: official.error === undefined
          ? `${times(ratio)} faster (${ours.seconds.toFixed(2)} s vs ${official.seconds.toFixed(2)} s)`
          : `${ours.seconds.toFixed(2)} s; @fal-ai/client failed: ${official.error}`,
        bound: `>= ${bound}x, the file intact`,
        pass: ours.error === undefined && ours.intact && ratio >= bound
      })
    }
  }
  const stream = find("effect-fal (Stream)", false)
  gates.push({
    name: "upload over a slow link: effect-fal (Stream) peak RSS over its baseline",
    measured: `${(stream.maxRssMiB - stream.baseRssMiB).toFixed(0)} MiB`,
    bound: `<= 1.5 x ${Storage.defaultConcurrency} parts x 10 MiB = ${(1.5 * partsHeld).toFixed(0)} MiB`,
    pass: stream.maxRssMiB - stream.baseRssMiB <= 1.5 * partsHeld
  })
  for (const name of ["effect-fal (Stream)", "effect-fal (Blob)"] as const) {
    const lossy = find(name, true)
    gates.push({
      name: `upload over a slow link with 5% loss: ${name}, times a part was sent`,
      measured: `at most ${lossy.maxAttempts} (${lossy.lost} PUTs lost)`,
      bound: "<= 3",
      pass: lossy.error === undefined && lossy.intact && lossy.maxAttempts <= 3
    })
  }
  printGates(gates)
  const lines = [
    "## Upload over a slow link",
    "",
    started,
    "",
    `Method: each client uploads the same file-backed ${megabytes} MB file to a loopback emulator with the`,
    `link model of \`fal-emulator --latency ${flags.latency} --throughput ${flags.throughput}\` (and \`--loss ${lossRate}\`:`,
    "5% of upload PUTs reset after their body was read, seed 1): every request body read at 20 MB/s",
    "(per connection), 50 ms added to every request. One emulator per upload; it compares the stored",
    "file with the file sent, byte for byte, and counts the PUTs of each part. Each client runs in its",
    "own child process: RSS before is its RSS once loaded, peak RSS its `maxRSS`. effect-fal sends 6",
    "parts at once (the default) from a file `Stream` of declared size or a file-backed `Blob`, each",
    "read into at most 6 part buffers; @fal-ai/client sends its 10 MB parts one after another. The",
    "emulator keeps a part's bytes as they arrive and a multipart file as its parts (joined when the",
    "bench reads it back, after the clock stopped). One untimed upload first warms the emulator's",
    "process up. One run each.",
    "",
    "| client | loss | seconds | MB/s | file intact | PUTs lost | most sends of a part | RSS before (MiB) | peak RSS (MiB) | peak - before (MiB) | client CPU s | emulator CPU s | error |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  ]
  for (const run of runs) {
    lines.push(
      `| ${run.client} | ${run.loss ? "5%" : "none"} | ${run.seconds.toFixed(2)} | ${
        (size / 1e6 / run.seconds).toFixed(1)
      } | ${run.intact ? "yes" : "**no**"} | ${run.lost} | ${run.maxAttempts} | ${run.baseRssMiB.toFixed(0)} | ${
        run.maxRssMiB.toFixed(0)
      } | ${(run.maxRssMiB - run.baseRssMiB).toFixed(0)} | ${run.cpuSeconds.toFixed(1)} | ${
        run.emulatorCpuSeconds.toFixed(1)
      } | ${run.error ?? ""} |`
    )
  }
  lines.push(
    "",
    "Gates:",
    "",
    ...gates.map((g) => `- ${g.pass ? "PASS" : "**FAIL**"} ${g.name}: ${g.measured} (bound: ${g.bound})`),
    ""
  )
  return { markdown: lines.join("\n"), gates }
}

if (isMain(import.meta.filename)) {
  const [mode, ...args] = process.argv.slice(2)
  if (mode === "client") {
    const [name, base, file] = args
    await client(name as ClientName, base, file)
  } else {
    runAlone(uploadLinkSection)
  }
}
