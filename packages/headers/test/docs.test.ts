import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Examples from "./examples/guide.js"

describe("docs/headers.md examples", () => {
  it("say what they print", () => {
    assert.deepStrictEqual(
      Examples.wire,
      Either.right({
        headers: { "X-Fal-Request-Timeout": "10", "X-Fal-No-Retry": "1" },
        query: { fal_max_queue_length: "5" }
      })
    )
    assert.deepStrictEqual(
      Examples.modern,
      Either.right({ headers: { "X-Fal-Request-Start-Timeout": "30" }, query: {} })
    )
    assert.deepStrictEqual(Examples.rejectedMessages, [
      "X-Fal-Request-Timeout: must be greater than 0.1 seconds (got 0.05 seconds)",
      "X-Fal-Runner-Hint: must contain only visible ASCII characters (no spaces, CR, LF or other control characters) (got \"a\\r\\nX-Injected: 1\")"
    ])
    assert.deepStrictEqual(Examples.meta, {
      requestId: "764cabcf-b745-4b3e-ae38-1200304cf45b",
      billableUnits: 0.5,
      runnerHints: ["runner-7f3a", "runner-9c1d"]
    })
    assert.deepStrictEqual(Examples.sticky, { runnerHint: "runner-7f3a" })
    assert.deepStrictEqual(Examples.batch, {
      priority: "low",
      runnerHint: "runner-7f3a",
      objectLifecycle: "1 day",
      storeIO: false
    })
  })
})
