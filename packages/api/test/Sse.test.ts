/**
 * The status stream's SSE decoding (`@effect/experimental`'s parser through `internal/sse.ts`):
 * the same events whatever the chunk boundaries, and a pathological event a typed failure.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, FastCheck as fc, Stream } from "effect"
import * as Sse from "../src/internal/sse.js"

const encode = (text: string) => new TextEncoder().encode(text)

interface Seen {
  readonly event: string
  readonly data: string
}

/**
 * The reference, a plain reading of the format: the text split into lines (`\r\n`, `\r` or `\n`),
 * `data:` lines joined, `event:` naming the event, a blank line dispatching it, `:` a comment.
 */
const reference = (text: string): ReadonlyArray<Seen> => {
  const events: Array<Seen> = []
  let data: Array<string> = []
  let event = "message"
  const lines = text.split(/\r\n|\r|\n/)
  // the last piece has no line ending: not a line yet
  for (const line of lines.slice(0, -1)) {
    if (line.length === 0) {
      if (data.length > 0) events.push({ event, data: data.join("\n") })
      data = []
      event = "message"
      continue
    }
    if (line.startsWith(":")) continue
    const colon = line.indexOf(":")
    const name = colon === -1 ? line : line.slice(0, colon)
    const raw = colon === -1 ? "" : line.slice(colon + 1)
    const value = raw.startsWith(" ") ? raw.slice(1) : raw
    if (name === "data") data.push(value)
    else if (name === "event") event = value
  }
  return events
}

/** Decodes `bytes` cut at the given offsets, as chunks of a body. */
const decodeCut = (bytes: Uint8Array, cuts: ReadonlyArray<number>) => {
  const chunks: Array<Uint8Array> = []
  let from = 0
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    chunks.push(bytes.subarray(from, cut))
    from = cut
  }
  chunks.push(bytes.subarray(from))
  return Sse.events(Stream.fromIterable(chunks), (reason) => reason).pipe(
    Stream.map((event): Seen => ({ event: event.event, data: event.data })),
    Stream.runCollect,
    Effect.map(Chunk.toArray)
  )
}

describe("SSE decoding", () => {
  it.effect("decodes data, event names, comments and every line ending", () =>
    Effect.gen(function*() {
      const text = ": keep-alive\n\n" +
        "data: {\"status\": \"IN_QUEUE\"}\n\n" +
        "event: update\r\ndata: line 1\r\ndata: line 2\r\n\r\n" +
        "data: cr only\r\r" +
        ": ping\n\n" +
        "data: no blank line yet"
      assert.deepStrictEqual(yield* decodeCut(encode(text), []), [
        { event: "message", data: "{\"status\": \"IN_QUEUE\"}" },
        { event: "update", data: "line 1\nline 2" },
        { event: "message", data: "cr only" }
      ])
    }))

  it.effect("a \\r\\n cut between two chunks is one line ending, not two", () =>
    Effect.gen(function*() {
      const bytes = encode("data: a\r\ndata: b\r\n\r\n")
      // were the "\n" after a cut "\r" a second line ending, "a" would be dispatched alone
      assert.deepStrictEqual(yield* decodeCut(bytes, [8, 17]), [{ event: "message", data: "a\nb" }])
    }))

  it.effect("a lone \\r ends a line without swallowing a later \\n", () =>
    Effect.gen(function*() {
      // the parser, given the "\r" itself, drops this event: it sees the "\r" again while reading
      // the "x" line and then skips the blank line's "\n"
      assert.deepStrictEqual(yield* decodeCut(encode("data:\rx\n\n"), []), [{ event: "message", data: "" }])
      assert.deepStrictEqual(yield* decodeCut(encode("data: a\rdata: b\n\nevent: e\rdata: c\r\n\n"), []), [
        { event: "message", data: "a\nb" },
        { event: "e", data: "c" }
      ])
    }))

  it.effect("a UTF-8 sequence cut between two chunks is decoded whole", () =>
    Effect.gen(function*() {
      const bytes = encode("data: café ☕\n\n")
      const split = bytes.indexOf(0xe2) + 1 // inside the three bytes of ☕
      assert.deepStrictEqual(yield* decodeCut(bytes, [split]), [{ event: "message", data: "café ☕" }])
    }))

  it.effect("an event past the parser's maximum size is the caller's typed failure, not a defect", () =>
    Effect.gen(function*() {
      const huge = Stream.make(encode("data: "), new Uint8Array(11 * 1024 * 1024).fill(0x61))
      const error = yield* Sse.events(huge, (reason) => `unreadable: ${reason}`).pipe(Stream.runDrain, Effect.flip)
      assert.include(error, "unreadable")
    }))

  it.effect.prop(
    "cut anywhere, the events are those of the whole text",
    [
      fc.array(
        fc.oneof(
          fc.constantFrom("\n", "\r", "\r\n", ":", "data:", "data: ", "event: ", "id: 1", "é", "☕"),
          fc.string({ maxLength: 8 })
        ),
        { maxLength: 40 }
      ),
      fc.array(fc.nat(), { maxLength: 8 })
    ],
    ([parts, cuts]) =>
      Effect.gen(function*() {
        const bytes = encode(parts.join(""))
        const events = yield* decodeCut(bytes, cuts.map((cut) => bytes.length === 0 ? 0 : cut % (bytes.length + 1)))
        // the reference reads what the bytes say (a lone surrogate is encoded as U+FFFD)
        assert.deepStrictEqual(events, reference(new TextDecoder().decode(bytes)))
      }),
    { fastCheck: { numRuns: 500 } }
  )
})
