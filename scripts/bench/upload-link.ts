/**
 * Uploads over a slow link: a 200 MB file through the loopback emulator with its link model
 * (50 ms latency per request, 20 MB/s per connection; then also 5% of upload PUTs lost),
 * effect-fal's `Storage.upload` (parts in flight at once, 6 by default) against
 * `@fal-ai/client`'s `storage.upload` (10 MB parts, one at a time), side by side in one run:
 * `tsx scripts/bench/upload-link.ts` (`pnpm bench` runs it as its "Upload over a slow link"
 * section). `BENCH_LINK_MB` sets another size.
 *
 * Each upload has an emulator of its own, in a process of its own (`tsx
 * scripts/bench/upload-link.ts emulator <loss> <file>`), started as `fal-emulator --latency 50ms
 * --throughput 20MB/s [--loss 0.05]` starts it (`Link.parse` of the same texts,
 * `FalEmulator.layer({ link })`). It takes one untimed upload of three parts first (its upload
 * path compiled before the timed one), prints its storage base, and once told the URL of the
 * file uploaded compares that file with the file sent, byte for byte, and prints what it logged.
 * Its process runs glibc's malloc on transparent huge pages: the emulator keeps every byte it is
 * sent, and on the machines this runs on a first touch of a 4 KiB page costs microseconds, which
 * made the emulator, not the link, set the pace of parallel parts. Each client uploads in its
 * own child process (`tsx scripts/bench/upload-link.ts client <name> <base> <file>`), with the
 * default environment; its RSS once ready (its client built, one 10-byte upload made) and its
 * peak RSS (`maxRSS`) show what the upload holds. Gates: effect-fal at least 4x faster than the
 * official client without loss and 3x with it, its peak RSS over its baseline within 1.5x of
 * concurrency x part size (from a `Stream`, the source that holds its parts), every part sent at
 * most 3 times.
 */
import { FalClient, Storage } from "@effect-fal/api"
import { FalEmulator, FalPlatform, Link } from "@effect-fal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { createFalClient } from "@fal-ai/client"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import { once } from "node:events"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { createInterface } from "node:readline"
import { type Gate, isMain, jsonLines, printGates, runAlone, stamp, startChild, times } from "./report.js"

const megabytes = Number(process.env.BENCH_LINK_MB ?? "200")
if (!Number.isInteger(megabytes) || megabytes <= 0) throw new Error("BENCH_LINK_MB must be a positive integer")
const size = megabytes * 1024 * 1024
const flags = { latency: "50ms", throughput: "20MB/s" } as const
const lossRate = "0.05"

const clients = ["effect-fal (Stream)", "effect-fal (Blob)", "@fal-ai/client (Blob)"] as const
type ClientName = typeof clients[number]

interface ChildResult {
  readonly client: ClientName
  /** The file's CDN URL, as the upload answered it. */
  readonly url: string | undefined
  readonly seconds: number
  readonly error: string | undefined
  readonly baseRssMiB: number
  readonly maxRssMiB: number
  /** CPU seconds (user + system) the client's process spent on the upload. */
  readonly cpuSeconds: number
}

/** What the emulator saw of one upload, as its process prints it. */
interface EmulatorReport {
  /** The most times one part was PUT, as the emulator logged. */
  readonly maxAttempts: number
  /** Upload PUTs the link lost. */
  readonly lost: number
  /** The stored file equals the file sent, byte for byte. */
  readonly intact: boolean
  /** CPU seconds (user + system) the emulator's process spent during the upload. */
  readonly emulatorCpuSeconds: number
}

interface Run extends ChildResult, EmulatorReport {
  readonly loss: boolean
}

const key = FalPlatform.defaultKeys.user

