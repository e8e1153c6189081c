/**
 * Storage through the emulator's gateway: the loopback emulator (real sockets, undici) for byte
 * counts, the in-memory platform (TestClock) for lifecycles, payload deletion and automatic upload.
 */
import { Fal, FalClient, Payloads, Queue, Storage } from "@effect-fal/api"
import { FalEmulator, FalPlatform, Fault } from "@effect-fal/testing"
import { NodeHttpClient } from "@effect/platform-node"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import * as Crypto from "node:crypto"
import * as Emulator from "./utils/emulator.js"

const { echo, image } = FalPlatform.demoModelIds

/** Bytes that differ at every offset, so a misplaced part or a dropped byte shows. */
const bytesOf = (size: number): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i += 4096) {
    out.set(Crypto.createHash("sha256").update(String(i)).digest().subarray(0, Math.min(32, size - i)), i)
  }
  for (let i = 0; i < size; i++) out[i] ^= i & 0xff
  return out
}

/**
 * A file's bytes as the CDN serves them: from the in-memory platform for fal's hosts, over a
 * socket for the loopback emulator's.
 */
const cdnBytes = (url: string) =>
  Effect.gen(function*() {
    const response = yield* HttpClient.get(url)
    return { status: response.status, bytes: new Uint8Array(yield* response.arrayBuffer) }
  }).pipe(
    Effect.scoped,
    Effect.provide(url.startsWith("https://") ? FalPlatform.layerHttpClient : NodeHttpClient.layerUndici)
  )

/** A file's bytes from the CDN of the platform in context (the layer's own `HttpClient`). */
const served = (url: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => Effect.flatMap(client.get(url), (response) => response.arrayBuffer))
    .pipe(
      Effect.map((buffer) => new Uint8Array(buffer))
    )

const sameBytes = (actual: Uint8Array, expected: Uint8Array) => {
  assert.strictEqual(actual.byteLength, expected.byteLength)
  assert.isTrue(Buffer.from(actual).equals(Buffer.from(expected)), "the bytes read back differ")
}

describe("Storage.upload through the loopback emulator", () => {
  it.live("0 B, 1 B and 5 MB come back byte for byte from the emulator's CDN", () =>
    Effect.gen(function*() {
      const { urls } = yield* FalEmulator.FalEmulator
      for (const size of [0, 1, 5 * 1024 * 1024]) {
        const data = bytesOf(size)
        const uploaded = yield* Storage.upload(new Blob([data], { type: "image/png" }))
        assert.isTrue(uploaded.url.startsWith(`${urls.cdn}/`), uploaded.url)
        assert.strictEqual(uploaded.parts, 0)
        const back = yield* cdnBytes(uploaded.url)
        assert.strictEqual(back.status, 200)
        sameBytes(back.bytes, data)
      }
      const platform = yield* FalPlatform.FalPlatform
      const puts = (yield* platform.httpLog).filter((r) => r.method === "PUT")
      assert.strictEqual(puts.length, 3)
      // the pre-signed PUTs went to the upload base, without the key
      assert.isTrue(puts.every((r) => r.base === "upload" && r.headers["authorization"] === undefined))
    }).pipe(Effect.provide(Emulator.loopback())))

  it.live(
    "95 MB goes in 10 MB parts and comes back byte for byte; a part failing once is sent again",
    () =>
      Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        yield* platform.injectFault({ endpoint: "upload", method: "PUT", fault: Fault.status(503), times: 1 })
        const data = bytesOf(95 * 1024 * 1024)
        const events: Array<Storage.Progress> = []
        const uploaded = yield* Storage.upload(new Blob([data], { type: "video/mp4" }), {
          onProgress: (progress) => Effect.sync(() => events.push(progress))
        })
        assert.strictEqual(uploaded.parts, 10)
        assert.match(uploaded.fileName, /^\d+\.mp4$/)
        sameBytes((yield* cdnBytes(uploaded.url)).bytes, data)
        assert.strictEqual(events.length, 10)
        assert.deepStrictEqual(events[9], { _tag: "Progress", loaded: data.byteLength, total: data.byteLength })
        assert.isTrue(events.every((e, i) => i === 0 || e.loaded > events[i - 1].loaded))
        assert.isTrue((yield* platform.files).every((f) => f.kind === "input" && f.contentType === "video/mp4"))
        const log = (yield* platform.httpLog).filter((r) => r.base === "upload")
        // 10 parts (6 in flight at once), the one that failed twice, then complete; none with the key
        assert.deepStrictEqual(log.map((r) => r.method), [...Array(11).fill("PUT"), "POST"])
        const paths = log.map((r) => r.path.split("?")[0].split("/").slice(3).join("/"))
        assert.strictEqual(paths[11], "complete")
        const numbers = paths.slice(0, 11).map(Number)
        assert.deepStrictEqual([...numbers].sort((a, b) => a - b).filter((n, i, all) => all.indexOf(n) === i), [
          ...Array.from({ length: 10 }, (_, i) => i + 1)
        ])
        const failed = log.filter((r) => r.status === 503)
        assert.strictEqual(failed.length, 1)
        assert.strictEqual(log.filter((r) => r.path === failed[0].path).length, 2)
        assert.isTrue(log.every((r) => r.headers["authorization"] === undefined))
        const initiate = (yield* platform.httpLog).find((r) => r.base === "storage")
        assert.strictEqual(initiate?.path, "/storage/upload/initiate-multipart")
        assert.strictEqual(initiate?.auth, "user")
      }).pipe(Effect.provide(Emulator.loopback())),
    60_000
  )
})

