/**
 * The server proxy from a real browser: Debian's Chromium, driven by playwright-core, opens the
 * demo page (scripts/demo/web.ts), picks a file, uploads it and runs the demo model through
 * `FalProxy`, against the loopback emulator: first with fal's official client (`proxyUrl`), then
 * with effect-fal's own browser build (`FalClient.layerProxy`, which hands the picked `File` to
 * `fetch` as it is): the small file in one PUT, then a file above `Storage.singleLimit` in parts.
 * Screenshots are kept under build/artifacts/.
 *
 * Without /usr/bin/chromium the test fails when `CI` is set (CI installs it) and is skipped with
 * a message otherwise.
 */
import { Storage } from "@effect-fal/api"
import { FalPlatform } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromium, type Page } from "playwright-core"
import * as WebDemo from "../scripts/demo/web.js"

const executablePath = "/usr/bin/chromium"
const missing = `${executablePath} is missing: apt-get install chromium (Debian's package) to run the browser test`
const available = existsSync(executablePath)
if (!available && process.env.CI === undefined) console.warn(`browser test skipped: ${missing}`)

/** A 2x2 PNG, the file the page uploads. */
const png = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==",
  "base64"
)

/** A file above the single-PUT limit (random bytes after a PNG's), written to disk for the file input. */
const largeFile = Effect.acquireRelease(
  Effect.sync(() => {
    const directory = mkdtempSync(join(tmpdir(), "effect-fal-large-"))
    const path = join(directory, "large.png")
    const content = new Uint8Array(Storage.singleLimit + 3 * 1024 * 1024 + 17)
    content.set(png)
    for (let offset = png.byteLength; offset < content.byteLength; offset += 65_536) {
      content.set(randomBytes(Math.min(65_536, content.byteLength - offset)), offset)
    }
    writeFileSync(path, content)
    return { directory, path, content }
  }),
  ({ directory }) => Effect.sync(() => rmSync(directory, { recursive: true, force: true }))
)

/** Clicks a run button and waits until the `count`th "done" (or an error) shows. */
const runAndWait = (page: Page, button: string, count: number) =>
  Effect.promise(async () => {
    await page.click(button)
    await page.waitForFunction(
      (count) => {
        const items = Array.from(document.querySelectorAll("#updates li")).map((li) => li.textContent ?? "")
        return items.filter((text) => text === "done").length === count || items.some((t) => t.startsWith("error"))
      },
      count,
      { timeout: 60_000 }
    )
  })

/** A fresh Chromium profile, removed afterwards. */
const browser = Effect.acquireRelease(
  Effect.promise(async () => {
    const userDataDir = mkdtempSync(join(tmpdir(), "effect-fal-chromium-"))
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
    return { context, userDataDir }
  }),
  ({ context, userDataDir }) =>
    Effect.promise(async () => {
      await context.close()
      rmSync(userDataDir, { recursive: true, force: true })
    })
)

