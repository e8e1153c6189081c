/**
 * `pnpm demo`: one job end to end with @effect-fal/api.
 *
 * Without FAL_KEY, on the embedded fal emulator (loopback HTTP, port 0): upload an input file,
 * submit `fal-ai/image` with a full option set, follow the status stream with a live progress
 * line, fetch the result, print the request id and billable units, delete the payloads, and show
 * that the output file now answers 404 while the input file does not.
 *
 * With FAL_KEY (and FAL_ADMIN_KEY for the deletion), the same program against fal itself:
 *   pnpm demo --model fal-ai/fast-sdxl --input '{"prompt":"a lighthouse at dusk"}' [--image-url URL]
 */
import type { FalError } from "@effect-fal/api"
import { FalClient, Payloads, Queue, Storage } from "@effect-fal/api"
import { RequestOptions } from "@effect-fal/headers"
import { FalEmulator, FalPlatform, Model } from "@effect-fal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { skippedLive, webhookStep } from "./demo/webhook.js"

const flag = (name: string): string | undefined => {
  const index = process.argv.indexOf(`--${name}`)
  return index === -1 ? undefined : process.argv[index + 1]
}

const live = process.env.FAL_KEY !== undefined && process.env.FAL_KEY !== ""

const line = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))
const progress = (text: string) =>
  Effect.sync(() => {
    if (process.stdout.isTTY) process.stdout.write(`\r\x1b[2K${text}`)
    else process.stdout.write(`${text}\n`)
  })

/** Every http(s) URL found in a JSON value (the model's output files). */
const urlsIn = (value: unknown): Array<string> => {
  if (typeof value === "string") return /^https?:\/\//.test(value) ? [value] : []
  if (Array.isArray(value)) return value.flatMap(urlsIn)
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(urlsIn)
  return []
}

/** A file's status, fetched without any credential. */
const fileStatus = (url: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => client.head(url)).pipe(
    Effect.map((response) => String(response.status)),
    Effect.catchAll((error) => Effect.succeed(`unreachable (${error._tag})`))
  )

const describe = (status: Queue.Status): string => {
  const last = status.logs.length > 0 ? ` · ${status.logs[status.logs.length - 1].message}` : ""
  switch (status.status) {
    case "IN_QUEUE":
      return `⏳ in queue (position ${status.queuePosition ?? "?"})${last}`
    case "IN_PROGRESS":
      return `⚙️  in progress${last}`
    case "COMPLETED":
      return `✅ completed${
        Option.match(status.inferenceTime, { onNone: () => "", onSome: (d) => ` in ${Duration.format(d)}` })
      }`
  }
}

const program = (params: {
  readonly model: string
  readonly input: Record<string, unknown>
  readonly inputFile: string | undefined
}) =>
  Effect.gen(function*() {
    const options = RequestOptions.make({
      startTimeout: "2 minutes",
      priority: "normal",
      objectLifecycle: "1 day",
      storeIO: true,
      noRetry: false,
      disableFallback: true,
      maxQueueLength: 50
    })
    yield* line(`model   ${params.model}`)
    yield* line(`options ${JSON.stringify(options)}`)
    const submitted = yield* Queue.submit(params.model, params.input, { options })
    yield* line(`queued  ${submitted.requestId} (position ${submitted.queuePosition ?? "?"})`)

    yield* Queue.statusStream(submitted).pipe(Stream.runForEach((status) => progress(describe(status))))
    if (process.stdout.isTTY) yield* line("")

    const result = yield* Queue.result(submitted)
    yield* line(`request id      ${result.requestId}`)
    yield* line(`billable units  ${result.meta.billableUnits ?? "(not reported)"}`)
    const outputs = urlsIn(result.data).filter((url) => url !== params.inputFile)
    yield* line(`output files    ${outputs.length === 0 ? "(none)" : outputs.join(", ")}`)

    const deletion = yield* Payloads.delete(result.requestId).pipe(
      Effect.map(Option.some),
      Effect.catchTag("Forbidden", (error) =>
        Effect.as(
          line(`payload deletion refused: ${error.message} (set FAL_ADMIN_KEY to a key with ADMIN scope)`),
          Option.none()
        ))
    )
    if (Option.isNone(deletion)) {
      return
    }
    yield* line(`deleted         ${Payloads.deleted(deletion.value).length} file(s)`)
    for (const failed of Payloads.failed(deletion.value)) {
      yield* line(`  not deleted   ${failed.link}: ${Option.getOrElse(failed.error, () => "")}`)
    }
    for (const url of outputs) yield* line(`output ${url} → ${yield* fileStatus(url)}`)
    if (params.inputFile !== undefined) {
      yield* line(`input  ${params.inputFile} → ${yield* fileStatus(params.inputFile)}`)
    }
  })

