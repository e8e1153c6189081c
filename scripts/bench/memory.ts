/**
 * Memory per in-flight subscription: `BENCH_MEMORY_HELD` (default 1,000) subscriptions
 * held open at once, effect-fal (`Queue.subscribe`, status stream) and `@fal-ai/client`
 * (`subscribe`, streaming mode), each client in a process of its own (`node --expose-gc`), so
 * their heaps do not mix.
 *
 * `tsx scripts/bench/memory.ts` prints the markdown section. Two servers, each in its own process:
 * a minimal loopback fal queue written here (`memory.ts minimal`: submit, an SSE status stream
 * that sends IN_PROGRESS and holds, result), and the project's loopback emulator (`memory.ts
 * emulator`: a model whose runners hold every request). Steps, driven from this process:
 *
 * 1. the client starts, makes one warm-up subscription, forces a GC and reads its heap (baseline);
 * 2. it starts the subscriptions (a few at a time, so connections are set up in order);
 * 3. once every subscription has received its first status (its stream is open), the client
 *    forces a GC and reads its heap (held) and RSS;
 * 4. the server releases the models; every subscription must return its result; the client
 *    forces a GC and reads its heap (after).
 */
import { FalClient, Queue } from "@effect-fal/api"
import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { createFalClient } from "@fal-ai/client"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { createServer, type ServerResponse } from "node:http"
import * as path from "node:path"
import { createInterface, type Interface } from "node:readline"
import { writeHeapSnapshot } from "node:v8"
import { exitWhen, type Gate, gateLine, isMain, printGates, runAlone, stamp, times } from "./report.js"

const root = path.join(import.meta.dirname, "..", "..")
const self = path.join(root, "scripts/bench/memory.ts")
const held = Number(process.env.BENCH_MEMORY_HELD ?? "1000")
const key = FalPlatform.defaultKeys.user
const model = "bench/hold"
const input = { prompt: "a lighthouse" }
const kib = (bytes: number) => (bytes / 1024).toFixed(1)
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

// -----------------------------------------------------------------------------
// servers: print their URLs; "arm" on stdin: hold every job from now on; "release": complete them
// -----------------------------------------------------------------------------

const commands = (): Interface => createInterface({ input: process.stdin })

/**
 * A minimal fal queue: what the two clients need and nothing else (no authentication, no
 * validation). Submit answers at once; the status stream sends IN_PROGRESS and holds until
 * the release, then COMPLETED and closes; the result is a small JSON body.
 */
