/**
 * One client of the HTTP benchmark, in its own process: `tsx scripts/bench/client.ts <client>
 * <urls-json> <requests> <concurrency>`. Runs `fal-ai/echo` synchronously on the emulator and
 * prints one line of JSON: throughput, latency percentiles, memory.
 */
import { Fal, FalClient } from "@effect-fal/api"
import { FalPlatform } from "@effect-fal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { createFalClient } from "@fal-ai/client"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"

export type ClientName = "effect-fal/undici" | "effect-fal/fetch" | "effect-fal/node-http" | "@fal-ai/client"

const [name, urlsJson, total, concurrency] = process.argv.slice(2) as [ClientName, string, string, string]
const urls = JSON.parse(urlsJson) as FalPlatform.Urls
const requests = Number(total)
const parallel = Number(concurrency)
const key = FalPlatform.defaultKeys.user
const input = { prompt: "a lighthouse at dusk, oil on canvas", seed: 42 }

const transports: Record<Exclude<ClientName, "@fal-ai/client">, Layer.Layer<HttpClient.HttpClient>> = {
  "effect-fal/undici": NodeHttpClient.layerUndici,
  "effect-fal/fetch": FetchHttpClient.layer,
  "effect-fal/node-http": NodeHttpClient.layer
}

const makeCall = (): { call: () => Promise<unknown>; dispose: () => Promise<void> } => {
  if (name === "@fal-ai/client") {
    const fal = createFalClient({
      credentials: key,
      requestMiddleware: async (request) => ({
        ...request,
        url: request.url.replace("https://fal.run", urls.run)
      })
    })
    return { call: () => fal.run("fal-ai/echo", { input }), dispose: async () => {} }
  }
  const runtime = ManagedRuntime.make(
    FalClient.layer({ key: Redacted.make(key), urls: { run: urls.run, queue: urls.queue } }).pipe(
      Layer.provide(transports[name])
    )
  )
  return {
    call: () => runtime.runPromise(Fal.run("fal-ai/echo", input)),
    dispose: () => runtime.dispose()
  }
}

const pool = async (count: number, call: () => Promise<unknown>, latencies?: Array<number>) => {
  let next = 0
  const worker = async () => {
    while (next < count) {
      next++
      const start = performance.now()
      await call()
      latencies?.push(performance.now() - start)
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
}

const main = async () => {
  const { call, dispose } = makeCall()
  await pool(Math.min(500, requests), call) // warm-up: JIT, connection pools
  const latencies: Array<number> = []
  const start = performance.now()
  await pool(requests, call, latencies)
  const seconds = (performance.now() - start) / 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  const memory = process.memoryUsage()
  console.log(JSON.stringify({
    name,
    requests,
    concurrency: parallel,
    throughput: requests / seconds,
    p50: at(0.5),
    p99: at(0.99),
    heapUsedMiB: memory.heapUsed / 2 ** 20,
    maxRssMiB: process.resourceUsage().maxRSS / 1024
  }))
  await dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
