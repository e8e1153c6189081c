import type { FalClient } from "@effect-fal/api"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import type { Layer } from "effect"
import { Redacted } from "effect"

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
  FalEmulator.layerClient({
    transport: "memory",
    key: options.key ?? userKey,
    adminKey: options.adminKey === true,
    config: options.config
  })

/** The loopback emulator with a `FalClient` on undici with every base on it. */
export const loopback = (
  options: { readonly adminKey?: boolean; readonly config?: FalEmulator.Config } = {}
): Layer.Layer<FalClient.FalClient | FalPlatform.FalPlatform | FalEmulator.FalEmulator> =>
  FalEmulator.layerClient({ adminKey: options.adminKey === true, config: options.config })