const minimal = () => {
  const waiting = new Map<string, ServerResponse>()
  const done = new Set<string>()
  let origin = ""
  const status = (id: string, state: "IN_PROGRESS" | "COMPLETED") => {
    const response = `${origin}/queue/${model}/requests/${id}`
    return JSON.stringify({
      status: state,
      request_id: id,
      response_url: response,
      status_url: `${response}/status`,
      cancel_url: `${response}/cancel`,
      logs: []
    })
  }
  const server = createServer((request, response) => {
    request.resume()
    request.on("end", () => {
      const url = request.url ?? ""
      const match = /^\/queue\/bench\/hold\/requests\/([^/?]+)(\/status(\/stream)?)?/.exec(url)
      if (request.method === "POST" && url.startsWith(`/queue/${model}`)) {
        const id = randomUUID()
        const base = `${origin}/queue/${model}/requests/${id}`
        const body = JSON.stringify({
          request_id: id,
          response_url: base,
          status_url: `${base}/status`,
          cancel_url: `${base}/cancel`,
          queue_position: 0
        })
        response.writeHead(200, { "content-type": "application/json", "x-fal-request-id": id })
        return response.end(body)
      }
      if (match === null) {
        response.writeHead(404, { "content-type": "application/json" })
        return response.end("{\"detail\":\"not found\"}")
      }
      const id = match[1]!
      if (match[3] !== undefined) {
        response.writeHead(200, {
          "content-type": "text/event-stream",
          "cache-control": "no-cache",
          "x-fal-request-id": id
        })
        if (done.has(id)) return response.end(`data: ${status(id, "COMPLETED")}\n\n`)
        response.write(`data: ${status(id, "IN_PROGRESS")}\n\n`)
        waiting.set(id, response)
        return
      }
      if (match[2] !== undefined) {
        response.writeHead(done.has(id) ? 200 : 202, { "content-type": "application/json", "x-fal-request-id": id })
        return response.end(status(id, done.has(id) ? "COMPLETED" : "IN_PROGRESS"))
      }
      response.writeHead(200, { "content-type": "application/json", "x-fal-request-id": id })
      response.end(JSON.stringify({ released: true }))
    })
  })
  server.keepAliveTimeout = 10 * 60 * 1000
  server.headersTimeout = server.keepAliveTimeout + 1000
  /** Completes every held job: its stream gets COMPLETED and closes. */
  const release = () => {
    for (const [id, response] of waiting) {
      done.add(id)
      response.end(`data: ${status(id, "COMPLETED")}\n\n`)
    }
    waiting.clear()
  }
  // a warm-up subscription completes at once: a stream opened before "arm" gets COMPLETED
  let armed = false
  commands().on("line", (line) => {
    if (line === "arm") armed = true
    if (line === "release") release()
  })
  const original = server.listeners("request")[0] as (...args: Array<unknown>) => void
  server.removeAllListeners("request")
  server.on("request", (request, response) => {
    if (!armed && request.method === "GET" && (request.url ?? "").includes("/status/stream")) {
      const id = /requests\/([^/?]+)/.exec(request.url ?? "")?.[1]
      if (id !== undefined) done.add(id)
    }
    original(request, response)
  })
  server.listen(0, "127.0.0.1", 4096, () => {
    const address = server.address()
    origin = typeof address === "object" && address !== null ? `http://127.0.0.1:${address.port}` : ""
    console.log(JSON.stringify({ queue: `${origin}/queue`, run: `${origin}/run` }))
  })
}

/** The project's emulator: `held` runners that each hold their request until the release. */
const emulator = () =>
  NodeRuntime.runMain(
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const gate = yield* Deferred.make<void>()
      let armed = false
      yield* platform.register(Model.make({
        id: model,
        input: Schema.Struct({ prompt: Schema.String }),
        runners: held + 1,
        handler: () => armed ? Effect.as(Deferred.await(gate), { released: true }) : Effect.succeed({ released: true })
      }))
      const { urls } = yield* FalEmulator.FalEmulator
      console.log(JSON.stringify(urls))
      const lines = commands()
      yield* Effect.async<never>(() => {
        lines.on("line", (line) => {
          if (line === "arm") armed = true
          if (line === "release") Deferred.unsafeDone(gate, Effect.void)
        })
      })
    }).pipe(Effect.provide(FalEmulator.layer()))
  )

// -----------------------------------------------------------------------------
// clients: "baseline", then (on "measure") "held", then "after", one JSON line each
// -----------------------------------------------------------------------------

const gc = () => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("run the client with --expose-gc")
  collect()
  collect()
}

const reading = (phase: string) => {
  gc()
  // BENCH_MEMORY_SNAPSHOT=<dir>: a heap snapshot at each reading, to see what holds the memory
  const dir = process.env.BENCH_MEMORY_SNAPSHOT
  if (dir !== undefined) writeHeapSnapshot(path.join(dir, `${process.pid}-${phase}.heapsnapshot`))
  const memory = process.memoryUsage()
  console.log(JSON.stringify({ phase, heap: memory.heapUsed, rss: memory.rss }))
}

