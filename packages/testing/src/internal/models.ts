/**
 * The built-in demo models: `fal-ai/echo`, `fal-ai/image`, `fal-ai/slow`, `fal-ai/fail`,
 * `fal-ai/validate`, and the streaming ones: `fal-ai/counter`, `fal-ai/audio`, `fal-ai/stream-fail`.
 */
import { ErrorType } from "@effect-fal/headers"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Fault from "../Fault.js"
import * as Model from "../Model.js"

/** A 1x1 transparent PNG. */
const png = Uint8Array.from(
  atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="),
  (c) => c.charCodeAt(0)
)

export const echo = (runners: number): Model.Model =>
  Model.make({
    id: "fal-ai/echo",
    runners,
    input: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
    handler: (input, ctx) => Effect.as(ctx.log("echoing the input"), input)
  })

export const image = (runners: number): Model.Model =>
  Model.make({
    id: "fal-ai/image",
    runners,
    input: Schema.Struct({
      prompt: Schema.String,
      num_images: Schema.optional(Schema.Int.pipe(Schema.between(1, 4))),
      image_url: Schema.optional(Schema.String)
    }),
    billableUnits: (output) =>
      typeof output === "object" && output !== null && "images" in output && Array.isArray(output.images)
        ? output.images.length
        : 1,
    handler: (input, ctx) =>
      Effect.gen(function*() {
        const images: Array<Record<string, unknown>> = []
        for (let i = 0; i < (input.num_images ?? 1); i++) {
          const fileName = `image-${i}.png`
          const url = yield* ctx.writeFile({ fileName, contentType: "image/png", content: png })
          images.push({
            url,
            content_type: "image/png",
            file_name: fileName,
            file_size: png.length,
            width: 1,
            height: 1
          })
        }
        yield* ctx.log(`generated ${images.length} image(s)`)
        return { images, prompt: input.prompt, seed: 42, has_nsfw_concepts: images.map(() => false) }
      })
  })

export const slow = (runners: number): Model.Model =>
  Model.make({
    id: "fal-ai/slow",
    runners,
    input: Schema.Struct({ seconds: Schema.optional(Schema.NonNegative) }),
    handler: (input, ctx) =>
      Effect.gen(function*() {
        const seconds = input.seconds ?? 10
        let elapsed = 0
        while (elapsed < seconds) {
          const step = Math.min(1, seconds - elapsed)
          yield* Effect.sleep(`${step * 1000} millis`)
          elapsed += step
          yield* ctx.log(`slept ${elapsed}s of ${seconds}s`)
        }
        return { slept: seconds }
      })
  })

export const fail = (runners: number): Model.Model =>
  Model.make({
    id: "fal-ai/fail",
    runners,
    input: Schema.Struct({
      error_type: Schema.optional(Schema.String),
      status: Schema.optional(Schema.Int),
      detail: Schema.optional(Schema.String),
      retryable: Schema.optional(Schema.Boolean)
    }),
    handler: (input) => {
      const errorType = input.error_type ?? "runner_server_error"
      return Effect.fail(
        new Model.ModelError({
          status: input.status ?? ErrorType.usualStatus(errorType) ?? 500,
          errorType,
          detail: input.detail ?? `Model failed with ${errorType}`,
          retryable: input.retryable
        })
      )
    }
  })

export const validate = (runners: number): Model.Model =>
  Model.make({
    id: "fal-ai/validate",
    runners,
    input: Schema.Struct({
      prompt: Schema.String.pipe(Schema.minLength(1)),
      steps: Schema.Int.pipe(Schema.between(1, 50))
    }),
    handler: (input) => Effect.succeed(input)
  })

/** `count` items, the first at once, each next one `delayMs` later on the Clock. */
const paced = <A>(count: number, delayMs: number, item: (index: number) => A): Stream.Stream<A> => {
  const items = Stream.map(Stream.range(1, count), item)
  if (delayMs <= 0) return items
  return Stream.concat(
    Stream.take(items, 1),
    Stream.mapEffect(Stream.drop(items, 1), (a) => Effect.as(Effect.sleep(delayMs), a))
  )
}

export const counter = (runners: number): Model.Model =>
  Model.makeStreaming({
    id: "fal-ai/counter",
    runners,
    input: Schema.Struct({
      count: Schema.optional(Schema.Int.pipe(Schema.between(1, 10_000_000))),
      delay_ms: Schema.optional(Schema.NonNegative)
    }),
    stream: (input) => {
      const count = input.count ?? 5
      return paced(count, input.delay_ms ?? 100, (index) => ({ index, count, done: index === count }))
    }
  })

export const audio = (runners: number): Model.Model =>
  Model.makeStreaming({
    id: "fal-ai/audio",
    runners,
    contentType: "audio/mpeg",
    input: Schema.Struct({
      chunks: Schema.optional(Schema.Int.pipe(Schema.between(1, 1_000_000))),
      size: Schema.optional(Schema.Int.pipe(Schema.between(1, 1024 * 1024))),
      delay_ms: Schema.optional(Schema.NonNegative)
    }),
    stream: (input) =>
      paced(input.chunks ?? 4, input.delay_ms ?? 0, (index) => new Uint8Array(input.size ?? 1024).fill(index % 256))
  })

export const streamFail = (runners: number): Model.Model =>
  Model.makeStreaming({
    id: "fal-ai/stream-fail",
    runners,
    input: Schema.Struct({
      after: Schema.optional(Schema.Int.pipe(Schema.between(0, 1000))),
      how: Schema.optional(Schema.Literal("error", "cut", "bad_json")),
      error_type: Schema.optional(Schema.String),
      detail: Schema.optional(Schema.String),
      delay_ms: Schema.optional(Schema.NonNegative)
    }),
    stream: (input) => {
      const after = input.after ?? 2
      const errorType = input.error_type ?? "runner_server_error"
      const failure: Stream.Stream<unknown, Model.ModelError | Fault.ConnectionReset> = input.how === "cut"
        ? Stream.fail(new Fault.ConnectionReset())
        : input.how === "bad_json"
        ? Stream.succeed(new Model.RawEvent({ text: "this is not JSON" }))
        : Stream.fail(
          new Model.ModelError({
            status: ErrorType.usualStatus(errorType) ?? 500,
            errorType,
            detail: input.detail ?? `Model failed with ${errorType}`
          })
        )
      const before = after === 0
        ? Stream.empty
        : paced(after, input.delay_ms ?? 0, (index) => ({ index }))
      // the failure comes `delay_ms` after the last output too (the in-memory transport drops
      // bytes still queued when a body fails, as a cut would lose bytes in flight)
      const pause = (input.delay_ms ?? 0) > 0
        ? Stream.drain(Stream.fromEffect(Effect.sleep(input.delay_ms ?? 0)))
        : Stream.empty
      return Stream.concat(Stream.concat(before, pause), failure)
    }
  })

export const all = (runners: number): ReadonlyArray<Model.Model> => [
  echo(runners),
  image(runners),
  slow(runners),
  fail(runners),
  validate(runners),
  counter(runners),
  audio(runners),
  streamFail(runners)
]
