/**
 * The link model at the gateway (`Link`): latency per request, request bodies paced to a
 * throughput, and upload PUTs lost at a seeded rate. All time is the Effect `Clock`.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
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
 * A pacer for one request body: `take(n)` waits until `n` more bytes have had their time since
 * the first, at `throughput` bytes per second. Written here because `Stream.throttle`'s token
 * bucket starts full: a body of one second's bytes would pass at once, not in a second.
 */
export const pacer = (throughput: number): Effect.Effect<(bytes: number) => Effect.Effect<void>> =>
  Effect.map(Clock.currentTimeMillis, (start) => {
    let taken = 0
    return (bytes) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        taken += bytes
        const due = start + (taken * 1000) / throughput
        return due > now ? Effect.sleep(Duration.millis(due - now)) : Effect.void
      })
  })

/** A body stream paced to `throughput`: a chunk is passed on once its bytes have had their time. */
export const paced = <E, R>(
  stream: Stream.Stream<Uint8Array, E, R>,
  throughput: number
): Stream.Stream<Uint8Array, E, R> =>
  Stream.unwrap(Effect.map(pacer(throughput), (take) => Stream.tap(stream, (chunk) => take(chunk.byteLength))))

/** Whether this request is lost: a PUT to the upload base, drawn at the loss rate. */
export const lost = (link: Resolved, base: string, method: string): Effect.Effect<boolean> =>
  link.loss > 0 && base === "upload" && method === "PUT"
    ? Effect.map(link.random.next, (draw) => draw < link.loss)
    : Effect.succeed(false)
