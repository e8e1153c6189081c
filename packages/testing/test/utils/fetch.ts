import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import * as Effect from "effect/Effect"

export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: unknown
}

export interface CallOptions {
  readonly key?: string | null
  readonly headers?: Record<string, string>
  readonly body?: unknown
}

/** A raw `fetch`; `key: null` sends no Authorization header, default is the user key. */
export const call = (method: string, url: string, options: CallOptions = {}): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const key = options.key === undefined ? FalPlatform.defaultKeys.user : options.key
    const response = await fetch(url, {
      method,
      headers: {
        ...(key === null ? {} : { authorization: `Key ${key}` }),
        ...(options.body === undefined ? {} : { "content-type": "application/json" }),
        ...options.headers
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
    })
    const text = await response.text()
    let json: unknown = undefined
    try {
      json = text === "" ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, headers: response.headers, text, json }
  })

/** Runs `f` with a fresh loopback emulator. */
export const withEmulator = <A, E>(
  f: (urls: FalPlatform.Urls, platform: FalPlatform.Service) => Effect.Effect<A, E>,
  config?: FalEmulator.Config
): Effect.Effect<A, E> =>
  Effect.gen(function*() {
    const { urls } = yield* FalEmulator.FalEmulator
    return yield* f(urls, yield* FalPlatform.FalPlatform)
  }).pipe(Effect.provide(FalEmulator.layer(config)))

export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
