import type { FalError } from "@effect-fal/api"
import { Storage } from "@effect-fal/api"
import { StorageEmulator } from "@effect-fal/testing"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Duration, Effect, Fiber, Option, Ref, Stream, TestClock } from "effect"
import { client, download, inProcess, pattern, same, serve } from "./utils/storage.js"

const MB = 1024 * 1024
/** Transfers of tens of MB: seconds on a loaded 2-core machine. */
const big = 120_000

/** A stream of the bytes in uneven chunks (none aligned with a part). */
const chunked = (bytes: Uint8Array, size: number) =>
  Stream.map(
    Stream.range(0, Math.ceil(bytes.byteLength / size) - 1),
    (index) => bytes.subarray(index * size, Math.min((index + 1) * size, bytes.byteLength))
  )

const partPath = /^\/upload\/[^/]+\/(\d+)\?token=/

describe("Storage.upload through the loopback storage routes", () => {
  it.scopedLive(
    "0 bytes, 1 byte and 5 MB go in one PUT each and read back byte for byte",
    () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const five = pattern(5 * MB)
        const cases: ReadonlyArray<readonly [string, Storage.Data, Uint8Array]> = [
          ["empty Uint8Array", new Uint8Array(0), new Uint8Array(0)],
          ["empty Blob", new Blob([]), new Uint8Array(0)],
          ["1 byte", Uint8Array.of(42), Uint8Array.of(42)],
          ["5 MB Uint8Array", five, five],
          ["5 MB Blob", new Blob([five]), five],
          ["5 MB stream", { stream: chunked(five, 777_777), size: five.byteLength }, five]
        ]
        for (const [name, data, expected] of cases) {
          const file = yield* Storage.upload(data).pipe(Effect.provide(client(server)))
          assert.strictEqual(file.size, expected.byteLength, name)
          assert.strictEqual(file.parts, 0, name)
          assert.strictEqual(file.contentType, "application/octet-stream", name)
          assert.match(file.fileName, /^\d+\.bin$/, name)
          const back = yield* download(file.url)
          assert.strictEqual(back.status, 200, name)
          assert.isTrue(same(back.bytes, expected), name)
        }
        const seen = yield* server.seen
        const initiates = seen.filter((r) => r.path.startsWith("/storage/upload/initiate?storage_type=fal-cdn-v3"))
        const puts = seen.filter((r) => r.method === "PUT")
        assert.strictEqual(initiates.length, cases.length)
        assert.strictEqual(puts.length, cases.length)
        assert.deepStrictEqual(puts.map((r) => r.contentLength), cases.map(([, , bytes]) => String(bytes.byteLength)))
        assert.isTrue(initiates.every((r) => r.authorization === "Key storage-test-key"))
        assert.isTrue(puts.every((r) => r.authorization === undefined))
      }),
    big
  )

  it.scopedLive(
    "a 95 MB stream in uneven chunks is cut into exact parts; a part failing once is sent again",
    () =>
      Effect.gen(function*() {
        // part 3 fails once: its retry must send the same bytes (the stream's parts share one buffer)
        const failed = yield* Ref.make(false)
        const server = yield* serve((seen) =>
          seen.method === "PUT" && partPath.exec(seen.path)?.[1] === "3"
            ? Ref.getAndSet(failed, true).pipe(Effect.map((already) =>
              already
                ? Option.none()
                : Option.some(HttpServerResponse.unsafeJson({ detail: "busy" }, { status: 503 }))
            ))
            : Effect.succeedNone
        )
        const bytes = pattern(95 * MB + 3)
        const file = yield* Storage.upload({ stream: chunked(bytes, 3 * MB + 1), size: bytes.byteLength }, {
          contentType: "application/x-tar",
          fileName: "backup.tar"
        }).pipe(Effect.provide(client(server)))
        assert.strictEqual(file.parts, 10)
        assert.strictEqual(file.fileName, "backup.tar")
        assert.isTrue(file.url.endsWith("/backup.tar"))
        const back = yield* download(file.url)
        assert.isTrue(same(back.bytes, bytes))
        const parts = (yield* server.seen).flatMap((r) => {
          const number = r.method === "PUT" ? partPath.exec(r.path)?.[1] : undefined
          return number === undefined ? [] : [Number(number)]
        })
        // 6 in flight at once: in any order, part 3 twice
        assert.deepStrictEqual([...parts].sort((a, b) => a - b), [1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10])
      }),
    big
  )

  it.scopedLive(
    "a part that keeps failing fails the upload with a typed error and no complete",
    () =>
      Effect.gen(function*() {
        const server = yield* serve((seen) =>
          Effect.succeed(
            seen.method === "PUT" && partPath.exec(seen.path)?.[1] === "1"
              ? Option.some(HttpServerResponse.unsafeJson({ detail: "down" }, { status: 500 }))
              : Option.none()
          )
        )
        const error = yield* Storage.upload(pattern(91 * MB)).pipe(Effect.provide(client(server)), Effect.flip)
        assert.strictEqual(error._tag, "ServerError")
        const seen = yield* server.seen
        assert.strictEqual(seen.filter((r) => partPath.exec(r.path)?.[1] === "1").length, 4)
        assert.isFalse(seen.some((r) => r.path.includes("/complete")))
        assert.deepStrictEqual(yield* server.files, [])
      }),
    big
  )

  it.scopedLive("interrupting a multipart upload aborts it and sends no complete", () =>
    Effect.gen(function*() {
      const reached = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const server = yield* serve((seen) =>
        seen.method === "PUT" && partPath.exec(seen.path)?.[1] === "2"
          ? Deferred.succeed(reached, undefined).pipe(
            Effect.zipRight(Deferred.await(release)),
            Effect.as(Option.none())
          )
          : Effect.succeedNone
      )
      // one part in flight: the test's server holds part 2, so no other part may be sent after it
      const fiber = yield* Storage.upload(pattern(95 * MB), { concurrency: 1 }).pipe(
        Effect.provide(client(server)),
        Effect.fork
      )
      yield* Deferred.await(reached)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.succeed(release, undefined)
      const seen = yield* server.seen
      assert.isFalse(seen.some((r) => r.path.includes("/complete")))
      assert.isTrue(seen.filter((r) => r.method === "PUT").length <= 3)
      assert.deepStrictEqual(yield* server.files, [])
    }), big)

  it.scopedLive("a PUT never carries Authorization, though the upload URL lies under the storage base", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      // The upload origin is the storage base itself: the client would add the key there.
      const file = yield* Storage.upload(Uint8Array.of(1, 2, 3)).pipe(Effect.provide(client(server)))
      assert.isTrue(file.url.startsWith(server.base))
      const seen = yield* server.seen
      assert.deepStrictEqual(seen.map((r) => [r.method, r.authorization]), [
        ["POST", "Key storage-test-key"],
        ["PUT", undefined]
      ])
    }))

  it.scopedLive("the lifecycle travels as X-Fal-Object-Lifecycle JSON", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const lifecycles: ReadonlyArray<Storage.ObjectLifecycle | undefined> = [
        undefined,
        {},
        { expiration: "1 hour" },
        { expiration: "never" },
        { initialAcl: { default: "hide" } },
        {
          expiration: Duration.days(2),
          initialAcl: {
            default: "forbid",
            rules: [{ user: "ada", decision: "allow" }, { user: "bob", decision: "hide" }]
          }
        }
      ]
      for (const lifecycle of lifecycles) {
        yield* Storage.upload(Uint8Array.of(7), { lifecycle }).pipe(Effect.provide(client(server)))
      }
      const headers = (yield* server.seen).filter((r) => r.method === "POST").map((r) => r.lifecycle)
      assert.deepStrictEqual(headers, [
        undefined,
        undefined,
        "{\"expiration_duration_seconds\":3600}",
        "{\"expiration_duration_seconds\":null}",
        "{\"initial_acl\":{\"default\":\"hide\"}}",
        "{\"expiration_duration_seconds\":172800,\"initial_acl\":{\"default\":\"forbid\",\"rules\":[{\"user\":\"ada\",\"decision\":\"allow\"},{\"user\":\"bob\",\"decision\":\"hide\"}]}}"
      ])
      // The emulator reads back what was sent.
      assert.deepStrictEqual(StorageEmulator.parseLifecycle(headers[5]), {
        expirationSeconds: 172800,
        initialAcl: {
          default: "forbid",
          rules: [{ user: "ada", decision: "allow" }, { user: "bob", decision: "hide" }]
        }
      })
    }))

  it.scopedLive("bad input fails with InvalidRequestOptions before anything is sent", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const bad: ReadonlyArray<readonly [string, Effect.Effect<Storage.UploadedFile, FalError.FalError, never>]> = [
        [
          "Content-Type",
          Storage.upload(Uint8Array.of(1), { contentType: "text/plain\r\nX-Evil: 1" }).pipe(
            Effect.provide(client(server))
          )
        ],
        [
          "Content-Type",
          Storage.upload(new Blob(["x"], { type: "text/plain" }), { contentType: "plain" }).pipe(
            Effect.provide(client(server))
          )
        ],
        [
          "Content-Length",
          Storage.upload({ stream: Stream.make(Uint8Array.of(1)), size: 0 }).pipe(Effect.provide(client(server)))
        ],
        [
          "Content-Length",
          Storage.upload({ stream: Stream.make(Uint8Array.of(1)), size: -1 }).pipe(Effect.provide(client(server)))
        ],
        [
          "Content-Length",
          Storage.upload({ stream: Stream.make(Uint8Array.of(1)), size: 1.5 }).pipe(Effect.provide(client(server)))
        ],
        [
          "X-Fal-Object-Lifecycle",
          Storage.upload(Uint8Array.of(1), { lifecycle: { expiration: -5 } }).pipe(Effect.provide(client(server)))
        ],
        [
          "X-Fal-Object-Lifecycle",
          Storage.upload(Uint8Array.of(1), { lifecycle: { expiration: "-5 seconds" } }).pipe(
            Effect.provide(client(server))
          )
        ],
        [
          "X-Fal-Object-Lifecycle",
          Storage.upload(Uint8Array.of(1), { lifecycle: { expiration: "1500 millis" } }).pipe(
            Effect.provide(client(server))
          )
        ],
        [
          "X-Fal-Object-Lifecycle",
          Storage.upload(Uint8Array.of(1), { lifecycle: { initialAcl: { rules: [{ user: "", decision: "allow" }] } } })
            .pipe(
              Effect.provide(client(server))
            )
        ]
      ]
      for (const [name, upload] of bad) {
        const error = yield* Effect.flip(upload)
        assert.strictEqual(error._tag, "InvalidRequestOptions", name)
        if (error._tag === "InvalidRequestOptions") assert.strictEqual(error.issues[0].name, name)
      }
      assert.deepStrictEqual(yield* server.seen, [])
    }))

  it.scopedLive(
    "a stream shorter or longer than its declared size fails and stores nothing",
    () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const short = yield* Storage.upload({ stream: Stream.make(Uint8Array.of(1, 2)), size: 3 }).pipe(
          Effect.provide(client(server)),
          Effect.flip
        )
        const long = yield* Storage.upload({ stream: Stream.make(Uint8Array.of(1, 2, 3, 4)), size: 3 }).pipe(
          Effect.provide(client(server)),
          Effect.flip
        )
        // above the single-PUT limit: cut short after the first part, or one chunk beyond the declared size
        const shortParts = yield* Storage.upload({
          stream: Stream.make(pattern(15 * MB)),
          size: 91 * MB
        }).pipe(Effect.provide(client(server)), Effect.flip)
        const longParts = yield* Storage.upload({
          stream: Stream.make(new Uint8Array(92 * MB)),
          size: 91 * MB
        }).pipe(Effect.provide(client(server)), Effect.flip)
        for (const error of [short, long, shortParts, longParts]) {
          assert.strictEqual(error._tag, "InvalidRequestOptions")
          if (error._tag === "InvalidRequestOptions") assert.strictEqual(error.issues[0].name, "Content-Length")
        }
        const seen = yield* server.seen
        // of the short stream at most its two parts began (the second is aborted when the stream
        // ends short); of the long one, none; no upload completed
        assert.isAtMost(seen.filter((r) => partPath.test(r.path)).length, 2)
        assert.isFalse(seen.some((r) => r.path.includes("/complete")))
        assert.deepStrictEqual(yield* server.files, [])
      }),
    big
  )

  it.scopedLive("a failure of the caller's stream comes out as it was", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const error = yield* Storage.upload({ stream: Stream.fail("disk gone" as const), size: 10 }).pipe(
        Effect.provide(client(server)),
        Effect.flip
      )
      assert.strictEqual(error, "disk gone")
    }))

  it.scopedLive("uploadWithProgress streams progress and ends with the file", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const bytes = pattern(3 * MB + 5)
      const events = Chunk.toReadonlyArray(
        yield* Stream.runCollect(Storage.uploadWithProgress(bytes)).pipe(Effect.provide(client(server)))
      )
      const last = events[events.length - 1]
      assert.strictEqual(last._tag, "Uploaded")
      const progress = events.filter((e): e is Storage.Progress => e._tag === "Progress")
      assert.strictEqual(progress.length, 4)
      assert.deepStrictEqual(progress[3], { _tag: "Progress", loaded: bytes.byteLength, total: bytes.byteLength })
      if (last._tag === "Uploaded") assert.isTrue(same((yield* download(last.file.url)).bytes, bytes))
    }))

  it.scopedLive("uploadInput replaces nested Blobs, Files and Uint8Arrays by their URLs", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const image = new Blob(["png bytes"], { type: "image/png" })
      const audio = new File([pattern(1000)], "voice.wav", { type: "audio/wav" })
      const raw = pattern(70_000)
      const when = new Date(0)
      const input = {
        prompt: "a cat",
        image_url: image,
        steps: 4,
        when,
        references: [image, { audio, nested: [raw, null, "text"] }]
      }
      const out = yield* Storage.uploadInput(input, { concurrency: 2 }).pipe(Effect.provide(client(server)))
      assert.strictEqual(out.prompt, "a cat")
      assert.strictEqual(out.steps, 4)
      assert.strictEqual(out.when, when)
      assert.strictEqual(typeof out.image_url, "string")
      assert.strictEqual(out.references[0], out.image_url)
      const [, second] = out.references
      assert.isTrue(typeof second === "object" && second !== null)
      if (typeof second === "object") {
        assert.isTrue(second.audio.endsWith("/voice.wav"))
        assert.deepStrictEqual(second.nested.slice(1), [null, "text"])
        const rawUrl = second.nested[0]
        assert.isTrue(typeof rawUrl === "string")
        const rawBack = yield* download(String(rawUrl))
        assert.isTrue(same(rawBack.bytes, raw))
        const audioBack = yield* download(second.audio)
        assert.strictEqual(audioBack.type, "audio/wav")
        assert.isTrue(same(audioBack.bytes, new Uint8Array(yield* Effect.promise(() => audio.arrayBuffer()))))
      }
      const imageBack = yield* download(out.image_url)
      assert.strictEqual(new TextDecoder().decode(imageBack.bytes), "png bytes")
      // The same Blob twice is uploaded once; the input itself is left as it was.
      assert.strictEqual((yield* server.seen).filter((r) => r.method === "PUT").length, 3)
      assert.strictEqual(input.image_url, image)
      const untouched = { a: [1, { b: "c" }] }
      assert.strictEqual(yield* Storage.uploadInput(untouched).pipe(Effect.provide(client(server))), untouched)
    }))
})

