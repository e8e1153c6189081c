// A typed consumer, checked under moduleResolution NodeNext, Bundler and Node10.
import type { FalError } from "@effect-fal/api"
import { Fal, FalClient } from "@effect-fal/api"
import * as Queue from "@effect-fal/api/Queue"
import { RequestOptions } from "@effect-fal/headers"
import type * as StartTimeout from "@effect-fal/headers/StartTimeout"
import { FalEmulator, FalPlatform } from "@effect-fal/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted, Schema } from "effect"

const Output = Schema.Struct({ hello: Schema.String })

export const hello: Effect.Effect<string, FalError.FalError, FalClient.FalClient> = Fal.run(
  "fal-ai/echo",
  { hello: "types" },
  { output: Output, options: RequestOptions.make({ storeIO: false }) }
).pipe(
  Effect.map((result) => {
    // @ts-expect-error the output is typed by the schema (this fails if it were `any`)
    const wrong: number = result.data.hello
    return wrong === 0 ? "" : result.data.hello
  })
)

export const submit: typeof Queue.submit = Queue.submit
export const header: StartTimeout.HeaderName = "X-Fal-Request-Timeout"

export const layer = Layer.unwrapEffect(
  Effect.map(
    FalEmulator.FalEmulator,
    ({ urls }) =>
      FalClient.layer({ key: Redacted.make(FalPlatform.defaultKeys.user), urls }).pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      )
  )
).pipe(Layer.provideMerge(FalEmulator.layer()))
