/**
 * The browser demo of the server proxy, shared by `pnpm demo:web` and the browser test: the
 * loopback emulator (with CORS, so a page can PUT bytes to its signed upload URLs), a
 * `FalClient` with the server's key, and a small site on its own loopback port serving a page,
 * fal's official client bundled for the browser, and `FalProxy` at `/api/fal/proxy`.
 *
 * The page picks a file, uploads it (the initiate call through the proxy, the bytes straight to
 * the signed URL), runs a model of the emulator ({@link model}) on it with `fal.subscribe` through the proxy, shows each
 * status update, and shows the output image from the emulator's CDN. The proxy authenticates
 * callers by a session cookie the page's own response sets.
 */
import { FalClient, FalProxy } from "@effect-fal/api"
import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import { fileURLToPath } from "node:url"
import * as zlib from "node:zlib"

/** One ES module for the browser, bundled by esbuild in memory. */
const bundle = (input: { readonly stdin: string } | { readonly entryPoint: string }): Promise<string> =>
  import("esbuild").then((esbuild) =>
    esbuild.build({
      ...("stdin" in input
        ? {
          stdin: { contents: input.stdin, resolveDir: fileURLToPath(new URL("../..", import.meta.url)), loader: "js" }
        }
        : { entryPoints: [input.entryPoint] }),
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      write: false,
      logLevel: "silent"
    })
  ).then((result) => result.outputFiles[0].text)

/** fal's official client as one ES module for the browser. */
export const bundleClient = (): Promise<string> => bundle({ stdin: `export { createFalClient } from "@fal-ai/client"` })

/** effect-fal's own browser client for the page (scripts/demo/effect-page.ts). */
export const bundleEffectFal = (): Promise<string> =>
  bundle({ entryPoint: fileURLToPath(new URL("effect-page.ts", import.meta.url)) })

/** A `size`x`size` RGB PNG with a gradient: an output a person can see. */
const picture = (size: number): Uint8Array => {
  const rows = Buffer.alloc(size * (1 + size * 3))
  for (let y = 0; y < size; y++) {
    const row = y * (1 + size * 3)
    for (let x = 0; x < size; x++) {
      rows[row + 1 + x * 3] = 40 + Math.floor((200 * x) / size)
      rows[row + 2 + x * 3] = 60 + Math.floor((160 * y) / size)
      rows[row + 3 + x * 3] = 220 - Math.floor((180 * x) / size)
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4)
    length.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type, "ascii"), data])
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(zlib.crc32(body))
    return Buffer.concat([length, body, crc])
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header.set([8, 2, 0, 0, 0], 8)
  return new Uint8Array(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0))
  ]))
}

/** The demo's model id. */
export const modelId = "demo/picture"

/**
 * The demo's model: `{ prompt, image_url }`; works for `seconds` (default 1.5), logging as it
 * goes, and answers `{ images: [{ url }] }`, a 96x96 picture on the emulator's CDN.
 */
export const model = Model.make({
  id: modelId,
  input: Schema.Struct({
    prompt: Schema.String,
    image_url: Schema.String,
    seconds: Schema.optional(Schema.Number.pipe(Schema.between(0, 10)))
  }),
  handler: (input, ctx) =>
    Effect.gen(function*() {
      const steps = 3
      for (let step = 1; step <= steps; step++) {
        yield* Effect.sleep(Duration.millis(((input.seconds ?? 1.5) * 1000) / steps))
        yield* ctx.log(`step ${step} of ${steps}`)
      }
      const url = yield* ctx.writeFile({ fileName: "picture.png", contentType: "image/png", content: picture(96) })
      return { images: [{ url, content_type: "image/png", width: 96, height: 96 }], prompt: input.prompt }
    })
})

/** The page: a file input, a button, the status, the updates, the output image. */
export const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>effect-fal: the server proxy</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 40rem; }
  #output { width: 96px; height: 96px; border: 1px solid #ccc; }
  #updates { font-family: monospace; font-size: 0.9rem; }
</style>
</head>
<body>
<h1>fal through the server proxy</h1>
<p>The page has no key: every fal call goes to <code>/api/fal/proxy</code>, which adds it on the server.</p>
<p><input type="file" id="file" accept="image/*"></p>
<p>
  <button id="run" disabled>Upload and run ${modelId} with fal's client</button>
  <button id="run-effect" disabled>... with effect-fal</button>