describe("uploaded files on the in-memory platform", () => {
  it.live(
    "answers lost after the upload steps were applied: the PUT, a part and the complete are sent again, and the upload succeeds",
    () =>
      Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const lost = (operation: Fault.Operation) =>
          platform.injectFault({ ...Fault.target(operation), fault: Fault.resetAfter, times: 1 })
        yield* lost("uploadPut")
        const small = bytesOf(1024 * 1024)
        const single = yield* Storage.upload(small)
        sameBytes(yield* served(single.url), small)
        yield* lost("partPut")
        yield* lost("multipartComplete")
        const large = bytesOf(91 * 1024 * 1024)
        const multi = yield* Storage.upload(large)
        assert.strictEqual(multi.parts, 10)
        sameBytes(yield* served(multi.url), large)
        const steps = (yield* platform.httpLog).filter((r) => r.base === "upload").map((r) => r.status)
        // each lost answer is one "reset" followed by the same request answered
        assert.strictEqual(steps.filter((status) => status === "reset").length, 3)
      }).pipe(Effect.provide(FalEmulator.layerClient({ transport: "memory", key: Emulator.userKey }))),
    60_000
  )

  it.effect("an upload's lifecycle runs out on the Effect clock: 404 after, for good", () =>
    Effect.gen(function*() {
      const expiring = yield* Storage.upload(Uint8Array.of(1, 2, 3), { lifecycle: { expiration: "1 hour" } })
      const kept = yield* Storage.upload(Uint8Array.of(4), { lifecycle: { expiration: "never" } })
      assert.strictEqual((yield* cdnBytes(expiring.url)).status, 200)
      yield* TestClock.adjust("59 minutes")
      sameBytes((yield* cdnBytes(expiring.url)).bytes, Uint8Array.of(1, 2, 3))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* cdnBytes(expiring.url)).status, 404)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* cdnBytes(expiring.url)).status, 404)
      yield* TestClock.adjust("3650 days")
      assert.strictEqual((yield* cdnBytes(expiring.url)).status, 404)
      sameBytes((yield* cdnBytes(kept.url)).bytes, Uint8Array.of(4))
      const platform = yield* FalPlatform.FalPlatform
      const files = yield* platform.files
      assert.deepStrictEqual(files.map((f) => [f.url, f.kind]), [[kept.url, "input"]])
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("without a lifecycle an upload follows the account's default", () =>
    Effect.gen(function*() {
      const uploaded = yield* Storage.upload(Uint8Array.of(7))
      yield* TestClock.adjust("1 day")
      assert.strictEqual((yield* cdnBytes(uploaded.url)).status, 404)
    }).pipe(Effect.provide(Emulator.inMemory({ config: { defaultObjectLifecycle: "1 day" } }))))

  it.effect("an uploaded input survives Payloads.delete of the request that used it; its outputs do not", () =>
    Effect.gen(function*() {
      const data = bytesOf(1000)
      const input = yield* Storage.upload(new Blob([data], { type: "image/png" }))
      const result = yield* Queue.subscribe(image, { prompt: "a cat", image_url: input.url }, { mode: "poll" }).pipe(
        Effect.fork,
        Effect.tap(() => TestClock.adjust("1 minute")),
        Effect.flatMap(Fiber.join)
      )
      const outputs = (result.data as { readonly images: ReadonlyArray<{ readonly url: string }> }).images
      assert.isAbove(outputs.length, 0)
      assert.strictEqual((yield* cdnBytes(outputs[0].url)).status, 200)
      const deletion = yield* Payloads.delete(result.requestId)
      assert.deepStrictEqual(Payloads.deleted(deletion), outputs.map((o) => o.url))
      assert.strictEqual((yield* cdnBytes(outputs[0].url)).status, 404)
      sameBytes((yield* cdnBytes(input.url)).bytes, data)
    }).pipe(Effect.provide(Emulator.inMemory({ adminKey: true }))))
})

