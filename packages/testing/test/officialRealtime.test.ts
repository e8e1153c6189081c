/**
 * fal's official client's realtime connection (`fal.realtime.connect`), unmodified, against the
 * loopback emulator. The client always opens `wss://fal.run/...` with the global `WebSocket`
 * (Node 20 has none): the test installs the `ws` package's, rewriting fal's host to the
 * emulator's run base. The client's tokens come from its `tokenProvider`, here a plain `fetch`
 * of the emulator's `POST {rest}/tokens/` with the test key.
 */
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import { createFalClient } from "@fal-ai/client"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import WebSocket from "ws"

/** The `ws` client with fal's realtime host rewritten to the emulator's run base. */
const emulatorWebSocket = (run: string) =>
  class extends WebSocket {
    constructor(url: string | URL, protocols?: string | Array<string>) {
      super(String(url).replace(/^wss:\/\/fal\.run/, run.replace(/^http/, "ws")), protocols)
    }
  }

interface Seen {
  readonly results: Array<unknown>
  readonly errors: Array<{ readonly message: string; readonly status: number }>
  readonly tokens: Array<string>
}

const withRealtime = <A, E>(
  f: (
    connection: { readonly send: (input: Record<string, unknown>) => void; readonly close: () => void },
    seen: Seen,
    platform: FalPlatform.Service
  ) => Effect.Effect<A, E>,
  app = "fal-ai/echo",
  expiration = 120
) =>
  Effect.gen(function*() {
    const { urls } = yield* FalEmulator.FalEmulator
    const platform = yield* FalPlatform.FalPlatform
    const previous = globalThis.WebSocket
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        globalThis.WebSocket = emulatorWebSocket(urls.run) as unknown as typeof globalThis.WebSocket
      }),
      () => Effect.sync(() => (globalThis.WebSocket = previous))
    )
    const seen: Seen = { results: [], errors: [], tokens: [] }
    const fal = createFalClient({ credentials: FalPlatform.defaultKeys.user })
    const connection = yield* Effect.acquireRelease(
      Effect.sync(() =>
        fal.realtime.connect(app, {
          throttleInterval: 0,
          tokenExpirationSeconds: expiration,
          tokenProvider: async (tokenApp) => {
            const response = await fetch(`${urls.rest}/tokens/`, {
              method: "POST",
              headers: { authorization: `Key ${FalPlatform.defaultKeys.user}`, "content-type": "application/json" },
              body: JSON.stringify({
                allowed_apps: [tokenApp.split("/").slice(0, 2).join("/")],
                token_expiration: expiration
              })
            })
            const token = (await response.json()) as string
            seen.tokens.push(token)
            return token
          },
          onResult: (result) => void seen.results.push(result),
          onError: (error) => void seen.errors.push({ message: error.message, status: error.status })
        })
      ),
      (connection) => Effect.sync(() => connection.close())
    )
    return yield* f(connection, seen, platform)
  }).pipe(Effect.scoped, Effect.provide(FalEmulator.layer()))

/** Waits (on real time: the official client's own sockets and timers) until `check` holds. */
const eventually = (check: () => boolean) =>
  Effect.promise(() =>
    new Promise<void>((resolve, reject) => {
      const started = Date.now()
      const poll = () =>
        check() ? resolve() : Date.now() - started > 5000 ? reject(new Error("timed out")) : setTimeout(poll, 5)
      poll()
    })
  )

// one at a time: each test installs its own global WebSocket
describe.sequential("@fal-ai/client realtime against the emulator", () => {
  it.effect("send and receive: MessagePack both ways, the output carries the request id", () =>
    withRealtime((connection, seen, platform) =>
      Effect.gen(function*() {
        connection.send({ prompt: "a cat", request_id: "r-1" })
        yield* eventually(() => seen.results.length === 1)
        assert.deepStrictEqual(seen.results[0], { prompt: "a cat", request_id: "r-1" })
        const log = yield* platform.realtimeLog
        assert.deepStrictEqual(log.map((e) => e._tag), ["Connected", "Message"])
        const message = log[1]
        assert.strictEqual(message._tag === "Message" ? message.kind : undefined, "binary")
        assert.strictEqual(seen.tokens.length, 1)
      })
    ))

  it.effect("an x-fal-error frame arrives at onError and the connection goes on", () =>
    withRealtime((connection, seen) =>
      Effect.gen(function*() {
        connection.send({ prompt: "", steps: 0 })
        yield* eventually(() => seen.errors.length === 1)
        assert.match(seen.errors[0].message, /^VALIDATION_ERROR: /)
        connection.send({ prompt: "ok", steps: 2 })
        yield* eventually(() => seen.results.length === 1)
        assert.deepStrictEqual(seen.results[0], { prompt: "ok", steps: 2 })
      }), "fal-ai/validate"))

  it.effect("an expired token: the emulator answers Unauthorized, the client reconnects with a fresh token", () =>
    withRealtime(
      (connection, seen, platform) =>
        Effect.gen(function*() {
          connection.send({ n: 1 })
          yield* eventually(() => seen.results.length === 1)
          // the emulator's clock passes the token's expiry (the client's refresh timer is real time)
          yield* TestClock.adjust("11 seconds")
          connection.send({ n: 2 })
          yield* eventually(() => seen.errors.length === 1)
          // fal's client closes on the unauthorized message and drops that input; the next send reconnects
          connection.send({ n: 3 })
          yield* eventually(() => seen.results.length === 2)
          assert.deepStrictEqual(seen.results[1], { n: 3 })
          assert.strictEqual(seen.tokens.length, 2)
          assert.notStrictEqual(seen.tokens[0], seen.tokens[1])
          const log = yield* platform.realtimeLog
          assert.deepStrictEqual(log.filter((e) => e._tag === "Connected").length, 2)
          const closed = log.find((e) => e._tag === "Closed")
          assert.strictEqual(closed?._tag === "Closed" ? closed.code : 0, 1008)
          assert.strictEqual(seen.errors[0].status, 1008)
        }),
      "fal-ai/echo",
      10
    ))
})
