/**
 * The gateway bounds what it reads: a request body declared larger than 128 MiB is answered 413
 * at once, before its body is read (the sender has sent almost none of it by then).
 */
import { FalEmulator } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as http from "node:http"
import { Readable } from "node:stream"

const MiB = 1024 * 1024

/** POSTs `size` bytes of filler, made as they are sent; drops the request once answered. */
const postFiller = (url: string, size: number) =>
  Effect.async<{ readonly status: number; readonly text: string; readonly produced: number }, Error>((resume) => {
    const filler = Buffer.alloc(64 * 1024, 0x61)
    let produced = 0
    const source = new Readable({
      read() {
        if (produced >= size) return void this.push(null)
        const n = Math.min(filler.byteLength, size - produced)
        produced += n
        this.push(filler.subarray(0, n))
      }
    })
    const request = http.request(url, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(size) }
    })
    let answered = false
    request.on("response", (response) => {
      const parts: Array<Buffer> = []
      response.on("data", (part: Buffer) => parts.push(part))
      response.on("end", () => {
        answered = true
        resume(Effect.succeed({ status: response.statusCode ?? 0, text: Buffer.concat(parts).toString(), produced }))
        source.destroy()
        request.destroy()
      })
    })
    request.on("error", (error) => {
      if (!answered) resume(Effect.fail(error))
    })
    source.pipe(request)
    return Effect.sync(() => {
      source.destroy()
      request.destroy()
    })
  })

describe("the gateway's body limit", () => {
  it.live("a body declared over 128 MiB is answered 413 before it is read", () =>
    Effect.gen(function*() {
      const { urls } = yield* FalEmulator.FalEmulator
      const answer = yield* postFiller(`${urls.queue}/fal-ai/echo`, 200 * MiB)
      assert.strictEqual(answer.status, 413)
      assert.deepStrictEqual(JSON.parse(answer.text), { detail: `Request body larger than ${128 * MiB} bytes` })
      assert.isBelow(answer.produced, 32 * MiB)
    }).pipe(Effect.provide(FalEmulator.layer())))
})
