/**
 * The link model at the gateway (`Link`): latency per request, request bodies paced to a
 * throughput, and upload PUTs lost at a seeded rate. All time is the Effect `Clock`.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as Link from "../Link.js"

export interface Resolved {
  readonly latency: Duration.Duration
  readonly throughput: number | undefined
  readonly loss: number
  /** Seeded: the same PUTs, by order of arrival, are lost on every run. */
  readonly random: Random.Random
}

export const resolve = (link: Link.Link | undefined): Resolved | undefined =>
  link === undefined ? undefined : {
    latency: link.latency === undefined ? Duration.zero : Duration.decode(link.latency),
    throughput: link.throughput,
    loss: link.loss ?? 0,
    random: Random.make(link.seed ?? 1)
  }

/**
 * A pacer for one request body, at `throughput` bytes per second from its creation: `take(n)`
 * counts `n` more bytes and waits only once they are more than {@link leeway} ms ahead of their time,
 * `done` waits for whatever is still ahead (the body ends no earlier than its bytes allow). A body
 * of 64 KiB reads at 20 MB/s so sleeps every few reads, not on each one; a whole body read at once
 * is one `take` and one wait. Written here because `Stream.throttle`'s token bucket starts full: a
 * body of one second's bytes would pass at once, not in a second.
 */
export interface Pacer {
  readonly take: (bytes: number) => Effect.Effect<void>
  readonly done: Effect.Effect<void>
}

/** How far (ms) a body may run ahead of its time before the pacer waits. */
export const leeway = 10

export const pacer = (throughput: number): Effect.Effect<Pacer> =>
  Effect.map(Clock.currentTimeMillis, (start) => {
    let taken = 0
    /** Waits until the bytes taken so far are due, if they are more than `ahead` ms early. */
    const wait = (ahead: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const early = start + (taken * 1000) / throughput - now
        return early > ahead ? Effect.sleep(Duration.millis(early)) : Effect.void
      })
    return {
      take: (bytes) =>
        Effect.suspend(() => {
          taken += bytes
          return wait(leeway)
        }),
      done: wait(0)
    }
  })

/** Whether this request is lost: a PUT to the upload base, drawn at the loss rate. */
export const lost = (link: Resolved, base: string, method: string): Effect.Effect<boolean> =>
  link.loss > 0 && base === "upload" && method === "PUT"
    ? Effect.map(link.random.next, (draw) => draw < link.loss)
    : Effect.succeed(false)
