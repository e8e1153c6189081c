/**
 * `pnpm bench`: every benchmark of the project, written to docs/benchmarks.md in full (the file
 * holds nothing that this script does not write).
 *
 * 1. The header algebra, in this process (scripts/bench/headers.ts).
 * 2. Synchronous runs over loopback HTTP: the emulator or a static server in one child process,
 *    each client in a fresh child process of its own (scripts/bench/client.ts).
 * 3. The request path (scripts/bench/ratios.ts): Fal.run against @fal-ai/client and a bare Effect
 *    HttpClient call with the same per-attempt limit, in one process, interleaved rounds, medians.
 * 4. Subscribe overhead (scripts/bench/subscribe.ts): `Queue.subscribe` beyond a 300 ms model's
 *    run time, against a bare Effect program making the same three requests.
 * 5. Memory per in-flight subscription (scripts/bench/memory.ts): 1,000 subscriptions held open,
 *    effect-fal and @fal-ai/client, each in its own `node --expose-gc` process.
 * 6. The emulator itself (scripts/bench/emulator-streams.ts), uploads (scripts/bench/upload.ts;
 *    over a slow link beside fal's client, scripts/bench/upload-link.ts),
 *    and Payloads.purge of 10,000 requests (scripts/bench/purge.ts).
 *
 * The regression check prints every performance gate as PASS or FAIL (1, 3, 4, 5 and the slow-link upload measure them)
 * and the report carries them with the measured figure and the bound; `BENCH_STRICT=1` makes a
 * miss fail the run. The soak is `pnpm soak`, not part of this report.
 *
 * `BENCH_REQUESTS` and `BENCH_CONCURRENCY` change the HTTP workload (default 4000 and 64).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import * as path from "node:path"
import { createInterface } from "node:readline"
import type { ClientName } from "./bench/client.js"
import { durableSection } from "./bench/durable.js"
import { headersSection } from "./bench/headers.js"
import { memorySection } from "./bench/memory.js"
import { ratiosSection } from "./bench/ratios.js"
import { realtimeSection } from "./bench/realtime.js"
import { benchCommand, gateLine, gateTable, load, machine, now, stamp } from "./bench/report.js"
import { streamSection } from "./bench/stream.js"
import { subscribeSection } from "./bench/subscribe.js"
import { uploadLinkSection } from "./bench/upload-link.js"

const root = path.join(import.meta.dirname, "..")
const tsx = path.join(root, "node_modules", ".bin", "tsx")
const requests = Number(process.env.BENCH_REQUESTS ?? "4000")
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? "64")

interface Measured {
  readonly name: ClientName
  readonly throughput: number
  readonly p50: number
  readonly p99: number
  readonly heapUsedMiB: number
  readonly maxRssMiB: number
}

type Server = "emulator" | "static-server"

const startServer = (server: Server): Promise<{ readonly child: ChildProcess; readonly urls: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(tsx, [path.join(root, `scripts/bench/${server}.ts`)], { stdio: ["ignore", "pipe", "inherit"] })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`the ${server} exited with ${code}`)))
    createInterface({ input: child.stdout! }).once("line", (line) => resolve({ child, urls: line }))
  })

const runClient = (name: ClientName, urls: string): Measured => {
  const out = execFileSync(
    tsx,
    [path.join(root, "scripts/bench/client.ts"), name, urls, String(requests), String(concurrency)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }
  )
  return JSON.parse(out.trim().split("\n").at(-1)!) as Measured
}

const clients: ReadonlyArray<ClientName> = [
  "effect-fal/undici",
  "effect-fal/fetch",
  "effect-fal/node-http",
  "@fal-ai/client"
]

const measureAll = async (server: Server): Promise<ReadonlyArray<Measured>> => {
  const results: Array<Measured> = []
  for (const name of clients) {
    // A fresh server per client: no client inherits another's history or JIT state.
    const { child, urls } = await startServer(server)
    try {
      const measured = runClient(name, urls)
      console.log(`${server}, ${name}: ${measured.throughput.toFixed(0)} req/s`)
      results.push(measured)
    } finally {
      child.removeAllListeners("exit")
      child.kill("SIGINT")
    }
  }
  return results
}

const table = (results: ReadonlyArray<Measured>): string => {
  const official = results.find((r) => r.name === "@fal-ai/client")!
  return [
    "| client (transport) | requests/s | vs @fal-ai/client | p50 latency (ms) | p99 latency (ms) | heap used after (MiB) | peak RSS (MiB) |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...results.map((r) =>
      `| ${r.name} | ${r.throughput.toFixed(0)} | ${(r.throughput / official.throughput).toFixed(2)}x | ${
        r.p50.toFixed(1)
      } | ${r.p99.toFixed(1)} | ${r.heapUsedMiB.toFixed(1)} | ${r.maxRssMiB.toFixed(0)} |`
    )
  ].join("\n")
}

const httpSection = async (): Promise<string> => {
  const started = stamp(benchCommand)
  const emulator = await measureAll("emulator")
  const bare = await measureAll("static-server")
  return `## Synchronous runs over loopback HTTP

${started}

Method: the server runs on 127.0.0.1 in its own process, started afresh for each client; each client
runs in a fresh process of its own (\`scripts/bench/client.ts\`): ${Math.min(500, requests)} warm-up calls, then
${
    requests.toLocaleString("en-US")
  } \`fal.run("fal-ai/echo", …)\` calls with ${concurrency} in flight. effect-fal calls go through
\`Fal.run\` (model id validation, options encoding, response metadata decoding, error
classification, retry policy, per-attempt limits); \`@fal-ai/client\` is fal's official client with
its default fetch transport and a \`requestMiddleware\` that points it at the server. Server and
client share the machine's cores, so the figures compare clients with each other, not with fal.
Each table is a single run; the request path section below interleaves rounds for the gates.

### Against the emulator

\`@effect-fal/testing\` over HTTP, with 64 runners for \`fal-ai/echo\`: every request goes through
the platform model (authentication, options decoding, the request log, a runner, response
headers). The emulator's own work is most of the cost here.

${table(emulator)}

### Against a static server (the client's own cost)

A bare \`node:http\` server answering every request at once with a fixed JSON body and fal's
response headers (\`scripts/bench/static-server.ts\`), so the client's overhead decides.

${table(bare)}
`
}

const main = async () => {
  const startedAt = now()
  const loadAtStart = load()
  console.log("header algebra…")
  const headers = headersSection()
  console.log("HTTP clients…")
  const http = await httpSection()
  console.log("request path…")
  const ratios = await ratiosSection()
  console.log("subscribe overhead…")
  const subscribe = await subscribeSection()
  console.log("streaming endpoints…")
  const streaming = await streamSection()
  console.log("memory per subscription…")
  const memory = await memorySection()
  console.log("realtime…")
  const realtime = await realtimeSection()
  console.log("durable step…")
  // a section that fails (it starts PostgreSQL and cluster runners) is reported as failed instead
  // of losing every other section
  const durable = await durableSection().catch((error: unknown) => ({
    markdown: `## Durable step overhead (@effect-fal/workflow)\n\nThe section failed in this run: ${
      String(error).split("\n")[0]
    }\n`,
    gates: [{ name: "Durable step section", measured: "failed", bound: "runs to the end", pass: false }]
  }))
  console.log("emulator…")
  const emulator = execFileSync(tsx, [path.join(root, "scripts/bench/emulator-streams.ts")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"]
  })
  console.log("upload…")
  const upload = execFileSync(tsx, [path.join(root, "scripts/bench/upload.ts"), "1"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"]
  })
  console.log("upload over a slow link…")
  const uploadLink = await uploadLinkSection()
  console.log("purge…")
  const purge = execFileSync(process.execPath, [
    "--expose-gc",
    "--import",
    "tsx",
    path.join(root, "scripts/bench/purge.ts")
  ], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    cwd: root
  })
  const gates = [
    ...headers.gates,
    ...ratios.gates,
    ...subscribe.gates,
    ...streaming.gates,
    ...memory.gates,
    ...realtime.gates,
    ...uploadLink.gates,
    ...durable.gates
  ]
  const report = `# Benchmarks

Written in full by \`pnpm bench\` (\`scripts/bench.ts\`): rerun it to refresh every figure. It first
builds the packages, then resolves \`@effect-fal/*\` to their compiled \`packages/*/build/esm\`
modules in every process it starts (\`scripts/bench/built-register.mjs\`), so effect-fal is measured
as npm installs it. The soak is \`pnpm soak\`, not part of this report.

- Command: \`${benchCommand}\`
- Date: ${startedAt} to ${now()}
- Machine: ${machine()}
- Load average (1, 5, 15 min): ${loadAtStart} at the start, ${load()} at the end

## Performance gates

Measured side by side in this run, on the compiled packages, and printed as PASS or FAIL by the
regression check (\`BENCH_STRICT=1\` makes a FAIL fail the run). The sections below give each gate's
method and table.

${gateTable(gates)}

${headers.markdown}
${http}
${ratios.markdown}
${subscribe.markdown}
${streaming.markdown}
${memory.markdown}
${realtime.markdown}

${durable.markdown}
${emulator}
${upload}
${uploadLink.markdown}
${purge}`
  writeFileSync(path.join(root, "docs", "benchmarks.md"), report.replace(/\n{3,}/g, "\n\n").replace(/\n+$/, "\n"))
  console.log("written to docs/benchmarks.md")
  console.log("performance gates:")
  for (const gate of gates) console.log(`  ${gateLine(gate)}`)
  const missed = gates.filter((gate) => !gate.pass)
  if (missed.length > 0) {
    console.log(`${missed.length} of ${gates.length} gates missed (FAIL above)`)
    if (process.env.BENCH_STRICT === "1") process.exitCode = 1
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