const report = <A, R>(effect: Effect.Effect<A, FalError.FalError, R>) =>
  Effect.catchAll(
    effect,
    (error) => Effect.zipRight(line(`failed: ${error._tag}: ${error.message}`), Effect.die(error))
  )

/** The emulator's demo model: paints for a couple of seconds, logging each step, and writes one output file. */
const painter = Model.make({
  id: "effect-fal/painter",
  input: Schema.Struct({
    prompt: Schema.String,
    steps: Schema.optional(Schema.Int),
    image_url: Schema.optional(Schema.String)
  }),
  handler: ({ prompt, steps = 8 }, ctx) =>
    Effect.gen(function*() {
      for (let step = 1; step <= steps; step++) {
        yield* Effect.sleep("250 millis")
        yield* ctx.log(`step ${step}/${steps}`)
      }
      const url = yield* ctx.writeFile({ fileName: "painting.png", contentType: "image/png", content: prompt })
      return { images: [{ url, content_type: "image/png" }], prompt }
    }),
  billableUnits: 1
})

const onEmulator = Effect.gen(function*() {
  const emulator = yield* FalEmulator.FalEmulator
  yield* line(`fal emulator on ${emulator.origin} (FAL_KEY is not set)`)
  const fal = FalClient.layer({
    key: Redacted.make(FalPlatform.defaultKeys.user),
    adminKey: Redacted.make(FalPlatform.defaultKeys.admin),
    urls: {
      run: emulator.urls.run,
      queue: emulator.urls.queue,
      api: emulator.urls.api,
      rest: emulator.urls.rest,
      storage: emulator.urls.storage
    }
  })
  yield* Effect.gen(function*() {
    // the real upload: initiate on the storage base, one pre-signed PUT, the file on the CDN
    const inputFile = (yield* Storage.upload(new TextEncoder().encode("an input image"), {
      contentType: "image/png",
      fileName: "input.png"
    })).url
    yield* line(`input file ${inputFile} (uploaded with Storage.upload)`)
    // a larger file from a stream: 10 MB parts, 6 in flight at once, its progress as it goes
    const video = new Uint8Array(25 * 1024 * 1024)
    yield* Storage.uploadWithProgress({ stream: Stream.make(video), size: video.byteLength }, {
      contentType: "video/mp4"
    }).pipe(
      Stream.runForEach((event) =>
        event._tag === "Progress"
          ? line(`  upload progress: ${event.loaded} / ${event.total ?? "?"} bytes`)
          : line(`uploaded ${event.file.url} (${event.file.size} bytes in ${event.file.parts} parts)`)
      )
    )
    yield* report(program({
      model: flag("model") ?? painter.id,
      input: { prompt: "a lighthouse at dusk", steps: 8, image_url: inputFile },
      inputFile
    }))
    yield* report(webhookStep(painter.id, { prompt: "a fox in the snow", steps: 2 }))
  }).pipe(Effect.provide(fal))
}).pipe(Effect.provide(FalEmulator.layer({ models: [painter] })))

const onFal = Effect.gen(function*() {
  const model = flag("model") ?? "fal-ai/fast-sdxl"
  const input = JSON.parse(flag("input") ?? "{\"prompt\":\"a lighthouse at dusk\"}") as Record<string, unknown>
  const inputFile = flag("image-url")
  yield* line("running on fal (FAL_KEY is set)")
  yield* report(
    program({ model, input: inputFile === undefined ? input : { ...input, image_url: inputFile }, inputFile })
  )
    .pipe(Effect.provide(FalClient.layerConfig()))
  yield* skippedLive
})

const main: Effect.Effect<void, unknown, HttpClient.HttpClient> = live ? onFal : onEmulator

NodeRuntime.runMain(main.pipe(Effect.provide(NodeHttpClient.layerUndici)))
