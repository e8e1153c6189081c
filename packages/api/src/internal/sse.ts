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
