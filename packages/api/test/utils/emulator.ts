import { FalClient } from "@effect-fal/api"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"

export const userKey = Redacted.make(FalPlatform.defaultKeys.user)
export const adminKey = Redacted.make(FalPlatform.defaultKeys.admin)

/** The in-memory platform (fal's default hosts, no sockets) with a `FalClient` on it. */
export const inMemory = (
  options: {
    readonly key?: Redacted.Redacted<string>
    readonly adminKey?: boolean
    readonly config?: FalPlatform.Config
  } = {}
): Layer.Layer<FalClient.FalClient | FalPlatform.FalPlatform> =>
  FalClient.layer({
    key: options.key ?? userKey,
    adminKey: options.adminKey === true ? adminKey : undefined
  }).pipe(Layer.orDie, Layer.provideMerge(FalPlatform.layerClient(options.config)))

/** The loopback emulator with a `FalClient` on undici pointed at its bases. */
export const loopback = (
  options: { readonly adminKey?: boolean; readonly config?: FalEmulator.Config } = {}
): Layer.Layer<FalClient.FalClient | FalPlatform.FalPlatform | FalEmulator.FalEmulator> =>
  Layer.unwrapEffect(
    Effect.map(FalEmulator.FalEmulator, ({ urls }) =>
      FalClient.layer({
        key: userKey,
        adminKey: options.adminKey === true ? adminKey : undefined,
        urls: { run: urls.run, queue: urls.queue, api: urls.api, rest: urls.rest, storage: urls.storage }
      }).pipe(Layer.orDie, Layer.provide(NodeHttpClient.layerUndici)))
  ).pipe(Layer.provideMerge(FalEmulator.layer(options.config)))
