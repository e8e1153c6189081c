/**
 * The watchdog of a call's attempt (`Request.attempt`'s time limits) and of a status stream's
 * connection (its keep-alive limit): it calls `fire` once `delay` says the time is up.
 *
 * Hand-written because what Effect offers costs a race per wait: `Effect.timeoutFail` forks two
 * fibers, arms a timer in one and joins their refs, for every limit. Here, with the live clock,
 * the watchdog is one re-armed `setTimeout` (what the live clock's `sleep` is); with any other
 * clock (`TestClock`), one fiber sleeping on that clock, so that tests drive it.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"

/** The live clock: with it, the watchdog is a plain timer. */
const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/** The longest delay `setTimeout` can wait; a longer limit never fires (as with the live clock). */
const maxTimer = 2 ** 31 - 1

/**
 * Starts a watchdog. `delay` is asked each time it wakes: the milliseconds to wait before asking
 * again, `0` or less to `fire` now, `undefined` to stop watching. Returns the function that stops
 * it. `runtime` runs the sleeping fiber when the clock is not the live one.
 */
export const start = (
  clock: Clock.Clock,
  runtime: Runtime.Runtime<never>,
  delay: () => number | undefined,
  fire: () => void
): () => void => {
  if (clock === liveClock) {
    let timer: ReturnType<typeof setTimeout> | undefined
    const tick = () => {
      timer = undefined
      const wait = delay()
      if (wait === undefined) return
      if (wait <= 0) return fire()
      if (wait <= maxTimer) timer = setTimeout(tick, wait)
    }
    tick()
    return () => {
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
    }
  }
  const watch: Effect.Effect<void> = Effect.suspend(() => {
    const wait = delay()
    if (wait === undefined) return Effect.void
    if (wait <= 0) return Effect.sync(fire)
    return Effect.zipRight(clock.sleep(Duration.millis(wait)), watch)
  })
  const fiber = Runtime.runFork(runtime, Effect.interruptible(watch))
  return () => fiber.unsafeInterruptAsFork(fiber.id())
}
