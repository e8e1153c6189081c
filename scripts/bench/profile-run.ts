/**
 * A profiling harness for the request path: `node --cpu-prof --import tsx
 * scripts/bench/profile-run.ts <variant> <calls>` runs one variant of scripts/bench/ratios.ts
 * (`fal-fibers`, `bare-fibers`, `fal-promise`, `bare-promise`; also `exec` (the call pipeline,
 * `Request.executeWithClient`, without `Fal.run`'s preparation), `decorated` (FalClient's decorated
 * `HttpClient` alone), `bounded` (the bare call under `Effect.timeoutFail` with the run's headers
 * limit, the gate's baseline) and `forked` (the bare call on a fiber of its own)) at 64 in flight
 * against the static server, so a CPU profile shows that variant alone. `ab-fibers` and
 * `ab-promise` interleave them all and print the CPU time per call of each; run them under
 * `node --expose-gc` so that each measurement starts with a collected heap.
 */
import { Fal, FalClient } from "@effect-fal/api"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { createInterface } from "node:readline"
import * as Request from "../../packages/api/src/internal/request.js"

const root = path.join(import.meta.dirname, "..", "..")
const [variant = "fal-fibers", total = "20000"] = process.argv.slice(2)
const count = Number(total)
const key = "bench-key-id:bench-key-secret"
const input = { prompt: "a lighthouse at dusk, oil on canvas", seed: 42 }

const collect = (globalThis as { readonly gc?: () => void }).gc

const main = async () => {
  const child = spawn(path.join(root, "node_modules", ".bin", "tsx"), [
    path.join(root, "scripts/bench/static-server.ts")
  ], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  const run = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout! }).once("line", (line) => resolve((JSON.parse(line) as { run: string }).run))
  )
  try {
    const runtime = ManagedRuntime.make(
      FalClient.layer({ key: Redacted.make(key), urls: { run } }).pipe(
        Layer.orDie,
        Layer.provideMerge(NodeHttpClient.layerUndici)
      )
    )
    const client = await runtime.runPromise(HttpClient.HttpClient)
    const bare = client.execute(
      HttpClientRequest.post(`${run}/fal-ai/echo`).pipe(
        HttpClientRequest.setHeader("authorization", `Key ${key}`),
        HttpClientRequest.bodyUnsafeJson(input)
      )
    ).pipe(Effect.flatMap((response) => response.json))
    const falRun = Fal.run("fal-ai/echo", input)
    const prebuilt = HttpClientRequest.post(`${run}/fal-ai/echo`).pipe(HttpClientRequest.bodyUnsafeJson(input))
    const exec = Request.executeWithClient({
      operation: "run",
      request: prebuilt,
      onResponse: (response) => Request.json("run", response, undefined)
    })
    const decorated = Effect.flatMap(
      FalClient.FalClient,
      (service) => Effect.flatMap(service.httpClient.execute(prebuilt), (response) => response.json)
    )
    const effects: Record<string, Effect.Effect<unknown, unknown, FalClient.FalClient | HttpClient.HttpClient>> = {
      fal: falRun,
      bare,
      exec,
      decorated,
      // the bare call under Fal.run's per-attempt headers limit, and on a fiber of its own
      bounded: client.execute(
        HttpClientRequest.post(`${run}/fal-ai/echo`).pipe(
          HttpClientRequest.setHeader("authorization", `Key ${key}`),
          HttpClientRequest.bodyUnsafeJson(input)
        )
      ).pipe(
        Effect.timeoutFail({ duration: FalClient.defaultTimeouts.run.headers, onTimeout: () => "headers timeout" }),
        Effect.flatMap((response) => response.json)
      ),
      forked: Effect.flatMap(Effect.fork(bare), Fiber.join)
    }
    const once = async (n: number, variant: string) => {
      const effect = effects[variant.split("-")[0]!]!
      const start = performance.now()
      if (variant.endsWith("fibers")) {
        await runtime.runPromise(
          Effect.forEach(Array.from({ length: n }), () => effect, { concurrency: 64, discard: true })
        )
      } else {
        let next = 0
        await Promise.all(Array.from({ length: 64 }, async () => {
          while (next < n) {
            next++
            await runtime.runPromise(effect)
          }
        }))
      }
      return n / ((performance.now() - start) / 1000)
    }
    // `ab` interleaves the fal and bare variants of the same mode, printing CPU per call of each
    const variants = variant.startsWith("ab-")
      ? ["fal", "exec", "decorated", "bare", "bounded", "forked"].map((name) => `${name}-${variant.slice(3)}`)
      : [variant]
    for (const v of variants) await once(2000, v)
    const rounds = variants.length > 1 ? 3 : 1
    for (let round = 0; round < rounds; round++) {
      for (const v of variants) {
        // with `node --expose-gc`: a clean heap, not the previous variant's garbage to collect
        collect?.()
        const before = process.cpuUsage()
        const rate = await once(count, v)
        const cpu = process.cpuUsage(before)
        console.log(
          JSON.stringify({
            variant: v,
            count,
            rate: Math.round(rate),
            cpuUsPerCall: Math.round((cpu.user + cpu.system) / count)
          })
        )
      }
    }
    await runtime.dispose()
  } finally {
    child.kill("SIGINT")
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
