/**
 * Upload benchmark: a 95 MB file (multipart: 10 MB parts) through the loopback emulator,
 * effect-fal's `Storage.upload` against `@fal-ai/client`'s `storage.upload`, in one run:
 * `tsx scripts/bench/upload.ts [runs]` (`pnpm bench` runs it once per client as its upload section).
 *
 * This process serves the emulator (the files land in its CDN store); each client uploads in
 * its own child process (`tsx scripts/bench/upload.ts client <name> <base> <file> <runs>`), from
 * a file-backed `Blob` (`fs.openAsBlob`) or, for effect-fal, also a file `Stream`, so that its
 * peak RSS shows what the client holds, not the file or the server. Prints a Markdown table.
 */
import { FalClient, Storage } from "@effect-fal/api"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { createFalClient } from "@fal-ai/client"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { execFile } from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { stamp } from "./report.js"

/** 95 MB by default; `BENCH_UPLOAD_MB` sets another size (the children inherit it) to show memory stays flat. */
const megabytes = Number(process.env.BENCH_UPLOAD_MB ?? "95")
if (!Number.isInteger(megabytes) || megabytes <= 0) throw new Error(`BENCH_UPLOAD_MB must be a positive integer`)
const size = megabytes * 1024 * 1024
const clients = ["effect-fal (Blob)", "effect-fal (Stream)", "@fal-ai/client (Blob)"] as const
type ClientName = typeof clients[number]

interface Result {
  readonly client: ClientName
  readonly seconds: ReadonlyArray<number>
  readonly baseRssMiB: number
  readonly maxRssMiB: number
  /** The most `process.memoryUsage().arrayBuffers` seen: bytes in ArrayBuffers, garbage not yet collected included. */
  readonly maxArrayBuffersMiB: number
}

const key = FalPlatform.defaultKeys.user

/**
 * One client, in this (child) process: uploads the file `runs` times, prints a JSON line. Run
 * with `--expose-gc`, it collects garbage before each sample (every 200 ms), so that the
 * ArrayBuffers it sees are the ones the client still holds (its timing is then meaningless).
 */
const client = async (name: ClientName, base: string, file: string, runs: number): Promise<void> => {
  const baseRssMiB = process.memoryUsage().rss / 1024 / 1024
  const gc = (globalThis as { readonly gc?: () => void }).gc
  let maxArrayBuffers = 0
  const sample = () => {
    gc?.()
    maxArrayBuffers = Math.max(maxArrayBuffers, process.memoryUsage().arrayBuffers)
  }
  const sampler = setInterval(sample, gc === undefined ? 20 : 200)
  const seconds: Array<number> = []
  let upload: () => Promise<string>
  let dispose = async () => {}
  if (name === "@fal-ai/client (Blob)") {
    const fal = createFalClient({
      credentials: key,
      requestMiddleware: async (request) => ({
        ...request,
        url: request.url.replace("https://rest.fal.ai", base)
      })
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
          Fs.createReadStream(file, { highWaterMark: 1024 * 1024 }),
          (cause) => new Error(String(cause))
          // a `Buffer` is a `Uint8Array`: handed on as it is, not copied
        ).pipe(Stream.map((chunk) => chunk as Buffer))
        return (await runtime.runPromise(Storage.upload({ stream, size }))).url
      }
  }
  for (let run = 0; run < runs; run++) {
    const start = performance.now()
    const url = await upload()
    seconds.push((performance.now() - start) / 1000)
    if (!url.startsWith(base.replace(/\/storage$/, "/cdn/"))) throw new Error(`unexpected file URL ${url}`)
  }
  await dispose()
  clearInterval(sampler)
  sample()
  const result: Result = {
    client: name,
    seconds,
    baseRssMiB,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    maxArrayBuffersMiB: maxArrayBuffers / 1024 / 1024
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

/** The loopback emulator (its storage, upload and CDN bases), for as long as `use` runs. */
const withServer = <A>(use: (base: string, files: () => Promise<ReadonlyArray<string>>) => Promise<A>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(FalEmulator.layer())
    const { urls } = Context.get(context, FalEmulator.FalEmulator)
    const platform = Context.get(context, FalPlatform.FalPlatform)
    const check = async () => {
      const files = await Effect.runPromise(platform.files)
      for (const file of files) {
        if (file.kind !== "input" || file.content.byteLength !== size) {
          throw new Error(`${file.url} is not ${size} bytes`)
        }
      }
      return files.map((file) => file.url)
    }
    return yield* Effect.promise(() => use(urls.storage, check))
  })))