/** One client, in this (child) process: one upload of the file; prints a JSON line. */
const client = async (name: ClientName, base: string, file: string): Promise<void> => {
  let upload: (data: Blob | "file") => Promise<string>
  let dispose = async () => {}
  if (name === "@fal-ai/client (Blob)") {
    const fal = createFalClient({
      credentials: key,
      requestMiddleware: async (request) => ({ ...request, url: request.url.replace("https://rest.fal.ai", base) })
    })
    upload = async (data) => fal.storage.upload(data === "file" ? await Fs.openAsBlob(file) : data)
  } else {
    const runtime = ManagedRuntime.make(
      FalClient.layer({ key: Redacted.make(key), urls: { storage: base } }).pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      )
    )
    dispose = () => runtime.dispose()
    upload = async (data) => {
      if (data !== "file") return (await runtime.runPromise(Storage.upload(data))).url
      if (name === "effect-fal (Blob)") return (await runtime.runPromise(Storage.upload(await Fs.openAsBlob(file)))).url
      // as docs/storage.md reads a file: Node's stream through `NodeStream.fromReadable`
      const stream = NodeStream.fromReadable(() => Fs.createReadStream(file), (cause) => new Error(String(cause)))
      const upload = Storage.upload({ stream, size })
      return (await runtime.runPromise(upload)).url
    }
  }
  // the baseline is the client ready to upload: built, its code loaded by one small upload
  await upload(new Blob([new Uint8Array(10)]))
  const baseRssMiB = process.memoryUsage().rss / 1024 / 1024
  const start = performance.now()
  const cpu = process.cpuUsage()
  let error: string | undefined
  let url: string | undefined
  try {
    url = await upload("file")
  } catch (cause) {
    error = String(cause).slice(0, 200)
  }
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  await dispose()
  const result: ChildResult = {
    client: name,
    url,
    seconds,
    error,
    baseRssMiB,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    cpuSeconds: (used.user + used.system) / 1e6
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

/** The parts of the untimed upload an emulator takes first. */
const warmUpParts = 3

/**
 * An emulator with the link model, as `fal-emulator` builds it from its flags, in this (child)
 * process: one untimed upload from this process first, then it prints `{"base"}` and, for the
 * URL read on its input, an {@link EmulatorReport} of the uploads since.
 */
const emulator = (loss: boolean, file: string): Promise<void> => {
  const link = Either.getOrThrow(Link.parse(loss ? { ...flags, loss: lossRate } : flags))
  return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(FalEmulator.layer({ link }))
    const { urls } = Context.get(context, FalEmulator.FalEmulator)
    const platform = Context.get(context, FalPlatform.FalPlatform)
    yield* Storage.upload(Crypto.randomBytes(warmUpParts * Storage.partSize)).pipe(
      Effect.provide(FalClient.layer({ key: Redacted.make(key), urls: { storage: urls.storage } })),
      Effect.provide(NodeHttpClient.layerUndici),
      Effect.orDie
    )
    const logged = (yield* platform.httpLog).length
    const cpu = process.cpuUsage()
    process.stdout.write(`${JSON.stringify({ base: urls.storage })}\n`)
    const [url] = yield* Effect.promise(() => once(createInterface({ input: process.stdin }), "line"))
    const used = process.cpuUsage(cpu)
    const log = (yield* platform.httpLog).slice(logged)
    const attempts = new Map<string, number>()
    for (const entry of log) {
      if (entry.base === "upload" && entry.method === "PUT") {
        attempts.set(entry.path, (attempts.get(entry.path) ?? 0) + 1)
      }
    }
    const stored = yield* platform.file(String(url))
    const report: EmulatorReport = {
      maxAttempts: Math.max(0, ...attempts.values()),
      lost: log.filter((entry) => entry.base === "upload" && entry.status === "reset").length,
      intact: Option.isSome(stored) && Buffer.compare(stored.value.content, Fs.readFileSync(file)) === 0,
      emulatorCpuSeconds: (used.user + used.system) / 1e6
    }
    process.stdout.write(`${JSON.stringify(report)}\n`)
  })))
}

/** One upload: an emulator of its own (its process on huge pages), then the client against it. */
const measure = async (loss: boolean, name: ClientName, file: string): Promise<Run> => {
  const { child, lines, line } = await startChild(import.meta.filename, ["emulator", loss ? "1" : "0", file], {
    env: { ...process.env, GLIBC_TUNABLES: "glibc.malloc.hugetlb=1" },
    stdin: "pipe"
  })
  try {
    const { base } = JSON.parse(line) as { readonly base: string }
    const result = runClient(name, base, file)
    const reported = once(lines, "line")
    child.stdin!.end(`${result.url ?? ""}\n`)
    const [report] = await reported
    return { ...result, ...JSON.parse(String(report)) as EmulatorReport, loss }
  } finally {
    child.kill()
  }
}

/**
 * A client's upload in a process of its own, in the default environment (the emulator's tuning
 * is its own); the compiled packages: `built-register.mjs` passes itself on in NODE_OPTIONS.
 */
const runClient = (name: ClientName, base: string, file: string): ChildResult => {
  const env = { ...process.env }
  delete env.GLIBC_TUNABLES
  const [result] = jsonLines<ChildResult>(import.meta.filename, ["client", name, base, file], { env }).slice(-1)
  return result
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
  const runs: Array<Run> = []
  try {
    for (const loss of [false, true]) {
      for (const name of clients) {
        console.error(`upload over the link: ${name}${loss ? ", 5% loss" : ""}…`)
        runs.push(await measure(loss, name, file))
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
    "(per connection), 50 ms added to every request. Each upload has an emulator of its own, in a",
    "process of its own, which first takes one untimed upload of 3 parts (its code compiled), then",
    "compares the stored file with the file sent, byte for byte, and counts the PUTs of each part.",
    "The emulator's process runs glibc's malloc on transparent huge pages",
    "(`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`): it keeps every byte it is sent, and on this machine",
    "first touches of fresh 4 KiB pages cost it more CPU than the rest of its work, enough to make",
    "the emulator, not the link, set the pace of six parts at once. Each client runs in a child",
    "process of its own, with the default environment: RSS before is its RSS once ready (client",
    "built, one 10-byte upload made), peak RSS its `maxRSS`. effect-fal sends 6 parts at once (the",
    "default) from Node's stream of the file through `NodeStream.fromReadable` (64 KiB chunks, as",
    "docs/storage.md reads a file) with its size declared, or from a file-backed `Blob`, into at",
    "most 6 part buffers, each part",
    "streamed from its buffer as it fills; @fal-ai/client sends its 10 MB parts one after another.",
    "One run each.",
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
  } else if (mode === "emulator") {
    const [loss, file] = args
    await emulator(loss === "1", file)
  } else {
    runAlone(uploadLinkSection)
  }
}