describe("uploaded files and their lifecycle on the Effect clock", () => {
  it.effect("an expired upload answers 404, for good; one kept forever stays", () =>
    Effect.gen(function*() {
      const storage = yield* inProcess
      const get = (url: string) => Effect.promise(() => storage.fetch(url).then((r) => r.status))
      const expiring = yield* Storage.upload(Uint8Array.of(1), { lifecycle: { expiration: "1 hour" } }).pipe(
        Effect.provide(storage.layer)
      )
      const kept = yield* Storage.upload(Uint8Array.of(2), { lifecycle: { expiration: "never" } }).pipe(
        Effect.provide(storage.layer)
      )
      assert.strictEqual(yield* get(expiring.url), 200)
      yield* TestClock.adjust("59 minutes")
      assert.strictEqual(yield* get(expiring.url), 200)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* get(expiring.url), 404)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* get(expiring.url), 404)
      yield* TestClock.adjust("3650 days")
      assert.strictEqual(yield* get(kept.url), 200)
    }))

  it.effect("the emulator refuses a PUT that carries Authorization", () =>
    Effect.gen(function*() {
      const storage = yield* inProcess
      const answer = yield* Effect.promise(async () => {
        const initiated = await storage.fetch(`${storage.base}/storage/upload/initiate?storage_type=fal-cdn-v3`, {
          method: "POST",
          headers: { authorization: "Key k", "content-type": "application/json" },
          body: JSON.stringify({ content_type: "text/plain", file_name: "a.txt" })
        }).then((r) => r.json() as Promise<{ upload_url: string }>)
        return storage.fetch(initiated.upload_url, {
          method: "PUT",
          headers: { authorization: "Key k" },
          body: "x"
        }).then((r) => r.status)
      })
      assert.strictEqual(answer, 400)
    }))
})
