import * as Option from "effect/Option"

/** One Server-Sent Event. */
export interface Event {
  readonly event: string | undefined
  readonly data: string
}

export interface State {
  readonly event: string | undefined
  readonly data: ReadonlyArray<string>
}

export const initial: State = { event: undefined, data: [] }

const field = (line: string): readonly [string, string] => {
  const colon = line.indexOf(":")
  if (colon === -1) return [line, ""]
  const value = line.slice(colon + 1)
  return [line.slice(0, colon), value.startsWith(" ") ? value.slice(1) : value]
}

/**
 * Feeds one line (without its line ending) to the parser: a blank line dispatches the pending
 * event, a line starting with `:` is a comment (a keep-alive), `data:` lines accumulate.
 */
export const feed = (state: State, line: string): readonly [State, Option.Option<Event>] => {
  if (line.length === 0) {
    return state.data.length === 0
      ? [initial, Option.none()]
      : [initial, Option.some({ event: state.event, data: state.data.join("\n") })]
  }
  if (line.startsWith(":")) return [state, Option.none()]
  const [name, value] = field(line)
  switch (name) {
    case "data":
      return [{ ...state, data: [...state.data, value] }, Option.none()]
    case "event":
      return [{ ...state, event: value }, Option.none()]
    default:
      return [state, Option.none()]
  }
}

/**
 * An incremental decoder: the bytes of an event stream in, chunk by chunk and cut anywhere
 * (inside a line, a UTF-8 sequence, or a `\r\n`), the events they complete out. Lines end with
 * `\n`, `\r\n` or `\r`, as the SSE format allows; an event cut off by the end of the stream (no
 * blank line after it) is never dispatched, so the end needs no call.
 *
 * Hand-written rather than a pipeline of `Stream` stages (`decodeText`, `splitLines`, a
 * `mapAccum` over {@link feed}, a `filterMap`): every stage costs a channel executor and the
 * closures of its pending pull for as long as the stream is open, which for a status stream is
 * the whole run of a job; this is one object per connection (a `TextDecoder`, the incomplete
 * line, the pending event) and one call per chunk.
 */
export class Decoder {
  private readonly text = new TextDecoder()
  /** The incomplete last line of the chunks so far. */
  private line = ""
  /** The last chunk ended with `\r`: a `\n` opening the next one completes that line ending. */
  private afterCr = false
  private state: State = initial

  /** Decodes one chunk; returns the events it completes, in order (often none). */
  push(bytes: Uint8Array): ReadonlyArray<Event> {
    return this.lines(this.text.decode(bytes, { stream: true }))
  }

  private lines(text: string): Array<Event> {
    const events: Array<Event> = []
    // nothing decoded (an empty chunk, or only part of a UTF-8 sequence): a pending "\r" stays pending
    if (text.length === 0) return events
    let start = 0
    if (this.afterCr && text.charCodeAt(0) === 10) start = 1
    this.afterCr = false
    for (let i = start; i < text.length; i++) {
      const code = text.charCodeAt(i)
      if (code !== 10 && code !== 13) continue
      const line = this.line.length === 0 ? text.slice(start, i) : this.line + text.slice(start, i)
      this.line = ""
      this.feedLine(line, events)
      if (code === 13) {
        if (i + 1 === text.length) this.afterCr = true
        else if (text.charCodeAt(i + 1) === 10) i++
      }
      start = i + 1
    }
    if (start < text.length) this.line += text.slice(start)
    return events
  }

  private feedLine(line: string, events: Array<Event>): void {
    const [next, event] = feed(this.state, line)
    this.state = next
    if (Option.isSome(event)) events.push(event.value)
  }
}
