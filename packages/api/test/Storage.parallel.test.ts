/**
 * Parallel multipart uploads on the in-memory emulator with its link model (latency, throughput,
 * loss), all on the `TestClock`: part order in the complete call, interruption, the memory bound
 * of a stream source (counted in bytes held, not timed), loss, progress, the single PUT's retry,
 * streams of unknown length, and the concurrency settings.
 */
import { FalClient, Storage } from "@effect-fal/api"
import { FalEmulator, FalPlatform, Fault, type Link } from "@effect-fal/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Layer, Option, Redacted, Ref, Schedule, Stream, TestClock } from "effect"
import * as Crypto from "node:crypto"

const MB = 1024 * 1024
const partSize = Storage.partSize

/** Bytes that differ at every offset (a misplaced part shows). */
const bytesOf = (size: number): Uint8Array<ArrayBuffer> => {
  const block = Crypto.randomBytes(65_537)
  const out = new Uint8Array(size)
  for (let offset = 0; offset < size; offset += block.byteLength) {
    out.set(block.subarray(0, Math.min(block.byteLength, size - offset)), offset)
  }
  return out
}

/** A stream of the bytes in chunks of `chunk` bytes, produced only when pulled. */
const chunked = (bytes: Uint8Array, chunk: number) =>
  Stream.map(
    Stream.range(0, Math.ceil(bytes.byteLength / chunk) - 1),
    (index) => bytes.subarray(index * chunk, Math.min((index + 1) * chunk, bytes.byteLength))
  )

const same = (actual: Uint8Array, expected: Uint8Array) => {
  assert.strictEqual(actual.byteLength, expected.byteLength)
  assert.isTrue(Buffer.compare(actual, expected) === 0, "the bytes stored differ from the bytes sent")
}

/** The emulator's ETag of a part: its SHA-256, 32 hex digits. */
const etag = (bytes: Uint8Array) => `"${Crypto.createHash("sha256").update(bytes).digest("hex").slice(0, 32)}"`

/** The in-memory platform with a link model, a client on it, and the complete calls it sent. */
const emulator = (
  link: Link.Link | undefined,
  client: Omit<FalClient.Options, "key" | "adminKey" | "urls"> = {}
) =>
  Effect.gen(function*() {
    const completes = yield* Ref.make<ReadonlyArray<unknown>>([])
    const record = (request: HttpClientRequest.HttpClientRequest) => {
      const body = request.body
      return request.url.includes("/complete") && body._tag === "Uint8Array"
        ? Ref.update(completes, (all) => [...all, JSON.parse(new TextDecoder().decode(body.body))])
        : Effect.void
    }
    const layer = FalEmulator.layerClient({
      transport: "memory",
      config: link === undefined ? {} : { link },
      client: {
        ...client,
        transformClient: (http) => HttpClient.tapRequest(http, record)
      }
    })
    return { layer, completes: Ref.get(completes) }
  })

/** Runs an effect to its end on the TestClock, moving the clock 50 ms at a time. */
const clocked = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    while (Option.isNone(yield* Fiber.poll(fiber))) yield* TestClock.adjust("50 millis")
    return yield* Fiber.join(fiber)
  })

/** The stored file's bytes. */
const stored = (url: string) =>
  Effect.flatMap(
    FalPlatform.FalPlatform,
    (platform) => Effect.map(platform.file(url), (file) => Option.getOrThrow(file).content)
  )

/** The log entries of part PUTs, with their part number. */
const partEntries = Effect.map(
  Effect.flatMap(FalPlatform.FalPlatform, (platform) => platform.httpLog),
  (log) =>
    log.flatMap((entry) => {
      const match = entry.base === "upload" && entry.method === "PUT"
        ? /^\/upload\/[^/]+\/(\d+)$/.exec(entry.path)
        : null
      return match === null ? [] : [{ number: Number(match[1]), entry }]
    })
)

const completeEntries = Effect.map(
  Effect.flatMap(FalPlatform.FalPlatform, (platform) => platform.httpLog),
  (log) => log.filter((entry) => entry.base === "upload" && entry.path.endsWith("/complete"))
)

