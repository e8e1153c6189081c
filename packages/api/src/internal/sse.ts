/**
 * Server-sent events on `@effect/experimental`'s `Sse` (its parser and channel): a body's bytes
 * in, its events out, whatever the chunk boundaries. Two adaptations, each tested in
 * `test/Sse.test.ts`:
 * - Every line ending reaches the parser as `\n`. The parser handles `\r` and `\r\n` itself, but
 *   not reliably: it rescans a chunk from its start after each line, and a lone `\r` seen again
 *   makes it skip the `\n` of a later line (`"data:\rx\n\n"` loses its event), and a `\r` that
 *   ends a chunk is read as a whole line ending even when the next chunk starts with its `\n`. So
 *   a chunk's final `\r` is held back until the next chunk (or the end) arrives, and then `\r\n`
 *   and lone `\r` become `\n`.
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
    normalizeLineEndings,
    Stream.pipeThroughChannel(Sse.makeChannel<E, unknown>()),
    Stream.catchAllCause((cause) =>
      Option.match(Cause.dieOption(cause), {
        onNone: () => Stream.failCause(cause),
        onSome: (defect) => Stream.fail(unreadable(defect instanceof Error ? defect.message : String(defect)))
      })
    )
  )

const crlf = /\r\n?/g

/**
 * Text chunks whose final `\r` is moved to the start of the next chunk, and whose line endings
 * are all `\n` (see the module's note).
 */
const normalizeLineEndings = <E, R>(text: Stream.Stream<string, E, R>): Stream.Stream<string, E, R> =>
  Stream.suspend(() => {
    let pending = false
    return text.pipe(
      Stream.filterMap((chunk) => {
        const whole = pending ? `\r${chunk}` : chunk
        pending = whole.endsWith("\r")
        const ready = pending ? whole.slice(0, -1) : whole
        return ready.length > 0 ? Option.some(ready.replace(crlf, "\n")) : Option.none()
      }),
      Stream.concat(Stream.suspend(() => pending ? Stream.make("\n") : Stream.empty))
    )
  })
