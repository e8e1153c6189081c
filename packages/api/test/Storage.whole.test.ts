/**
 * `uploadBody: "whole"`: the PUT bodies `Storage.upload` hands to the transport are whole values
 * (a `Uint8Array`, the `Blob` itself) rather than streams, what a browser's `fetch` takes. On the
 * in-memory emulator (the bodies seen by the client's `HttpClient`, the bytes stored, progress,
 * a retry) and on the loopback emulator over undici (a `Blob` body on a real socket). Also: the
 * option's default per constructor and its validation, a stream without bytes sending
 * nothing, and, with `"stream"`, a Blob's parts read into part buffers (bytes pulled minus bytes
 * acknowledged, not timed).
 */
import { FalClient, Storage } from "@effect-fal/api"
import { FalEmulator, FalPlatform, Fault } from "@effect-fal/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Redacted, Ref, Stream, TestClock } from "effect"
import * as Crypto from "node:crypto"

const MB = 1024 * 1024

const bytesOf = (size: number): Uint8Array<ArrayBuffer> => {
  const block = Crypto.randomBytes(65_537)
  const out = new Uint8Array(size)
  for (let offset = 0; offset < size; offset += block.byteLength) {
    out.set(block.subarray(0, Math.min(block.byteLength, size - offset)), offset)
  }
  return out
}

const same = (actual: Uint8Array, expected: Uint8Array) => {
  assert.strictEqual(actual.byteLength, expected.byteLength)
  assert.isTrue(Buffer.compare(actual, expected) === 0, "the bytes stored differ from the bytes sent")
}

/** What the client's `HttpClient` was handed for a PUT: the body's tag and whether it was a Blob. */
interface Sent {
  readonly url: string
  readonly tag: string
  readonly blob: boolean
}

/** The in-memory platform with a client on it, recording the PUT bodies its `HttpClient` sees. */
const emulator = (client: Omit<FalClient.Options, "key" | "adminKey" | "urls"> = {}) =>
  Effect.gen(function*() {
    const sent = yield* Ref.make<ReadonlyArray<Sent>>([])
    const record = (request: HttpClientRequest.HttpClientRequest) =>
      request.method === "PUT"
        ? Ref.update(sent, (all) => [...all, {
          url: request.url,
          tag: request.body._tag,
          blob: request.body._tag === "Raw" && request.body.body instanceof Blob
        }])
        : Effect.void
    const layer = FalEmulator.layerClient({
      transport: "memory",
      client: { ...client, transformClient: (http) => HttpClient.tapRequest(http, record) }
    })
    return { layer, sent: Ref.getAndSet(sent, []) }
  })

/** Runs an effect to its end on the TestClock (a retry's backoff included). */
const clocked = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    while (Option.isNone(yield* Fiber.poll(fiber))) yield* TestClock.adjust("50 millis")
    return yield* Fiber.join(fiber)
  })

const stored = (url: string) =>
  Effect.flatMap(
    FalPlatform.FalPlatform,
    (platform) => Effect.map(platform.file(url), (file) => Option.getOrThrow(file).content)
  )

/** Counts the bytes read from a stream into `counter`, reporting each count. */
const counted = (stream: ReadableStream<Uint8Array<ArrayBuffer>>, counter: CountedBlob) =>
  stream.pipeThrough(
    new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>({
      transform: (chunk, controller) => {
        counter.pulled += chunk.byteLength
        counter.onPull(counter.pulled)
        controller.enqueue(chunk)
      }
    })
  )

/**
 * A Blob counting the bytes read from its stream and from its slices' streams (what
 * `Storage.upload` pulled), reporting each count.
 */
class CountedBlob extends Blob {
  pulled = 0
  onPull: (pulled: number) => void = () => {}
  override stream() {
    return counted(super.stream(), this)
  }
  override slice(start?: number, end?: number, contentType?: string): Blob {
    return new CountedSlice(super.slice(start, end, contentType), this)
  }
}

/** A slice of a {@link CountedBlob}: its stream counts into the whole Blob's count. */
class CountedSlice extends Blob {
  constructor(readonly part: Blob, readonly counter: CountedBlob) {
    super([part], { type: part.type })
  }
  override stream() {
    return counted(this.part.stream(), this.counter)
  }
}

const unusedTransport = Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.die("unused")))