describe("Storage.upload: parallel parts", () => {
  it.effect("parts go concurrently; the complete lists them in order with their ETags though they finish out of order", () =>
    Effect.gen(function*() {
      const { completes, layer } = yield* emulator({ latency: "100 millis" })
      const bytes = bytesOf(3 * partSize + 123)
      const file = yield* Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        // the first part PUT to arrive takes 5 s more: it finishes last
        yield* platform.injectFault({ endpoint: "upload", method: "PUT", fault: Fault.delay("5 seconds") })
        const file = yield* clocked(Storage.upload(chunked(bytes, MB), { concurrency: 4 }))
        same(yield* stored(file.url), bytes)
        const parts = yield* partEntries
        // all four were sent at the same instant
        assert.strictEqual(new Set(parts.map((p) => p.entry.receivedAt)).size, 1)
        assert.strictEqual(parts.length, 4)
        return file
      }).pipe(Effect.provide(layer))
      assert.strictEqual(file.parts, 4)
      assert.strictEqual(file.size, bytes.byteLength)
      const expected = Array.from({ length: 4 }, (_, i) => ({
        partNumber: i + 1,
        etag: etag(bytes.subarray(i * partSize, Math.min((i + 1) * partSize, bytes.byteLength)))
      }))
      assert.deepStrictEqual(yield* completes, [{ parts: expected }])
    }))

  it.effect("at most `concurrency` parts in flight: the call's option, else the client's uploadConcurrency", () =>
    Effect.gen(function*() {
      const bytes = bytesOf(5 * partSize)
      /** The most parts received at one instant (each waits a second of latency before its answer). */
      const widest = Effect.map(partEntries, (parts) => {
        const at = new Map<number, number>()
        for (const part of parts) at.set(part.entry.receivedAt, (at.get(part.entry.receivedAt) ?? 0) + 1)
        return Math.max(...at.values())
      })
      const cases: ReadonlyArray<readonly [number | undefined, number | undefined, number]> = [
        [undefined, undefined, 5], // the default, 6, above the 5 parts
        [undefined, 2, 2],
        [3, 2, 3],
        [1, undefined, 1]
      ]
      for (const [call, perClient, expected] of cases) {
        const { layer } = yield* emulator(
          { latency: "1 second" },
          perClient === undefined ? {} : {
            uploadConcurrency: perClient
          }
        )
        const most = yield* Effect.gen(function*() {
          const file = yield* clocked(
            Storage.upload(chunked(bytes, MB), call === undefined ? {} : { concurrency: call })
          )
          same(yield* stored(file.url), bytes)
          return yield* widest
        }).pipe(Effect.provide(layer))
        assert.strictEqual(most, expected, `concurrency ${call}, uploadConcurrency ${perClient}`)
      }
      assert.strictEqual(Storage.defaultConcurrency, 6)
    }))

  it.effect("a bad concurrency fails before anything is sent; a bad uploadConcurrency fails the client", () =>
    Effect.gen(function*() {
      const { layer } = yield* emulator(undefined)
      yield* Effect.gen(function*() {
        for (const concurrency of [0, -1, 1.5, Number.NaN]) {
          const error = yield* Effect.flip(Storage.upload(new Uint8Array(10), { concurrency }))
          assert.strictEqual(error._tag, "ValidationError")
          assert.include(error.message, "concurrency")
        }
        assert.deepStrictEqual(yield* Effect.flatMap(FalPlatform.FalPlatform, (p) => p.httpLog), [])
      }).pipe(Effect.provide(layer))
      const invalid = yield* FalClient.make({ key: Redacted.make("k:s"), uploadConcurrency: 0 }).pipe(
        Effect.provide(Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.die("unused")))),
        Effect.flip
      )
      assert.strictEqual(invalid._tag, "InvalidConfiguration")
    }))

  it.effect("interrupting aborts every part in flight and sends nothing after: no more parts, no complete", () =>
    Effect.gen(function*() {
      // a stream of unknown length and one of declared size (its parts streamed as they fill)
      for (const sized of [false, true]) {
        const { layer } = yield* emulator({ latency: "1 second" })
        const stream = chunked(bytesOf(4 * partSize), MB)
        yield* Effect.gen(function*() {
          const fiber = yield* Effect.fork(
            Storage.upload(sized ? { stream, size: 4 * partSize } : stream, { concurrency: 2 })
          )
          // both parts in flight: received, waiting for their answer
          while ((yield* partEntries).length < 2) yield* TestClock.adjust("10 millis")
          yield* Fiber.interrupt(fiber)
          yield* TestClock.adjust("1 minute")
          const parts = yield* partEntries
          assert.deepStrictEqual(parts.map((p) => p.number).sort(), [1, 2])
          assert.deepStrictEqual(parts.map((p) => p.entry.status), ["aborted", "aborted"])
          assert.deepStrictEqual(yield* completeEntries, [])
          const platform = yield* FalPlatform.FalPlatform
          assert.deepStrictEqual(yield* platform.files, [])
        }).pipe(Effect.provide(layer))
      }
    }))

  it.effect("a stream is read ahead into at most `concurrency` parts: bytes pulled minus bytes acknowledged", () =>
    Effect.gen(function*() {
      // of unknown length (each part sent once full) and of declared size (each streamed as it fills)
      for (const sized of [false, true]) {
        const { layer } = yield* emulator({ latency: "1 second", throughput: 50 * MB })
        const bytes = bytesOf(5 * partSize + 7)
        let pulled = 0
        let acknowledged = 0
        let held = 0
        const stream = Stream.tap(chunked(bytes, MB), (chunk) =>
          Effect.sync(() => {
            pulled += chunk.byteLength
            held = Math.max(held, pulled - acknowledged)
          }))
        const file = yield* clocked(Storage.upload(sized ? { stream, size: bytes.byteLength } : stream, {
          concurrency: 2,
          onProgress: (progress) => Effect.sync(() => void (acknowledged = progress.loaded))
        })).pipe(Effect.provide(layer))
        assert.strictEqual(file.parts, 6)
        assert.strictEqual(pulled, bytes.byteLength)
        // two parts held while they are sent, and the next chunk at most: never the whole stream
        assert.isAtLeast(held, 2 * partSize, `sized: ${sized}`)
        assert.isAtMost(held, 2 * partSize + MB, `sized: ${sized}`)
      }
    }))

  it.effect("a part of a stream of declared size is sent as it is read: its PUT ends with its last byte, not a transfer later", () =>
    Effect.gen(function*() {
      // the stream and the link both move 10 MB a second: a part sent only once read whole would
      // end a second after its last byte was read
      const { layer } = yield* emulator({ throughput: 10 * MB })
      const bytes = bytesOf(2 * partSize + 5)
      const stream = chunked(bytes, MB).pipe(Stream.schedule(Schedule.spaced("100 millis")))
      yield* Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const file = yield* clocked(Storage.upload({ stream, size: bytes.byteLength }))
        same(yield* stored(file.url), bytes)
        const parts = [...(yield* partEntries)].sort((a, b) => a.number - b.number)
        assert.deepStrictEqual(parts.map((p) => p.number), [1, 2, 3])
        // part 1's last byte is read after 1 s (10 chunks, 100 ms apart), part 2's after 2 s
        assert.isBelow(parts[0].entry.receivedAt - started, 1_500)
        assert.isBelow(parts[1].entry.receivedAt - started, 2_500)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("5% of part PUTs lost (seeded): the file arrives intact, each part sent at most 3 times", () =>
    Effect.gen(function*() {
      // of unknown length and of declared size (a lost part streamed as it filled goes again whole)
      for (const sized of [false, true]) {
        const { layer } = yield* emulator({ latency: "50 millis", throughput: 20e6, loss: 0.05, seed: 5 })
        const bytes = bytesOf(5 * partSize - 99)
        const stream = chunked(bytes, 3 * MB + 1)
        yield* Effect.gen(function*() {
          const file = yield* clocked(Storage.upload(sized ? { stream, size: bytes.byteLength } : stream))
          same(yield* stored(file.url), bytes)
          const parts = yield* partEntries
          const resets = parts.filter((p) => p.entry.status === "reset")
          assert.isAtLeast(resets.length, 1, "the seed loses the first PUT")
          for (let number = 1; number <= 5; number++) {
            const sent = parts.filter((p) => p.number === number)
            assert.isAtMost(sent.length, 3)
            assert.strictEqual(sent[sent.length - 1].entry.status, 200)
          }
        }).pipe(Effect.provide(layer))
      }
    }))

  it.effect("progress never goes backwards and ends at the size, for parts and for a single PUT", () =>
    Effect.gen(function*() {
      const { layer } = yield* emulator({ latency: "20 millis", throughput: 100 * MB })
      yield* Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [string, Storage.Data, number, number | undefined]> = [
          ["sized stream in parts", { stream: chunked(bytesOf(25 * MB), MB), size: 25 * MB }, 25 * MB, 25 * MB],
          ["stream of unknown length", chunked(bytesOf(12 * MB), MB), 12 * MB, undefined],
          ["Uint8Array, one PUT", bytesOf(3 * MB + 1), 3 * MB + 1, 3 * MB + 1]
        ]
        for (const [name, data, size, total] of cases) {
          const events: Array<Storage.Progress> = []
          yield* clocked(Storage.upload(data, { onProgress: (p) => Effect.sync(() => events.push(p)) }))
          assert.isAbove(events.length, 1, name)
          assert.isTrue(events.every((e, i) => i === 0 || e.loaded > events[i - 1].loaded), name)
          assert.isTrue(events.every((e) => e.total === total), name)
          assert.strictEqual(events[events.length - 1].loaded, size, name)
        }
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a single PUT reset once is sent again with the same bytes (a Uint8Array, a Blob, a short sized stream)", () =>
    Effect.gen(function*() {
      const { layer } = yield* emulator(undefined)
      yield* Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const bytes = bytesOf(2 * MB + 3)
        const cases: ReadonlyArray<readonly [string, Storage.Data]> = [
          ["Uint8Array", bytes],
          ["Blob", new Blob([bytes])],
          ["sized stream", { stream: chunked(bytes, 777_777), size: bytes.byteLength }]
        ]
        for (const [name, data] of cases) {
          yield* platform.clearHttpLog
          yield* platform.injectFault({ endpoint: "upload", method: "PUT", fault: Fault.reset })
          const file = yield* clocked(Storage.upload(data))
          assert.strictEqual(file.parts, 0, name)
          same(yield* stored(file.url), bytes)
          const puts = (yield* platform.httpLog).filter((entry) => entry.method === "PUT")
          assert.deepStrictEqual(puts.map((entry) => entry.status), ["reset", 200], name)
          assert.deepStrictEqual(puts.map((entry) => entry.body), [
            `<${bytes.byteLength} bytes>`,
            `<${bytes.byteLength} bytes>`
          ])
        }
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a stream of unknown length goes in parts, however short; an empty one fails and completes nothing", () =>
    Effect.gen(function*() {
      const { completes, layer } = yield* emulator(undefined)
      yield* Effect.gen(function*() {
        const platform = yield* FalPlatform.FalPlatform
        const file = yield* clocked(Storage.upload(Stream.make(Uint8Array.of(1, 2), Uint8Array.of(3)), {
          contentType: "text/plain"
        }))
        assert.strictEqual(file.parts, 1)
        assert.strictEqual(file.size, 3)
        same(yield* stored(file.url), Uint8Array.of(1, 2, 3))
        const initiate = (yield* platform.httpLog).find((entry) => entry.base === "storage")
        assert.strictEqual(initiate?.path, "/storage/upload/initiate-multipart")
        const empty = yield* clocked(Storage.upload(Stream.empty)).pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(empty))
        const error = yield* Effect.flip(clocked(Storage.upload(Stream.empty)))
        assert.strictEqual(error._tag, "InvalidRequestOptions")
      }).pipe(Effect.provide(layer))
      assert.strictEqual((yield* completes).length, 1)
    }))
})
