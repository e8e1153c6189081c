// Runs fal-ai/echo on the loopback emulator through @effect-fal/api, as a CommonJS module, and
// checks that require resolves the CommonJS builds (one copy of effect, the CJS one).
const { Fal, FalClient } = require("@effect-fal/api")
const { FalEmulator, FalPlatform } = require("@effect-fal/testing")
const { NodeHttpClient } = require("@effect/platform-node")
const { Effect, Layer, Redacted } = require("effect")

for (const [id, expected] of [
  ["@effect-fal/api", "/build/cjs/index.js"],
  ["@effect-fal/api/Queue", "/build/cjs/Queue.js"],
  ["@effect-fal/headers", "/build/cjs/index.js"],
  ["@effect-fal/testing", "/build/cjs/index.js"],
  ["@effect-fal/api/package.json", "/package.json"],
  ["effect", "/dist/cjs/index.js"]
]) {
  const resolved = require.resolve(id).split("\\").join("/")
  if (!resolved.endsWith(expected)) throw new Error(`cjs: ${id} resolved to ${resolved}`)
}

const client = Layer.unwrapEffect(
  Effect.map(FalEmulator.FalEmulator, ({ urls }) =>
    FalClient.layer({ key: Redacted.make(FalPlatform.defaultKeys.user), urls }).pipe(
      Layer.provide(NodeHttpClient.layerUndici)
    ))
).pipe(Layer.provideMerge(FalEmulator.layer()))

Effect.runPromise(Fal.run("fal-ai/echo", { hello: "cjs" }).pipe(Effect.provide(client))).then((result) => {
  if (JSON.stringify(result.data) !== JSON.stringify({ hello: "cjs" })) {
    throw new Error(`cjs: unexpected output ${JSON.stringify(result.data)}`)
  }
  console.log(`cjs: ok (request ${result.requestId})`)
}).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