const client = async (name: "effect-fal" | "@fal-ai/client", urls: { readonly queue: string }) => {
  // the first status of a subscription (IN_PROGRESS) says its stream is open: count them
  let open = 0
  let allOpen: () => void = () => {}
  const opened = new Promise<void>((resolve) => (allOpen = resolve))
  let counting = false
  const first = new Set<string>()
  const seen = (requestId: string) => {
    if (!counting || first.has(requestId)) return
    first.add(requestId)
    if (++open === held) allOpen()
  }
  let subscribe: () => Promise<unknown>
  let dispose = async () => {}
  if (name === "@fal-ai/client") {
    const fal = createFalClient({
      credentials: key,
      requestMiddleware: async (request) => ({
        ...request,
        url: request.url.replace("https://queue.fal.run", urls.queue)
      })
    })
    subscribe = () =>
      fal.subscribe(model, { input, mode: "streaming", onQueueUpdate: (status) => seen(status.request_id) })
  } else {
    const runtime = ManagedRuntime.make(
      FalClient.layer({ key: Redacted.make(key), urls: { queue: urls.queue } }).pipe(
        Layer.orDie,
        Layer.provide(NodeHttpClient.layerUndici)
      )
    )
    dispose = () => runtime.dispose()
    subscribe = () =>
      runtime.runPromise(
        Queue.subscribe(model, input, { onStatus: (status) => Effect.sync(() => seen(status.requestId)) })
      )
  }
  const go = new Promise<void>((resolve) => createInterface({ input: process.stdin }).once("line", () => resolve()))
  await subscribe() // warm-up: modules, JIT, a connection
  reading("baseline")
  await go
  counting = true
  const all: Array<Promise<unknown>> = []
  for (let i = 0; i < held; i++) {
    all.push(subscribe())
    // a few at a time, so that connections are set up in order rather than all at once
    if (i % 25 === 24) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  await opened
  reading("held")
  const results = await Promise.all(all)
  if (results.length !== held) throw new Error(`${results.length} results for ${held} subscriptions`)
  reading("after")
  await dispose()
}

// -----------------------------------------------------------------------------
// the driver
// -----------------------------------------------------------------------------

interface Reading {
  readonly phase: string
  readonly heap: number
  readonly rss: number
}

interface Measured {
  readonly client: string
  readonly server: string
  readonly baseline: Reading
  readonly held: Reading
  readonly after: Reading
  readonly seconds: number
}

interface Failed {
  readonly client: string
  readonly server: string
  readonly failure: string
}

/** How long one measurement may take before it counts as failed (a client may never return). */
const limitMs = Number(process.env.BENCH_MEMORY_LIMIT_S ?? "240") * 1000

const lineReader = (child: ChildProcess) => {
  const queue: Array<string> = []
  const waiting: Array<(line: string) => void> = []
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const resolve = waiting.shift()
    if (resolve !== undefined) resolve(line)
    else queue.push(line)
  })
  return () => new Promise<string>((resolve) => queue.length > 0 ? resolve(queue.shift()!) : waiting.push(resolve))
}

const start = (args: ReadonlyArray<string>, expose: boolean) => {
  const child = spawn(process.execPath, [...(expose ? ["--expose-gc"] : []), "--import", "tsx", self, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
    cwd: root
  })
  return { child, next: lineReader(child) }
}

const measure = async (serverKind: "minimal" | "emulator", name: string): Promise<Measured | Failed> => {
  const server = start([serverKind], false)
  try {
    const urls = await server.next()
    const client = start(["client", name, urls], true)
    let timer: ReturnType<typeof setTimeout> | undefined
    const failed = new Promise<Failed>((resolve) => {
      client.child.once(
        "exit",
        (code) => resolve({ client: name, server: serverKind, failure: `the client exited with code ${code}` })
      )
      timer = setTimeout(
        () => resolve({ client: name, server: serverKind, failure: `not done after ${limitMs / 1000} s` }),
        limitMs
      )
    })
    try {
      return await Promise.race([failed, steps(serverKind, name, server, client)])
    } finally {
      clearTimeout(timer)
      client.child.kill("SIGINT")
    }
  } finally {
    server.child.kill("SIGINT")
  }
}

const steps = async (
  serverKind: string,
  name: string,
  server: ReturnType<typeof start>,
  client: ReturnType<typeof start>
): Promise<Measured> => {
  const baseline = JSON.parse(await client.next()) as Reading
  server.child.stdin!.write("arm\n")
  const t0 = performance.now()
  client.child.stdin!.write("go\n")
  const heldReading = JSON.parse(await client.next()) as Reading
  server.child.stdin!.write("release\n")
  const after = JSON.parse(await client.next()) as Reading
  const seconds = (performance.now() - t0) / 1000
  console.error(
    `memory: ${serverKind}, ${name}: ${kib((heldReading.heap - baseline.heap) / held)} KiB per subscription`
  )
  return { client: name, server: serverKind, baseline, held: heldReading, after, seconds }
}

