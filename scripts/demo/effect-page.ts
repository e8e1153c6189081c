/**
 * The demo page's second client: effect-fal itself in the browser, bundled by `bundleEffectFal`
 * (scripts/demo/web.ts). A `FalClient.layerProxy` with a relative proxy URL (the page's origin)
 * and no key; the upload with `Storage.upload` (the picked `File` itself), the job with
 * `Queue.subscribe`. It imports the modules it uses one by one: the package's index also holds
 * server modules (webhooks, purge checkpoints) that import Node built-ins.
 */
import * as FalClient from "@effect-fal/api/FalClient"
import * as Queue from "@effect-fal/api/Queue"
import * as Storage from "@effect-fal/api/Storage"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

const Output = Schema.Struct({ images: Schema.NonEmptyArray(Schema.Struct({ url: Schema.String })) })

/** Uploads `file`, runs `modelId` on it through the proxy, answers the output image's URL. */
export const run = (options: {
  readonly file: Blob
  readonly fileName: string
  readonly urls: FalClient.Urls
  readonly modelId: string
  readonly onUpdate: (text: string) => void
}): Promise<string> => {
  // a proxy client sends whole upload bodies (`uploadBody: "whole"`): the picked File, or a slice
  // of it per part, goes to `fetch` as it is
  const FalBrowser = FalClient.layerProxy({ url: "/api/fal/proxy", urls: options.urls }).pipe(
    Layer.provide(FetchHttpClient.layer)
  )
  const program = Effect.gen(function*() {
    const uploaded = yield* Storage.upload(options.file, { fileName: options.fileName })
    options.onUpdate("uploaded")
    const result = yield* Queue.subscribe(options.modelId, {
      prompt: "a picture from effect-fal in the browser",
      image_url: uploaded.url
    }, {
      output: Output,
      onStatus: (status) =>
        Effect.sync(() => {
          const last = status.logs[status.logs.length - 1]
          options.onUpdate(`${status.status}${last === undefined ? "" : ` (${last.message})`}`)
        })
    })
    return result.data.images[0].url
  })
  return Effect.runPromise(Effect.provide(program, FalBrowser))
}
