/**
 * The status stream's incremental SSE decoder: the same events whatever the chunk boundaries.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc, Option } from "effect"
import * as Sse from "../src/internal/sse.js"

const encode = (text: string) => new TextEncoder().encode(text)

/** The reference: the whole text split into lines, fed to `Sse.feed` one by one. */
const reference = (text: string): ReadonlyArray<Sse.Event> => {
  const events: Array<Sse.Event> = []
  let state = Sse.initial
  const lines = text.split(/\r\n|\r|\n/)
  // the last piece has no line ending: not a line yet
  for (const line of lines.slice(0, -1)) {
    const [next, event] = Sse.feed(state, line)
    state = next
    if (Option.isSome(event)) events.push(event.value)
  }
  return events
}

/** Decodes `bytes` cut at the given offsets. */
const decodeCut = (bytes: Uint8Array, cuts: ReadonlyArray<number>): ReadonlyArray<Sse.Event> => {
  const decoder = new Sse.Decoder()
  const events: Array<Sse.Event> = []
  let from = 0
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    events.push(...decoder.push(bytes.subarray(from, cut)))
    from = cut
  }
  events.push(...decoder.push(bytes.subarray(from)))
  return events
}

describe("Sse.Decoder", () => {
  it("decodes data, event names, comments and every line ending", () => {
    const text = ": keep-alive\n\n" +
      "data: {\"status\": \"IN_QUEUE\"}\n\n" +
      "event: update\r\ndata: line 1\r\ndata: line 2\r\n\r\n" +
      "data: cr only\r\r" +
      ": ping\n\n" +
      "data: no blank line yet"
    const events = decodeCut(encode(text), [])
    assert.deepStrictEqual(events, [
      { event: undefined, data: "{\"status\": \"IN_QUEUE\"}" },
      { event: "update", data: "line 1\nline 2" },
      { event: undefined, data: "cr only" }
    ])
  })

  it("a \\r\\n cut between two chunks is one line ending, not two", () => {
    const decoder = new Sse.Decoder()
    assert.deepStrictEqual(decoder.push(encode("data: a\r")), [])
    // were the "\n" a second line ending, this blank line would dispatch "a" here, then "b" as a second event
    assert.deepStrictEqual(decoder.push(encode("\ndata: b\r")), [])
    assert.deepStrictEqual(decoder.push(encode("\n\r\n")), [{ event: undefined, data: "a\nb" }])
  })

  it("a UTF-8 sequence cut between two chunks is decoded whole", () => {
    const bytes = encode("data: café ☕\n\n")
    const split = bytes.indexOf(0xe2) + 1 // inside the three bytes of ☕
    assert.deepStrictEqual(decodeCut(bytes, [split]), [{ event: undefined, data: "café ☕" }])
  })

  it.prop(
    "cut anywhere, the decoder yields the events of the whole text",
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
    ([parts, cuts]) => {
      const text = parts.join("")
      const bytes = encode(text)
      const events = decodeCut(bytes, cuts.map((cut) => bytes.length === 0 ? 0 : cut % (bytes.length + 1)))
      // the reference reads what the bytes say (a lone surrogate is encoded as U+FFFD)
      assert.deepStrictEqual(events, reference(new TextDecoder().decode(bytes)))
    },
    { fastCheck: { numRuns: 2_000 } }
  )
})
