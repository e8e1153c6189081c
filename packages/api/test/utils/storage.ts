import { FalClient } from "@effect-fal/api"
import { StorageEmulator } from "@effect-fal/testing"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Cause, Effect, Layer, Option, Redacted, Ref } from "effect"
import type { Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Http from "node:http"

export const key = Redacted.make("storage-test-key")

/** A request the storage server received. */
export interface Seen {
  readonly method: string
  readonly path: string
  readonly authorization: string | undefined
  readonly lifecycle: string | undefined
  readonly contentLength: string | undefined
}

/** Answers a request instead of the routes (a fault), or lets it through. */
export type Intercept = (
  seen: Seen,
  index: number
) => Effect.Effect<Option.Option<HttpServerResponse.HttpServerResponse>>

export interface StorageServer {
  readonly base: string
  readonly seen: Effect.Effect<ReadonlyArray<Seen>>
  readonly files: Effect.Effect<ReadonlyArray<string>>
  readonly store: StorageEmulator.CdnFilesService
}

/** The storage, upload and CDN routers, a request log and an optional fault in front of them. */
const app = (
  store: StorageEmulator.CdnFilesService,
  config: Layer.Layer<StorageEmulator.StorageConfig>,
  log: Ref.Ref<ReadonlyArray<Seen>>,
  intercept: Intercept | undefined
) =>
  Effect.gen(function*() {
    const routers = yield* StorageEmulator.make
    const router = HttpRouter.concatAll(routers.storage, routers.upload, routers.cdn)
    const served = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const seen: Seen = {
        method: request.method,
        path: request.url,
        authorization: request.headers.authorization,
        lifecycle: request.headers["x-fal-object-lifecycle"],
        contentLength: request.headers["content-length"]
      }
      const index = yield* Ref.modify(log, (all) => [all.length, [...all, seen]])
      const faulted = intercept === undefined ? Option.none() : yield* intercept(seen, index)
      if (Option.isSome(faulted)) return faulted.value
      // a client that gives up (an aborted upload, a stream of the wrong size) interrupts the
      // route: that is the test's doing, not a route failure, and is not logged as one
      return yield* Effect.tapErrorCause(
        router,
        (cause) => Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("storage route failed", cause)
      )
    })
    return served.pipe(
      Effect.provideService(StorageEmulator.CdnFiles, store),
      Effect.provide(config)
    )
  })

/** The storage server on a loopback port. */
export const serve = (
  intercept?: Intercept
): Effect.Effect<StorageServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Effect.orDie(NodeHttpServer.make(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
    const address = server.address
    const base = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://127.0.0.1"
    const memory = yield* StorageEmulator.makeMemory
    const log = yield* Ref.make<ReadonlyArray<Seen>>([])
    const config = StorageEmulator.layerConfig({ uploadBase: base, cdnBase: base })
    yield* server.serve(yield* app(memory, config, log, intercept))
    return { base, seen: Ref.get(log), files: memory.urls, store: memory }
  })

/** A `FalClient` on undici whose storage base is the server. */
export const client = (server: StorageServer): Layer.Layer<FalClient.FalClient> =>
  FalClient.layer({ key, urls: { storage: server.base } }).pipe(Layer.orDie, Layer.provide(NodeHttpClient.layerUndici))

/**
 * The routers without sockets, answering through `fetch` inside the calling runtime, so their
 * Effect clock is the test's `TestClock`.
 */
export const inProcess = Effect.gen(function*() {
  const base = "http://storage.test"
  const memory = yield* StorageEmulator.makeMemory
  const log = yield* Ref.make<ReadonlyArray<Seen>>([])
  const config = StorageEmulator.layerConfig({ uploadBase: base, cdnBase: base })
  const handled = yield* app(memory, config, log, undefined)
  const runtime = yield* Effect.runtime<never>()
  const handler = HttpApp.toWebHandlerRuntime(runtime)(handled)
  const fetch: typeof globalThis.fetch = (input, init) => handler(new Request(input, init))
  const layer = FalClient.layer({ key, urls: { storage: base } }).pipe(
    Layer.provide(FetchHttpClient.layer),
    Layer.provide(Layer.succeed(FetchHttpClient.Fetch, fetch))
  )
  return { base, layer, fetch, seen: Ref.get(log) }
})

/** Reads a CDN file back. */
export const download = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      bytes: new Uint8Array(await response.arrayBuffer())
    }
  })

/**
 * Bytes that differ from part to part: a random block of a size prime to the part size, repeated.
 * Cheap to make (a few copies of 64 KB), unlike hashing or a byte-by-byte loop.
 */
export const pattern = (size: number): Uint8Array<ArrayBuffer> => {
  const block = Crypto.randomBytes(65_537)
  const out = new Uint8Array(size)
  for (let offset = 0; offset < size; offset += block.byteLength) {
    out.set(block.subarray(0, Math.min(block.byteLength, size - offset)), offset)
  }
  return out
}

export const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0
