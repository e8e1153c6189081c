/**
 * The demo page's second client: effect-fal itself in the browser, bundled by `bundleEffectFal`
 * (scripts/demo/web.ts). A `FalClient.layerProxy` with a relative proxy URL (the page's origin)
 * and no key; the upload with `Storage.upload`, the job with `Queue.subscribe`. It imports the
 * modules it uses one by one: the package's index also holds server modules (webhooks, purge
 * checkpoints) that import Node built-ins.
 */
import * as FalClient from "@effect-fal/api/FalClient"
import * as Queue from "@effect-fal/api/Queue"
import * as Storage from "@effect-fal/api/Storage"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/**
 * Browsers send a streamed request body (`fetch` with a `ReadableStream`) only over HTTP/2:
 * Chromium refuses it on HTTP/1.1 ("Failed to fetch"), Firefox and Safari everywhere.
 * `Storage.upload` sends its PUT bodies as streams, so this page reads such a body into memory
 * first (the emulator speaks HTTP/1.1).
 */
const bufferStreamedBody = (request: HttpClientRequest.HttpClientRequest) => {
  const body = request.body
  if (body._tag !== "Stream") return Effect.succeed(request)
  return Stream.runCollect(body.stream).pipe(
    Effect.map((chunks) => {
      const bytes = new Uint8Array(Chunk.reduce(chunks, 0, (total, chunk) => total + chunk.length))
      let offset = 0
      for (const chunk of chunks) {
        bytes.set(chunk, offset)
        offset += chunk.length
      }
      return HttpClientRequest.setBody(request, HttpBody.uint8Array(bytes, body.contentType))
    }),
    Effect.mapError((cause) => new HttpClientError.RequestError({ request, reason: "Encode", cause }))
  )
}

const Output = Schema.Struct({ images: Schema.NonEmptyArray(Schema.Struct({ url: Schema.String })) })

/** Uploads `file`, runs `modelId` on it through the proxy, answers the output image's URL. */
export const run = (options: {
  readonly file: Blob
  readonly fileName: string
  readonly urls: FalClient.Urls
  readonly modelId: string
  readonly onUpdate: (text: string) => void
}): Promise<string> => {
  const FalBrowser = FalClient.layerProxy({
    url: "/api/fal/proxy",
    urls: options.urls,
    transformClient: HttpClient.mapRequestEffect(bufferStreamedBody)
  }).pipe(
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