describe("automatic upload", () => {
  it.effect("Fal.run uploads nested Blobs, Files and Uint8Arrays; the model sees URLs whose bytes match", () =>
    Effect.gen(function*() {
      const image = new File([bytesOf(300)], "cat.png", { type: "image/png" })
      const mask = bytesOf(20)
      const input = { prompt: "x", images: [image, { mask, again: image }], n: 3, nothing: null }
      const result = yield* Fal.run(echo, input)
      const data = result.data as {
        readonly prompt: string
        readonly images: [string, { readonly mask: string; readonly again: string }]
        readonly n: number
        readonly nothing: null
      }
      assert.strictEqual(data.prompt, "x")
      assert.strictEqual(data.n, 3)
      assert.isNull(data.nothing)
      assert.strictEqual(data.images[1].again, data.images[0])
      assert.match(data.images[0], /^https:\/\/v3\.fal\.media\/files\/.*cat\.png$/)
      sameBytes((yield* cdnBytes(data.images[0])).bytes, bytesOf(300))
      sameBytes((yield* cdnBytes(data.images[1].mask)).bytes, mask)
      // the caller's input is left as it was
      assert.strictEqual(input.images[0], image)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("Queue.subscribe uploads too; autoUpload: false sends the input as it is", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const run = <A>(effect: Effect.Effect<A, unknown, FalClient.FalClient>) =>
        effect.pipe(Effect.fork, Effect.tap(() => TestClock.adjust("1 minute")), Effect.flatMap(Fiber.join))
      const subscribed = yield* run(Queue.subscribe(echo, { file: Uint8Array.of(9, 8) }, { mode: "poll" }))
      const url = (subscribed.data as { readonly file: string }).file
      sameBytes((yield* cdnBytes(url)).bytes, Uint8Array.of(9, 8))
      const raw = yield* run(Queue.subscribe(echo, { file: Uint8Array.of(9, 8) }, { mode: "poll", autoUpload: false }))
      assert.deepStrictEqual(raw.data, { file: { 0: 9, 1: 8 } })
      assert.strictEqual((yield* platform.files).length, 1)
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("an upload failure fails the call with a FalError and nothing is submitted", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      yield* platform.injectFault({ endpoint: "upload", fault: Fault.status(403, "denied"), times: 1 })
      const error = yield* Effect.flip(Queue.submit(echo, { image: new Blob(["x"]) }))
      assert.strictEqual(error._tag, "Forbidden")
      const run = yield* Effect.flip(
        Fal.run(echo, { image: new Blob(["y"]) }).pipe(Effect.provide(
          FalClient.layer({ key: Redacted.make("not-a-key") }).pipe(
            Layer.orDie,
            Layer.provide(FalPlatform.layerHttpClient)
          )
        ))
      )
      assert.strictEqual(run._tag, "Unauthorized")
      const log = yield* platform.httpLog
      assert.deepStrictEqual(log.filter((r) => r.base === "queue" || r.base === "run"), [])
      assert.deepStrictEqual(yield* platform.files, [])
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("interrupting Queue.subscribe while it uploads aborts the upload at once and queues nothing", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      // the PUT hangs for an hour of the Effect clock
      yield* platform.injectFault({ endpoint: "upload", method: "PUT", fault: Fault.delay("1 hour"), times: 1 })
      // daemons, so that a failing assertion does not wait on them at the test's end
      const fiber = yield* Effect.forkDaemon(Queue.subscribe(echo, { image: new Blob(["x"]) }, { mode: "poll" }))
      yield* TestClock.adjust("1 second")
      const uploads = (yield* platform.httpLog).filter((r) => r.base === "upload")
      assert.deepStrictEqual(uploads.map((r) => [r.method, r.status]), [["PUT", "pending"]])
      const interruption = yield* Effect.forkDaemon(Fiber.interrupt(fiber))
      // well inside the submit's 10 s grace: nothing was submitted, so nothing is waited for
      yield* TestClock.adjust("1 second")
      const done = yield* Fiber.poll(interruption)
      assert.isTrue(Option.isSome(done) && Exit.isSuccess(done.value), "the interruption is still waiting")
      yield* TestClock.adjust("2 hours")
      const log = yield* platform.httpLog
      assert.deepStrictEqual(log.filter((r) => r.base === "queue"), [])
      // the upload was aborted: the file never landed
      assert.deepStrictEqual(yield* platform.files, [])
    }).pipe(Effect.provide(Emulator.inMemory())))

  it.effect("a refused model id uploads nothing", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const error = yield* Effect.flip(Fal.run("not a model", { image: new Blob(["x"]) }))
      assert.strictEqual(error._tag, "InvalidModelId")
      assert.deepStrictEqual(yield* platform.httpLog, [])
      assert.isTrue(Option.isNone(Option.fromNullable((yield* platform.files)[0])))
    }).pipe(Effect.provide(Emulator.inMemory())))
})