</p>
<p>Status: <strong id="status">loading</strong></p>
<ol id="updates"></ol>
<p><img id="output" alt="the model's output"></p>
<script type="module">
import { createFalClient } from "/client.js"
import { run as runWithEffectFal } from "/effect-fal.js"
const { urls } = await (await fetch("/config.json")).json()
// fal's hosts, aimed at the emulator's bases; then fal's proxy middleware (proxyUrl) sends the call
// to /api/fal/proxy with that URL in x-fal-target-url
const hosts = [["https://queue.fal.run", urls.queue], ["https://fal.run", urls.run], ["https://rest.fal.ai", urls.storage]]
const fal = createFalClient({
  proxyUrl: "/api/fal/proxy",
  requestMiddleware: async (request) => {
    const host = hosts.find(([from]) => request.url.startsWith(from + "/"))
    return host === undefined ? request : { ...request, url: host[1] + request.url.slice(host[0].length) }
  }
})
const status = document.getElementById("status")
const updates = document.getElementById("updates")
const output = document.getElementById("output")
const file = document.getElementById("file")
const run = document.getElementById("run")
const runEffect = document.getElementById("run-effect")
const show = (text) => {
  status.textContent = text
  const item = document.createElement("li")
  item.textContent = text
  updates.append(item)
}
file.addEventListener("change", () => { run.disabled = runEffect.disabled = file.files.length === 0 })
const display = (imageUrl) => {
  output.addEventListener("load", () => show("done"), { once: true })
  output.addEventListener("error", () => show("error: the output image did not load"), { once: true })
  output.src = imageUrl
}
runEffect.addEventListener("click", async () => {
  output.removeAttribute("src")
  try {
    show("uploading " + file.files[0].name + " (effect-fal)")
    display(await runWithEffectFal({
      file: file.files[0],
      fileName: file.files[0].name,
      urls,
      modelId: "${modelId}",
      onUpdate: show
    }))
  } catch (error) {
    show("error: " + (error && error.message ? error.message : String(error)))
  }
})
run.addEventListener("click", async () => {
  output.removeAttribute("src")
  try {
    show("uploading " + file.files[0].name)
    const imageUrl = await fal.storage.upload(file.files[0])
    show("uploaded")
    const result = await fal.subscribe("${modelId}", {
      input: { prompt: "a picture from the browser", image_url: imageUrl },
      logs: true,
      pollInterval: 100,
      onQueueUpdate: (update) => {
        const logs = update.logs ?? []
        show(update.status + (logs.length > 0 ? " (" + logs[logs.length - 1].message + ")" : ""))
      }
    })
    display(result.data.images[0].url)
  } catch (error) {
    show("error: " + (error && error.message ? error.message : String(error)))
  }
})
status.textContent = "ready"
</script>
</body>
</html>
`

/** Where the demo site listens. */
export class WebDemo extends Context.Tag("scripts/demo/WebDemo")<WebDemo, {
  /** The page: `http://127.0.0.1:PORT/`. */
  readonly url: string
}>() {}

/** The emulator on loopback, answering cross-origin calls (the page's PUTs to signed URLs). */
const emulator = (port: number | undefined) =>
  FalEmulator.layerServer({ port, middleware: HttpMiddleware.cors() }).pipe(
    Layer.provideMerge(FalPlatform.layer({ models: [model] }).pipe(Layer.provide(FetchHttpClient.layer)))
  )

/** The server's `FalClient`: the emulator's user key, every base on the emulator. */
const serverClient = Layer.unwrapEffect(Effect.map(FalEmulator.FalEmulator, ({ urls }) =>
  FalClient.layer({
    key: Redacted.make(FalPlatform.defaultKeys.user),
    urls: { run: urls.run, queue: urls.queue, api: urls.api, rest: urls.rest, storage: urls.storage }
  }))).pipe(Layer.orDie, Layer.provide(NodeHttpClient.layerUndici))

const site = Layer.scoped(
  WebDemo,
  Effect.gen(function*() {
    const { urls } = yield* FalEmulator.FalEmulator
    const bundle = yield* Effect.promise(bundleClient)
    const effectFal = yield* Effect.promise(bundleEffectFal)
    // the application's own authentication: a session cookie set with the page
    const session = randomUUID()
    const router = HttpRouter.empty.pipe(
      HttpRouter.get(
        "/",
        Effect.succeed(
          HttpServerResponse.text(page, { contentType: "text/html; charset=utf-8" }).pipe(
            HttpServerResponse.unsafeSetCookie("session", session, { httpOnly: true, sameSite: "strict", path: "/" })
          )
        )
      ),
      HttpRouter.get("/client.js", Effect.succeed(HttpServerResponse.text(bundle, { contentType: "text/javascript" }))),
      HttpRouter.get(
        "/effect-fal.js",
        Effect.succeed(HttpServerResponse.text(effectFal, { contentType: "text/javascript" }))
      ),
      HttpRouter.get("/config.json", Effect.succeed(HttpServerResponse.unsafeJson({ urls }))),
      HttpRouter.all(
        FalProxy.defaultRoute,
        FalProxy.httpApp({
          authenticate: (request) => Effect.succeed(request.cookies.session === session),
          allowedBases: [urls],
          allowedEndpoints: [modelId]
        })
      )
    )
    const server = yield* HttpServer.HttpServer
    yield* server.serve(router)
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : 0
    return { url: `http://127.0.0.1:${port}/` }
  })
)

/**
 * The demo: the emulator, the server's client and the site, each on loopback (`port` for the
 * site, `emulatorPort` for the emulator; 0 picks a free one).
 */
export const layer = (
  options: { readonly port?: number | undefined; readonly emulatorPort?: number | undefined } = {}
) =>
  site.pipe(
    Layer.provide(
      Layer.orDie(NodeHttpServer.layerServer(() => http.createServer(), { port: options.port ?? 0, host: "127.0.0.1" }))
    ),
    Layer.provideMerge(serverClient),
    Layer.provideMerge(emulator(options.emulatorPort))
  )