const main = async (runs: number) => {
  const started = stamp(`npx tsx --import ./scripts/bench/built-register.mjs scripts/bench/upload.ts ${runs}`)
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-fal-upload-"))
  const file = Path.join(dir, "upload.bin")
  const block = Crypto.randomBytes(1024 * 1024 + 7)
  const out = Fs.openSync(file, "w")
  for (let written = 0; written < size; written += block.length) {
    Fs.writeSync(out, block, 0, Math.min(block.length, size - written))
  }
  Fs.closeSync(out)
  const tsx = Path.join(import.meta.dirname, "..", "..", "node_modules", ".bin", "tsx")
  // Asynchronous: this process serves the uploads while the child runs. Through tsx's command,
  // not `node` forked from here: Linux carries a process's peak RSS over fork and exec, so a
  // child forked from this server (holding the uploaded files) would report the server's.
  const child = (name: ClientName, base: string, runs: number, nodeFlags: ReadonlyArray<string>) =>
    new Promise<Result>((resolve, reject) =>
      execFile(
        tsx,
        [
          ...nodeFlags,
          import.meta.filename,
          "client",
          name,
          base,
          file,
          String(runs)
        ],
        { encoding: "utf8", maxBuffer: 1024 * 1024 },
        (error, stdout, stderr) =>
          error === null
            ? resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "") as Result)
            : reject(new Error(`${error.message}\n${stderr}`))
      )
    )
  try {
    const results = await withServer(async (base, check) => {
      const all: Array<Result & { readonly liveMiB: number }> = []
      for (const name of clients) {
        const timed = await child(name, base, runs, [])
        // A second pass, one upload, collecting garbage before each sample: what the client holds.
        const live = await child(name, base, 1, ["--expose-gc"])
        all.push({ ...timed, liveMiB: live.maxArrayBuffersMiB })
      }
      const stored = await check()
      if (stored.length !== clients.length * (runs + 1)) throw new Error(`${stored.length} files stored`)
      return all
    })
    const mib = size / 1024 / 1024
    const lines = [
      "## Upload",
      "",
      started,
      "",
      `Method: each client uploads the same file-backed ${megabytes} MB file to the loopback`,
      "emulator (initiate on its storage base, 10 MB parts on its pre-signed upload base, complete) from",
      "its own child process; peak RSS is that process's `maxRSS`, so it shows what the client holds while",
      "uploading, not the file or the server. Peak ArrayBuffers is the most `process.memoryUsage().arrayBuffers`",
      "seen (sampled every 20 ms), garbage not yet collected included; live ArrayBuffers the same from a",
      "second upload under `--expose-gc`, collecting garbage before each sample (every 200 ms): the bytes",
      "the client itself holds. The emulator checks every stored file's size.",
      "",
      `${megabytes} MB (${size} bytes) upload, multipart (10 MB parts), loopback, ${runs} run(s) per client.`,
      "",
      "| client | median s | MiB/s | RSS before (MiB) | peak RSS (MiB) | peak - before (MiB) | peak ArrayBuffers (MiB) | live ArrayBuffers (MiB) |",
      "|---|---|---|---|---|---|---|---|"
    ]
    for (const r of results) {
      const sorted = [...r.seconds].sort((a, b) => a - b)
      const median = sorted[Math.floor(sorted.length / 2)]
      lines.push(
        `| ${r.client} | ${median.toFixed(2)} | ${(mib / median).toFixed(0)} | ${r.baseRssMiB.toFixed(0)} | ${
          r.maxRssMiB.toFixed(0)
        } | ${(r.maxRssMiB - r.baseRssMiB).toFixed(0)} | ${r.maxArrayBuffersMiB.toFixed(0)} | ${r.liveMiB.toFixed(0)} |`
      )
    }
    process.stdout.write(`${lines.join("\n")}\n`)
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

const [mode, ...args] = process.argv.slice(2)
if (mode === "client") {
  const [name, base, file, runs] = args
  await client(name as ClientName, base, file, Number(runs))
} else {
  await main(mode === undefined ? 3 : Number(mode))
}