describe("Storage.upload with uploadBody: \"whole\"", () => {
  it.effect("a single PUT sends a Uint8Array as one, a Blob as itself; \"stream\" streams both", () =>
    Effect.gen(function*() {
      const bytes = bytesOf(2 * MB + 3)
      for (const mode of ["whole", "stream"] as const) {
        const { layer, sent } = yield* emulator({ uploadBody: mode })
        yield* Effect.gen(function*() {
          for (const [name, data] of [["Uint8Array", bytes], ["Blob", new Blob([bytes])]] as const) {
            const events: Array<Storage.Progress> = []
            const file = yield* clocked(Storage.upload(data, {
              onProgress: (progress) => Effect.sync(() => events.push(progress))
            }))
            assert.strictEqual(file.parts, 0)
            same(yield* stored(file.url), bytes)
            const puts = yield* sent
            assert.strictEqual(puts.length, 1, `${mode} ${name}`)
            if (mode === "whole") {
              assert.strictEqual(puts[0].tag, name === "Blob" ? "Raw" : "Uint8Array", name)
              assert.strictEqual(puts[0].blob, name === "Blob", name)
              // reported once, when the PUT is done
              assert.deepStrictEqual(events, [{ _tag: "Progress", loaded: bytes.byteLength, total: bytes.byteLength }])
            } else {
              assert.strictEqual(puts[0].tag, "Stream", name)
              // a Uint8Array is streamed in 1 MB slices, each reported as the transport reads it
              if (name === "Uint8Array") assert.strictEqual(events.length, 3)
              assert.strictEqual(events[events.length - 1].loaded, bytes.byteLength)
            }
          }
        }).pipe(Effect.provide(layer))
      }
    }))

  it.effect("a Blob's parts go as Blob slices, read back byte for byte; a reset part is sent again", () =>
    Effect.gen(function*() {
      const { layer, sent } = yield* emulator({ uploadBody: "whole" })
      yield* Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const bytes = bytesOf(Storage.singleLimit + 3 * MB)
        yield* platform.injectFault({ endpoint: "upload", method: "PUT", fault: Fault.reset, times: 1 })
        const events: Array<Storage.Progress> = []
        const file = yield* clocked(Storage.upload(new Blob([bytes]), {
          onProgress: (progress) => Effect.sync(() => events.push(progress))
        }))
        assert.strictEqual(file.parts, 10)
        same(yield* stored(file.url), bytes)
        const puts = yield* sent
        // ten parts, one of them twice
        assert.strictEqual(puts.length, 11)
        assert.isTrue(puts.every((put) => put.tag === "Raw" && put.blob), JSON.stringify(puts.map((p) => p.tag)))
        const log = (yield* platform.httpLog).filter((entry) => entry.method === "PUT")
        assert.deepStrictEqual(log.filter((entry) => entry.status === "reset").length, 1)
        assert.strictEqual(events.length, 10)
        assert.strictEqual(events[events.length - 1].loaded, bytes.byteLength)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("with \"stream\" (the default) a Blob's parts are read into at most `concurrency` part buffers and streamed from them as they fill; a reset part is sent again from its buffer", () =>
    Effect.gen(function*() {
      const { layer, sent } = yield* emulator()
      yield* Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const bytes = bytesOf(Storage.singleLimit + 3 * MB)
        // read in chunks of 1 MB (a Blob of one part streams as one chunk)
        const blob = new CountedBlob(
          Array.from({ length: Math.ceil(bytes.byteLength / MB) }, (_, i) => bytes.subarray(i * MB, (i + 1) * MB))
        )
        let acknowledged = 0
        let held = 0
        blob.onPull = (pulled) => void (held = Math.max(held, pulled - acknowledged))
        yield* platform.injectFault({ endpoint: "upload", method: "PUT", fault: Fault.reset, times: 1 })
        const file = yield* clocked(Storage.upload(blob, {
          concurrency: 2,
          onProgress: (progress) => Effect.sync(() => void (acknowledged = progress.loaded))
        }))
        assert.strictEqual(file.parts, 10)
        same(yield* stored(file.url), bytes)
        // each part's slice was read once; the reset part went again from its buffer
        assert.strictEqual(blob.pulled, bytes.byteLength)
        const puts = yield* sent
        assert.strictEqual(puts.length, 11)
        assert.isTrue(puts.every((put) => put.tag === "Stream"), JSON.stringify(puts.map((p) => p.tag)))
        // two part buffers while their parts are sent, and the chunks being read: never the whole Blob
        assert.isAtLeast(held, 2 * Storage.partSize)
        assert.isAtMost(held, 2 * Storage.partSize + 2 * MB, `${held}`)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a Stream's parts are buffers (Uint8Array bodies) in either mode", () =>
    Effect.gen(function*() {
      const { layer, sent } = yield* emulator({ uploadBody: "whole" })
      yield* Effect.gen(function*() {
        const bytes = bytesOf(2 * Storage.partSize + 5)
        const stream = Stream.map(Stream.range(0, 20), (i) =>
          bytes.subarray(i * MB, Math.min((i + 1) * MB, bytes.length)))
        const file = yield* clocked(Storage.upload(stream))
        assert.strictEqual(file.parts, 3)
        same(yield* stored(file.url), bytes)
        assert.deepStrictEqual(
          (yield* sent).map((put) =>
            put.tag
          ),
          ["Uint8Array", "Uint8Array", "Uint8Array"]
        )
      }).pipe(Effect.provide(layer))
    }))

  it.live(
    "over undici on a real socket: a Blob in one PUT and in parts comes back byte for byte",
    () =>
      Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const client = yield* FalClient.FalClient
        assert.strictEqual(client.uploadBody, "whole")
        for (const size of [5 * MB + 1, Storage.singleLimit + 1]) {
          const bytes = bytesOf(size)
          const file = yield* Storage.upload(new Blob([bytes], { type: "video/mp4" }))
          assert.strictEqual(file.parts, size > Storage.singleLimit ? 10 : 0)
          same(yield* stored(file.url), bytes)
        }
        const puts = (yield* platform.httpLog).filter((entry) => entry.method === "PUT")
        assert.isTrue(puts.every((entry) => entry.status === 200))
        assert.strictEqual(puts.length, 11)
      }).pipe(Effect.provide(FalEmulator.layerClient({ client: { uploadBody: "whole" } }))),
    { timeout: 60_000 }
  )
})

describe("FalClient's uploadBody", () => {
  it.effect("make and layer stream by default; makeProxy and layerProxy send whole bodies; either can be set", () =>
    Effect.gen(function*() {
      const key = Redacted.make("k:s")
      const url = "/api/fal/proxy"
      assert.strictEqual((yield* FalClient.make({ key })).uploadBody, "stream")
      assert.strictEqual((yield* FalClient.make({ key, uploadBody: "whole" })).uploadBody, "whole")
      assert.strictEqual((yield* FalClient.makeProxy({ url })).uploadBody, "whole")
      assert.strictEqual((yield* FalClient.makeProxy({ url, uploadBody: "stream" })).uploadBody, "stream")
      const fromLayer = yield* Effect.provide(FalClient.FalClient, FalClient.layerProxy({ url }))
      assert.strictEqual(fromLayer.uploadBody, "whole")
      const fromKeyLayer = yield* Effect.provide(FalClient.FalClient, FalClient.layer({ key }))
      assert.strictEqual(fromKeyLayer.uploadBody, "stream")
    }).pipe(Effect.provide(unusedTransport)))

  it.effect("anything else fails the client with InvalidConfiguration naming the option", () =>
    Effect.gen(function*() {
      // what a JavaScript caller (or a bad config) may pass: the type allows only the two names
      const options = JSON.parse(`{"url":"/api/fal/proxy","uploadBody":"chunked"}`) as FalClient.ProxyOptions
      const error = yield* Effect.flip(FalClient.makeProxy(options))
      assert.strictEqual(error._tag, "InvalidConfiguration")
      assert.strictEqual(error.option, "uploadBody")
      assert.include(error.message, "chunked")
    }).pipe(Effect.provide(unusedTransport)))
})

describe("Storage.upload of a stream without bytes", () => {
  it.effect("fails with InvalidRequestOptions and sends nothing, not even the initiate", () =>
    Effect.gen(function*() {
      const { layer, sent } = yield* emulator()
      yield* Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const cases: ReadonlyArray<readonly [string, Storage.Data]> = [
          ["empty stream", Stream.empty],
          ["empty chunks", Stream.make(new Uint8Array(0), new Uint8Array(0))],
          ["declared 20 MB, empty", { stream: Stream.empty, size: 2 * Storage.partSize }]
        ]
        for (const [name, data] of cases) {
          const error = yield* Effect.flip(clocked(Storage.upload(data)))
          assert.strictEqual(error._tag, "InvalidRequestOptions", name)
          assert.deepStrictEqual(yield* platform.httpLog, [], name)
        }
        assert.deepStrictEqual(yield* sent, [])
      }).pipe(Effect.provide(layer))
    }))
})