describe("the server proxy in a browser", () => {
  const test = available || process.env.CI !== undefined ? it.live : it.live.skip
  test(
    "the page uploads a picked file and runs a model through FalProxy; the output image loads",
    () =>
      Effect.gen(function*() {
        if (!available) return yield* Effect.die(new Error(missing))
        const { url } = yield* WebDemo.WebDemo
        const platform = yield* FalPlatform.FalPlatform
        const { context } = yield* browser
        const page = context.pages()[0] ?? (yield* Effect.promise(() => context.newPage()))
        const errors: Array<string> = []
        page.on("pageerror", (error) => errors.push(error.message))
        yield* Effect.promise(() => page.goto(url))
        yield* Effect.promise(() =>
          page.waitForFunction(() => document.getElementById("status")?.textContent === "ready")
        )
        yield* Effect.promise(() =>
          page.setInputFiles("#file", { name: "picked.png", mimeType: "image/png", buffer: png })
        )
        yield* Effect.promise(() => page.click("#run"))
        yield* Effect.promise(() =>
          page.waitForFunction(
            () => /^(done|error)/.test(document.getElementById("status")?.textContent ?? ""),
            undefined,
            { timeout: 30_000 }
          )
        )
        const state = yield* Effect.promise(() =>
          page.evaluate(() => {
            const image = document.getElementById("output") as HTMLImageElement
            return {
              status: document.getElementById("status")?.textContent ?? "",
              updates: Array.from(document.querySelectorAll("#updates li")).map((li) => li.textContent ?? ""),
              naturalWidth: image.naturalWidth,
              src: image.src
            }
          })
        )
        mkdirSync("build/artifacts", { recursive: true })
        yield* Effect.promise(() => page.screenshot({ path: "build/artifacts/browser-proxy.png", fullPage: true }))
        assert.deepStrictEqual(errors, [])
        assert.strictEqual(state.status, "done", state.updates.join(" | "))
        assert.isAbove(state.naturalWidth, 0)
        assert.include(state.updates, "uploaded")
        // progress: the job was seen in progress with its logs, then completed
        assert.isTrue(state.updates.some((u) => u.startsWith("IN_PROGRESS")), state.updates.join(" | "))
        assert.isTrue(state.updates.some((u) => u.startsWith("COMPLETED")), state.updates.join(" | "))
        const log = yield* platform.httpLog
        // the initiate call and every queue call came through the proxy with the server's key
        const initiate = log.find((r) => r.base === "storage")
        assert.strictEqual(initiate?.auth, "user")
        const submit = log.find((r) => r.base === "queue" && r.method === "POST")
        assert.strictEqual(submit?.path, `/${WebDemo.modelId}`)
        assert.strictEqual(submit?.auth, "user")
        assert.isTrue(log.filter((r) => r.base === "queue").every((r) => r.auth === "user"))
        // the bytes went from the browser straight to the signed URL, without a key
        const put = log.find((r) => r.base === "upload" && r.method === "PUT")
        assert.strictEqual(put?.auth, "missing")
        // the model received the uploaded file's URL, holding the picked bytes; the page shows the
        // output from the CDN
        const input = JSON.parse(submit?.body ?? "{}") as { image_url?: string }
        const uploaded = yield* platform.file(input.image_url ?? "")
        assert.isTrue(Option.isSome(uploaded))
        assert.deepStrictEqual(Option.getOrThrow(uploaded).content, new Uint8Array(png))
        const output = yield* platform.file(state.src)
        assert.strictEqual(Option.getOrThrow(output).kind, "output")

        // the same with effect-fal's own browser build: FalClient.layerProxy with a relative URL
        yield* platform.clearHttpLog
        yield* runAndWait(page, "#run-effect", 2)
        const second = yield* Effect.promise(() =>
          page.evaluate(() => ({
            updates: Array.from(document.querySelectorAll("#updates li")).map((li) => li.textContent ?? ""),
            naturalWidth: (document.getElementById("output") as HTMLImageElement).naturalWidth,
            src: (document.getElementById("output") as HTMLImageElement).src
          }))
        )
        yield* Effect.promise(() =>
          page.screenshot({ path: "build/artifacts/browser-proxy-effect-fal.png", fullPage: true })
        )
        assert.deepStrictEqual(errors, [])
        const effectUpdates = second.updates.slice(second.updates.findIndex((u) => u.endsWith("(effect-fal)")))
        assert.strictEqual(effectUpdates[effectUpdates.length - 1], "done", effectUpdates.join(" | "))
        assert.isTrue(effectUpdates.some((u) => u.startsWith("COMPLETED")), effectUpdates.join(" | "))
        assert.isAbove(second.naturalWidth, 0)
        assert.notStrictEqual(second.src, state.src)
        const effectLog = yield* platform.httpLog
        assert.isTrue(effectLog.some((r) => r.path.endsWith("/status/stream")), "effect-fal follows the status stream")
        for (const entry of effectLog) {
          assert.strictEqual(entry.auth, entry.base === "upload" || entry.base === "cdn" ? "missing" : "user")
        }
        // the picked File went in one PUT, byte for byte
        const effectPuts = effectLog.filter((r) => r.base === "upload" && r.method === "PUT")
        assert.deepStrictEqual(effectPuts.map((r) => r.status), [200])
        const effectSubmit = effectLog.find((r) => r.base === "queue" && r.method === "POST")
        const effectInput = JSON.parse(effectSubmit?.body ?? "{}") as { image_url?: string }
        const effectFile = yield* platform.file(effectInput.image_url ?? "")
        assert.deepStrictEqual(Option.getOrThrow(effectFile).content, new Uint8Array(png))

        // a file above the single-PUT limit: in parts, each a slice of the File, several in flight
        const large = yield* largeFile
        yield* platform.clearHttpLog
        yield* Effect.promise(() => page.setInputFiles("#file", large.path))
        yield* runAndWait(page, "#run-effect", 3)
        const third = yield* Effect.promise(() =>
          page.evaluate(() => Array.from(document.querySelectorAll("#updates li")).map((li) => li.textContent ?? ""))
        )
        assert.strictEqual(third[third.length - 1], "done", third.slice(-8).join(" | "))
        assert.deepStrictEqual(errors, [])
        const largeLog = yield* platform.httpLog
        const initiated = largeLog.find((r) => r.base === "storage")
        assert.strictEqual(initiated?.path, "/storage/upload/initiate-multipart")
        const parts = largeLog.filter((r) => r.base === "upload" && r.method === "PUT")
        assert.strictEqual(parts.length, Math.ceil(large.content.byteLength / Storage.partSize))
        assert.isTrue(parts.every((r) => r.status === 200 && r.auth === "missing"))
        const largeSubmit = largeLog.find((r) => r.base === "queue" && r.method === "POST")
        const largeInput = JSON.parse(largeSubmit?.body ?? "{}") as { image_url?: string }
        const largeUploaded = Option.getOrThrow(yield* platform.file(largeInput.image_url ?? "")).content
        assert.strictEqual(largeUploaded.byteLength, large.content.byteLength)
        assert.isTrue(Buffer.from(largeUploaded).equals(Buffer.from(large.content)), "the parts' bytes differ")
      }).pipe(Effect.scoped, Effect.provide(WebDemo.layer())),
    { timeout: 150_000 }
  )
})
