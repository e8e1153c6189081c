// The code shown in docs/storage.md, type-checked by tsc.
import { Fal, FalClient, FalError, Queue, Storage } from "@effect-fal/api"
import { NodeHttpClient } from "@effect/platform-node"
import { Console, Duration, Effect, Layer, Redacted, Stream } from "effect"
import * as Fs from "node:fs"

// --- the storage base --------------------------------------------------------------------------

// FAL_KEY, and optionally FAL_STORAGE_URL (default https://rest.fal.ai)
export const FalLive = FalClient.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))

export const FalLocal = FalClient.layer({
  key: Redacted.make("key-id:key-secret"),
  urls: { storage: "http://127.0.0.1:8080" }
}).pipe(Layer.provide(NodeHttpClient.layerUndici))

// --- uploading ---------------------------------------------------------------------------------

export const uploadBytes = Effect.gen(function*() {
  const file = yield* Storage.upload(new TextEncoder().encode("hello"), {
    contentType: "text/plain",
    fileName: "hello.txt"
  })
  yield* Console.log(`${file.url} (${file.size} bytes, ${file.contentType})`)
})

export const uploadBlob = (path: string) =>
  Effect.gen(function*() {
    // A file-backed Blob: read part by part, never all at once.
    const blob = yield* Effect.promise(() => Fs.openAsBlob(path, { type: "video/mp4" }))
    const file = yield* Storage.upload(blob, {
      onProgress: ({ loaded, total }) => Console.log(`${loaded} / ${total}`)
    })
    return file.url
  })

export const uploadStream = (path: string) =>
  Effect.gen(function*() {
    const size = (yield* Effect.promise(() => Fs.promises.stat(path))).size
    const stream = Stream.fromAsyncIterable(
      Fs.createReadStream(path),
      (cause) => new Error(`reading ${path}: ${String(cause)}`)
    ).pipe(Stream.map((chunk: Buffer) => new Uint8Array(chunk)))
    return yield* Storage.upload({ stream, size }, { contentType: "audio/wav" })
  })

export const withProgress = (bytes: Uint8Array) =>
  Storage.uploadWithProgress(bytes).pipe(
    Stream.runForEach((event) =>
      event._tag === "Progress"
        ? Console.log(`${Math.round((100 * event.loaded) / Math.max(1, event.total ?? event.loaded))}%`)
        : Console.log(`done: ${event.file.url}`)
    )
  )

// --- lifecycle and ACL -------------------------------------------------------------------------

export const shortLived = Storage.upload(new Blob(["draft"]), {
  lifecycle: { expiration: Duration.hours(1) }
})

export const forever = Storage.upload(new Blob(["keep"]), { lifecycle: { expiration: "never" } })

export const private_ = Storage.upload(new Blob(["secret"]), {
  lifecycle: {
    expiration: "7 days",
    initialAcl: { default: "forbid", rules: [{ user: "my-team-user", decision: "allow" }] }
  }
})

// Bad input fails before anything is sent.
export const rejected = Storage.upload(new Blob(["x"]), { contentType: "text/plain\r\nX-Injected: 1" }).pipe(
  Effect.catchTag("InvalidRequestOptions", (error) => Console.log(error.message))
)

// --- uploading a whole input -------------------------------------------------------------------

export const prepareInput = (image: Blob, mask: Uint8Array) =>
  Effect.gen(function*() {
    const input = yield* Storage.uploadInput(
      { prompt: "a lighthouse", image_url: image, masks: [{ mask_url: mask, strength: 0.8 }] },
      { concurrency: 4, upload: { lifecycle: { expiration: "1 day" } } }
    )
    // input.image_url and input.masks[0].mask_url are now strings (CDN URLs)
    const url: string = input.image_url
    return { input, url }
  })

// --- errors ------------------------------------------------------------------------------------

export const handled = Storage.upload(new Uint8Array(10)).pipe(
  Effect.catchIf(FalError.isFalError, (error) => Console.log(`upload failed: ${error.message}`))
)

// --- automatic upload ----------------------------------------------------------------------------

export const restyle = (path: string) =>
  Effect.gen(function*() {
    const photo = yield* Effect.promise(() => Fs.openAsBlob(path, { type: "image/jpeg" }))
    // the model receives { image_url: "https://v3.fal.media/files/...", ... }
    const result = yield* Fal.run("fal-ai/flux/dev/image-to-image", { image_url: photo, prompt: "watercolour" })
    const queued = yield* Queue.submit("fal-ai/flux/dev/image-to-image", {
      image_url: "https://v3.fal.media/files/already/uploaded.jpg",
      prompt: "ink"
    }, { autoUpload: false })
    return { data: result.data, requestId: queued.requestId }
  })
