/**
 * fal's official JS client, unmodified, uploading through the storage routers. If they disagree,
 * the routers are wrong.
 */
import { StorageEmulator } from "@effect-fal/testing"
import { NodeHttpServer } from "@effect/platform-node"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { assert, describe, it } from "@effect/vitest"
import { createFalClient } from "@fal-ai/client"
import { Effect, Ref } from "effect"
import * as Crypto from "node:crypto"
import * as Http from "node:http"

const serve = Effect.gen(function*() {
  const server = yield* Effect.orDie(NodeHttpServer.make(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
  const base = server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : ""
  const store = yield* StorageEmulator.makeMemory
  const routers = yield* StorageEmulator.make
  const log = yield* Ref.make<ReadonlyArray<{ method: string; path: string; authorization: string | undefined }>>([])
  const router = HttpRouter.concatAll(routers.storage, routers.upload, routers.cdn)
  yield* server.serve(
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      Ref.update(log, (all) => [...all, {
        method: request.method,
        path: request.url,
        authorization: request.headers.authorization
      }]).pipe(Effect.zipRight(router))).pipe(
        Effect.provideService(StorageEmulator.CdnFiles, store),
        Effect.provide(StorageEmulator.layerConfig({ uploadBase: base, cdnBase: base }))
      )
  )
  const fal = createFalClient({
    credentials: "official-client-key",
    requestMiddleware: async (request) => ({
      ...request,
      url: request.url.startsWith("https://rest.fal.ai")
        ? base + request.url.slice("https://rest.fal.ai".length)
        : request.url
    })
  })
  return { base, fal, log: Ref.get(log), store }
})

const read = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      bytes: Buffer.from(await response.arrayBuffer())
    }
  })

describe("@fal-ai/client's storage.upload against the storage routers", () => {
  it.scopedLive("a Blob uploads in one PUT, with the key only on initiate, and reads back byte for byte", () =>
    Effect.gen(function*() {
      const { base, fal, log } = yield* serve
      const bytes = Crypto.randomBytes(300_001)
      const url = yield* Effect.promise(() => fal.storage.upload(new Blob([bytes], { type: "image/png" })))
      assert.isTrue(url.startsWith(`${base}/files/`))
      assert.isTrue(url.endsWith(".png"))
      const back = yield* read(url)
      assert.strictEqual(back.status, 200)
      assert.strictEqual(back.type, "image/png")
      assert.isTrue(back.bytes.equals(bytes))
      const requests = (yield* log).filter((r) => r.method !== "GET")
      assert.deepStrictEqual(requests.map((r) => [r.method, r.path.split("?")[0].replace(/[0-9a-f-]{36}/, "ID")]), [
        ["POST", "/storage/upload/initiate"],
        ["PUT", "/upload/ID"]
      ])
      assert.strictEqual(requests[0].authorization, "Key official-client-key")
      assert.strictEqual(requests[1].authorization, undefined)
    }))

  it.scopedLive("its lifecycle with an initial ACL is accepted and recorded", () =>
    Effect.gen(function*() {
      const { fal, store } = yield* serve
      const url = yield* Effect.promise(() =>
        fal.storage.upload(new Blob(["hi"], { type: "text/plain" }), {
          lifecycle: { expiresIn: "1h", initialAcl: { default: "hide", rules: [{ user: "ada", decision: "allow" }] } }
        })
      )
      const file = yield* store.get(url)
      assert.isTrue(file._tag === "Some")
      if (file._tag === "Some") {
        assert.notStrictEqual(file.value.expiresAt, "never")
        assert.deepStrictEqual(file.value.initialAcl, { default: "hide", rules: [{ user: "ada", decision: "allow" }] })
        assert.strictEqual(file.value.kind, "input")
      }
    }))

  it.scopedLive("a 95 MB Blob goes in parts and completes, byte for byte", () =>
    Effect.gen(function*() {
      const { fal, log } = yield* serve
      const block = Crypto.randomBytes(65_537)
      const bytes = Buffer.alloc(95 * 1024 * 1024)
      for (let offset = 0; offset < bytes.length; offset += block.length) block.copy(bytes, offset)
      const url = yield* Effect.promise(() => fal.storage.upload(new Blob([bytes])))
      assert.isTrue((yield* read(url)).bytes.equals(bytes))
      const requests = yield* log
      assert.strictEqual(requests.filter((r) => r.method === "PUT").length, 10)
      assert.isTrue(requests.some((r) => r.method === "POST" && r.path.includes("/complete?token=")))
    }), 120_000)
})
