/**
 * Server-sent events on `@effect/experimental`'s `Sse` (its parser and channel): a body's bytes
 * in, its events out, whatever the chunk boundaries. Two adaptations, each tested in
 * `test/Sse.test.ts`:
 * - The parser reads a `\r` that ends a chunk as a whole line ending, so a `\r\n` cut between two
 *   chunks becomes two line endings (a blank line: an event dispatched early). A chunk's final
 *   `\r` is held back until the next chunk (or the end) arrives.
 * - The parser *dies* when an event grows past its maximum size (10 MiB), and a server's bytes
 *   must never crash a fiber, so that defect becomes the caller's typed failure.
 */
import * as Sse from "@effect/experimental/Sse"
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

export type Event = Sse.Event

/** The events of an event stream's bytes; `unreadable` turns a parser failure into the caller's error. */
export const events = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  unreadable: (reason: string) => E
): Stream.Stream<Sse.Event, E, R> =>
  bytes.pipe(
    Stream.decodeText(),
    holdBackCr,
    Stream.pipeThroughChannel(Sse.makeChannel<E, unknown>()),
    Stream.catchAllCause((cause) =>
      Option.match(Cause.dieOption(cause), {
        onNone: () => Stream.failCause(cause),
        onSome: (defect) => Stream.fail(unreadable(defect instanceof Error ? defect.message : String(defect)))
      })
    )
  )

/** Text chunks whose final `\r` is moved to the start of the next chunk (see the module's note). */
const holdBackCr = <E, R>(text: Stream.Stream<string, E, R>): Stream.Stream<string, E, R> =>
  Stream.suspend(() => {
    let pending = false
    return text.pipe(
      Stream.filterMap((chunk) => {
        const whole = pending ? `\r${chunk}` : chunk
        pending = whole.endsWith("\r")
        const ready = pending ? whole.slice(0, -1) : whole
        return ready.length > 0 ? Option.some(ready) : Option.none()
      }),
      Stream.concat(Stream.suspend(() => pending ? Stream.make("\r") : Stream.empty))
    )
  })
