// Runs fal-ai/echo on the loopback emulator through @effect-fal/api, as an ES module.
import { Fal, FalClient } from "@effect-fal/api"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"

const client = Layer.unwrapEffect(
  Effect.map(FalEmulator.FalEmulator, ({ urls }) =>
    FalClient.layer({ key: Redacted.make(FalPlatform.defaultKeys.user), urls }).pipe(
      Layer.provide(NodeHttpClient.layerUndici)
    ))
).pipe(Layer.provideMerge(FalEmulator.layer()))

const result = await Effect.runPromise(Fal.run("fal-ai/echo", { hello: "esm" }).pipe(Effect.provide(client)))
if (JSON.stringify(result.data) !== JSON.stringify({ hello: "esm" })) {
  throw new Error(`esm: unexpected output ${JSON.stringify(result.data)}`)
}
console.log(`esm: ok (request ${result.requestId})`)
