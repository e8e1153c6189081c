/**
 * The examples of docs/headers.md. This file is type-checked by `pnpm check` and run by
 * `pnpm test` (test/docs.test.ts imports it), so the guide cannot drift.
 */
import type { InvalidRequestOptions } from "@effect-fal/headers"
import { RequestOptions, ResponseMeta, StartTimeout } from "@effect-fal/headers"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { pipe } from "effect/Function"

// --- Building options ---------------------------------------------------------------------

/** Team-wide defaults: keep no payloads, let output media expire after a day. */
export const privacyDefaults = RequestOptions.make({ storeIO: false, objectLifecycle: "1 day" })

/** A latency-sensitive call: fail fast rather than queue. */
export const interactive = RequestOptions.combineAll([
  RequestOptions.startTimeout("10 seconds"),
  RequestOptions.maxQueueLength(5),
  RequestOptions.noRetry()
])

/** A batch job: lower priority, sticky to the runner that has our LoRA loaded. */
export const batch = pipe(
  privacyDefaults,
  RequestOptions.combine(RequestOptions.priority("low")),
  RequestOptions.combine(RequestOptions.runnerHint("runner-7f3a"))
)

// --- To the wire ------------------------------------------------------------------------------

export const wire: Either.Either<RequestOptions.Wire, InvalidRequestOptions.InvalidRequestOptions> = RequestOptions
  .toWire(interactive)
// Right({ headers: { "X-Fal-Request-Timeout": "10", "X-Fal-No-Retry": "1" },
//         query: { fal_max_queue_length: "5" } })

/** The newer header name, if your gateway expects it. */
export const modern = RequestOptions.toWire(RequestOptions.startTimeout(Duration.seconds(30)), {
  startTimeoutHeader: StartTimeout.startTimeoutName
})
// Right({ headers: { "X-Fal-Request-Start-Timeout": "30" }, query: {} })

// --- Bad input is a typed error, before anything is sent ----------------------------------------

export const rejected = RequestOptions.toWire(
  RequestOptions.make({ startTimeout: "50 millis", runnerHint: "a\r\nX-Injected: 1" })
)
export const rejectedMessages: ReadonlyArray<string> = Either.match(rejected, {
  onLeft: (error) => error.issues.map((issue) => issue.message),
  onRight: () => []
})
// [ 'X-Fal-Request-Timeout: must be greater than 0.1 seconds (got 0.05 seconds)',
//   'X-Fal-Runner-Hint: must contain only printable ASCII characters (no CR, LF or other control characters) (got "a\r\nX-Injected: 1")' ]

// --- Reading responses ------------------------------------------------------------------------

export const meta = ResponseMeta.fromHeaders({
  "x-fal-request-id": "764cabcf-b745-4b3e-ae38-1200304cf45b",
  "x-fal-billable-units": "0.50000000",
  "x-fal-runner-hints": "runner-7f3a,runner-9c1d"
})
// { requestId: "764cabcf-…", billableUnits: 0.5, runnerHints: ["runner-7f3a", "runner-9c1d"] }

/** Stay on the runner fal suggests for the next call of the session. */
export const sticky: RequestOptions.RequestOptions = pipe(
  ResponseMeta.runnerHint(meta),
  (hint) => hint._tag === "Some" ? RequestOptions.runnerHint(hint.value) : RequestOptions.empty
)
