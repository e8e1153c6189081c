/**
 * How the storage routes keep a multipart file: as its parts, joined into one buffer the first
 * time its bytes are read (`lazily`), once, and then the parts are let go; the file read back
 * through the platform equals the bytes sent.
 */
import { FalPlatform } from "@effect-fal/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { join } from "../src/internal/http.js"
import { lazily } from "../src/internal/storage/files.js"

const authorization = `Key ${FalPlatform.defaultKeys.user}`

describe("storage files", () => {
  it("lazily: computed on the first read only, once; a spread reads the value", () => {
    let computed = 0
    const record = lazily({ url: "u" }, "bytes", () => {
      computed += 1
      return join([new Uint8Array([1, 2]), new Uint8Array([3])])
    })
    assert.strictEqual(computed, 0)
    const first = record.bytes
    assert.deepStrictEqual(Array.from(first), [1, 2, 3])
    assert.strictEqual(record.bytes, first)
    assert.deepStrictEqual({ ...record }, { url: "u", bytes: first })
    assert.strictEqual(computed, 1)
  })

  it.effect("a multipart file read back is its parts in order, the same buffer on every read", () =>
    Effect.gen(function*() {
      const platform = yield* FalPlatform.FalPlatform
      const client = yield* HttpClient.HttpClient
      const json = <A>(request: HttpClientRequest.HttpClientRequest) =>
        Effect.flatMap(client.execute(request), (response) => response.json).pipe(
          Effect.scoped,
          Effect.orDie,
          // the emulator's answers, as the storage protocol defines them
          Effect.map((body) => body as A)
        )
      const initiated = yield* json<{ upload_url: string; file_url: string }>(
        HttpClientRequest.post("https://rest.fal.ai/storage/upload/initiate-multipart?storage_type=fal-cdn-v3").pipe(
          HttpClientRequest.setHeader("authorization", authorization),
          HttpClientRequest.bodyUnsafeJson({ content_type: "application/octet-stream", file_name: "f.bin" })
        )
      )
      const url = new URL(initiated.upload_url)
      const at = (suffix: string) => `${url.origin}${url.pathname}/${suffix}${url.search}`
      // part 2 first: the file is in part order, not in order of arrival
      const parts = [new Uint8Array(2 * 1024 * 1024).fill(7), new Uint8Array(3).fill(9)]
      const answers = []
      for (const number of [2, 1]) {
        answers.push(
          yield* json<{ partNumber: number; etag: string }>(
            HttpClientRequest.put(at(String(number))).pipe(HttpClientRequest.bodyUint8Array(parts[number - 1]))
          )
        )
      }
      yield* json(
        HttpClientRequest.post(at("complete")).pipe(
          HttpClientRequest.bodyUnsafeJson({ parts: answers.sort((a, b) => a.partNumber - b.partNumber) })
        )
      )
      const read = Effect.map(platform.file(initiated.file_url), (file) => Option.getOrThrow(file).content)
      const first = yield* read
      assert.strictEqual(first.byteLength, 2 * 1024 * 1024 + 3)
      assert.isTrue(first.subarray(0, 2 * 1024 * 1024).every((byte) => byte === 7))
      assert.deepStrictEqual(Array.from(first.subarray(2 * 1024 * 1024)), [9, 9, 9])
      assert.strictEqual(yield* read, first)
    }).pipe(Effect.provide(FalPlatform.layerClient())))
})