/** The gate: effect-fal's heap per held subscription at most this multiple of the official client's. */
const bound = 1.25

export const memorySection = async (): Promise<{ readonly markdown: string; readonly gates: ReadonlyArray<Gate> }> => {
  const started = stamp("npx tsx --import ./scripts/bench/built-register.mjs scripts/bench/memory.ts")
  const results: Array<Measured | Failed> = []
  for (const serverKind of ["minimal", "emulator"] as const) {
    for (const name of ["effect-fal", "@fal-ai/client"]) {
      if (process.env.BENCH_MEMORY_ONLY === undefined || process.env.BENCH_MEMORY_ONLY === `${serverKind}/${name}`) {
        results.push(await measure(serverKind, name))
      }
    }
  }
  const per = (m: Measured) => (m.held.heap - m.baseline.heap) / held
  const measured = results.filter((m): m is Measured => !("failure" in m))
  const gates = printGates((["minimal", "emulator"] as const).map((kind): Gate => {
    const name = `Heap per held subscription, effect-fal / @fal-ai/client (${kind} server)`
    const ours = measured.find((m) => m.server === kind && m.client === "effect-fal")
    const theirs = measured.find((m) => m.server === kind && m.client === "@fal-ai/client")
    if (ours === undefined || theirs === undefined) {
      return { name, measured: "not measured (see the table)", bound: `<= ${bound.toFixed(2)}x`, pass: false }
    }
    return {
      name,
      measured: `${times(per(ours) / per(theirs))} (${kib(per(ours))} KiB vs ${kib(per(theirs))} KiB)`,
      bound: `<= ${bound.toFixed(2)}x`,
      pass: per(ours) <= bound * per(theirs)
    }
  }))
  const markdown = `## Memory per in-flight subscription

${started}

Method: ${held.toLocaleString("en-US")} subscriptions held open at once, each client in a process of its own
(\`node --expose-gc\`), the server in another. effect-fal: \`Queue.subscribe\` (status stream) on
undici, one \`runPromise\` per subscription; \`@fal-ai/client\`: \`subscribe\` in streaming mode.
The client makes one warm-up subscription, then forces a GC and reads its heap (baseline); it
starts the ${held} subscriptions 25 at a time; once every subscription has received its first status
(IN_PROGRESS, on its open status stream), it forces a GC and reads its heap (held); then the
server completes every job, each subscription must return its result, and the client reads its
heap after a forced GC (after). Servers: "minimal" is a loopback fal queue written in the script
(submit, an SSE status stream that holds, result; no checks); "emulator" is
\`@effect-fal/testing\`'s emulator with a model whose runners hold every request.

| server | client | heap per held subscription (KiB) | heap baseline (MiB) | heap held (MiB) | RSS held (MiB) | heap after (MiB) | run (s) |
|---|---|---:|---:|---:|---:|---:|---:|
${
    results.map((m) =>
      "failure" in m
        ? `| ${m.server} | ${m.client} | failed: ${m.failure} | | | | | |`
        : `| ${m.server} | ${m.client} | ${kib(per(m))} | ${mib(m.baseline.heap)} | ${mib(m.held.heap)} | ${
          mib(m.held.rss)
        } | ${mib(m.after.heap)} | ${m.seconds.toFixed(1)} |`
    ).join("\n")
  }

Gates: ${gates.map(gateLine).join("; ")}.
`
  return { markdown, gates }
}

const [role, name, urls] = process.argv.slice(2)
if (role === "minimal") {
  minimal()
} else if (role === "emulator") {
  emulator()
} else if (role === "client") {
  exitWhen(client(name as "effect-fal" | "@fal-ai/client", JSON.parse(urls!) as { queue: string }))
} else if (isMain(self)) {
  runAlone(memorySection)
}
