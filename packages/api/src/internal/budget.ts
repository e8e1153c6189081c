import * as Effect from "effect/Effect"
import type * as FalError from "../FalError.js"

/** The retry budget's settings (see `Retry.BudgetOptions`). */
export interface Settings {
  readonly capacity: number
  readonly retryCost: number
  readonly timeoutCost: number
  readonly successRefill: number
}

export const defaults: Settings = { capacity: 500, retryCost: 5, timeoutCost: 10, successRefill: 1 }

/**
 * A token bucket shared by every call of one client, in the manner of the AWS SDK's standard
 * retry mode: a retry spends tokens (more after a timeout), a success puts some back. When the
 * bucket cannot pay for a retry the call fails with its last error instead of retrying, so a
 * platform-wide incident does not multiply the traffic by the retry count.
 *
 * Hand-written: Effect's `RateLimiter` spaces calls over time, it does not refund on success.
 * A plain counter suffices (JavaScript runs one fiber step at a time, and `take` is atomic).
 */
export interface Budget {
  readonly settings: Settings
  /** Spends the cost of retrying after `error`; `false` when the bucket cannot pay it. */
  readonly take: (error: FalError.FalError) => Effect.Effect<boolean>
  /** A call succeeded: refill. */
  readonly refill: () => void
  /** The tokens left (for tests and metrics). */
  readonly available: () => number
}

export const make = (settings: Settings): Budget => {
  let tokens = settings.capacity
  return {
    settings,
    take: (error) =>
      Effect.sync(() => {
        const cost = error._tag === "TransportError" && error.timeout !== undefined
          ? settings.timeoutCost
          : settings.retryCost
        if (tokens < cost) return false
        tokens -= cost
        return true
      }),
    refill: () => {
      if (tokens < settings.capacity) tokens = Math.min(settings.capacity, tokens + settings.successRefill)
    },
    available: () => tokens
  }
}
