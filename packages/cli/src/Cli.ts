/**
 * The `effect-fal` command: `purge` (bulk payload deletion with progress and a checkpoint),
 * `requests` (an endpoint's request history) and `upload` (a local file to fal's CDN, with
 * progress; its URL on stdout). Keys come from `FAL_ADMIN_KEY` / `FAL_KEY` and are
 * never printed; base URLs from `FAL_RUN_URL`, `FAL_QUEUE_URL`, `FAL_API_URL`, `FAL_REST_URL`,
 * `FAL_STORAGE_URL`, or `--api-url`. The HTTP transport is the `HttpClient` in context (the bin
 * provides undici).
 *
 * Exit codes ({@link exitCode}): 0 done, 1 some requests failed, fal answered an error or a file
 * could not be read, 2 bad input (nothing was sent). {@link main} prints every failure as one line on stderr.
 *
 * @since 0.1.0
 */
import { FalClient, type FalError, Payloads, Purge, Requests, Storage } from "@effect-fal/api"
import * as Args from "@effect/cli/Args"
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as Primitive from "@effect/cli/Primitive"
import * as ValidationError from "@effect/cli/ValidationError"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Path from "@effect/platform/Path"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { stripVTControlCharacters } from "node:util"

/**
 * Where the progress line goes: on a terminal it is redrawn in place (`interactive`), else
 * plain lines are printed, one per page.
 *
 * @since 0.1.0
 * @category services
 */
export class Terminal extends Context.Tag("@effect-fal/cli/Terminal")<Terminal, {
  readonly interactive: boolean
  /** Redraws the progress line (interactive only). */
  readonly redraw: (line: string) => Effect.Effect<void>
}>() {}

/**
 * The terminal of this process: interactive when stderr is a TTY.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerProcessTerminal: Layer.Layer<Terminal> = Layer.sync(Terminal, () => ({
  interactive: process.stderr.isTTY === true,
  redraw: (line) => Effect.sync(() => void process.stderr.write(`\r\x1b[2K${line}`))
}))

/**
 * The purge found requests it could not delete.
 *
 * @since 0.1.0
 * @category errors
 */
export class PurgeFailures extends Schema.TaggedError<PurgeFailures>("@effect-fal/cli/PurgeFailures")(
  "PurgeFailures",
  { failures: Schema.Number }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.failures} request(s) could not be purged`
  }
}

/**
 * Neither `FAL_ADMIN_KEY` nor `FAL_KEY` is set.
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingKey extends Schema.TaggedError<MissingKey>("@effect-fal/cli/MissingKey")("MissingKey", {}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return "no key: set FAL_ADMIN_KEY (payload deletion needs ADMIN scope) or FAL_KEY"
  }
}

/**
 * Bad input found after the command line was parsed: a configuration variable or flag with an
 * unusable value, or flags that do not go together. `problem` names what is wrong and `fix` how
 * to put it right; neither ever holds a key. Nothing was sent (exit code 2).
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>("@effect-fal/cli/InvalidInput")("InvalidInput", {
  problem: Schema.String,
  fix: Schema.String
}) {
  /**
   * @since 0.2.0
   */
  override get message(): string {
    return `${this.problem}: ${this.fix}`
  }
}

const invalid = (text: string) => ValidationError.invalidValue(HelpDoc.p(text))

const shortUnits: Record<string, string> = { s: "seconds", m: "minutes", h: "hours", d: "days", w: "weeks" }

/**
 * A duration, not negative: Effect's duration input (`7 days`, `36 hours`, `90 minutes`) or its
 * short form, a number and one of s, m, h, d, w (`7d`, `36h`, `90m`, `0s`: everything ended so far).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseAge = (flag: string, text: string): Either.Either<Duration.Duration, string> => {
  const input = text.trim()
  const unit = shortUnits[input.slice(-1)]
  const amount = input.slice(0, -1).trim()
  const long = unit !== undefined && amount !== "" && Number.isFinite(Number(amount)) ? `${amount} ${unit}` : input
  const problem = `--${flag}: ${JSON.stringify(text)} is not a duration; write 7d, 36h, 90m, 1w or "7 days"`
  if (input.startsWith("-")) return Either.left(`--${flag}: the duration must not be negative, not ${input}`)
  return Option.match(Duration.decodeUnknown(long), {
    onNone: () => Either.left(problem),
    onSome: Either.right
  })
}

const parseInstant = (flag: string, text: string): Either.Either<DateTime.Utc, string> =>
  Option.match(DateTime.make(text), {
    onNone: () => Either.left(`--${flag}: ${JSON.stringify(text)} is not a date (2026-11-01 or an ISO date-time)`),
    onSome: (date) => Either.right(DateTime.toUtc(date))
  })

const fromEither = <A>(either: Either.Either<A, string>) =>
  Either.match(either, { onLeft: (text) => Effect.fail(invalid(text)), onRight: Effect.succeed })

const endpoints = Options.text("endpoint").pipe(
  Options.withAlias("e"),
  Options.atLeast(1),
  Options.withDescription("An endpoint id, e.g. fal-ai/flux/dev; repeat for several")
)

const apiUrl = Options.text("api-url").pipe(
  Options.optional,
  Options.withDescription("The Platform API base URL (default: FAL_API_URL, else fal's)")
)

const status = Options.choice("status", ["success", "error", "user_error"]).pipe(
  Options.optional,
  Options.withDescription("Only requests of this status class")
)

const olderThan = Options.text("older-than").pipe(
  Options.withDescription("Purge requests that ended longer ago than this: 7d, 36h, 90m, 1w or \"7 days\""),
  Options.mapEffect((text) => fromEither(parseAge("older-than", text))),
  Options.optional
)

// `Options.date`'s own parser (`Primitive.date`), with a message that names the flag
const before = Options.text("before").pipe(
  Options.withDescription("Purge requests that ended before this date: 2026-11-01 or an ISO date-time"),
  Options.mapEffect((text) =>
    Effect.mapError(
      Primitive.validate(Primitive.date, Option.some(text), CliConfig.defaultConfig),
      (reason) => invalid(`--before: ${reason}; write a date like 2026-11-01 or an ISO date-time`)
    )
  ),
  Options.optional
)

/** Exactly one cut-off: `--older-than` or `--before`. */
const cutoffOf = (
  olderThan: Option.Option<Duration.Duration>,
  before: Option.Option<Date>
): Effect.Effect<{ readonly olderThan: Duration.Duration } | { readonly before: DateTime.Utc }, InvalidInput> => {
  if (Option.isSome(olderThan) && Option.isSome(before)) {
    return Effect.fail(
      new InvalidInput({
        problem: "--older-than and --before were both given",
        fix: "give one cut-off, either --older-than 7d or --before 2026-11-01"
      })
    )
  }
  if (Option.isSome(olderThan)) return Effect.succeed({ olderThan: olderThan.value })
  if (Option.isSome(before)) return Effect.succeed({ before: DateTime.unsafeMake(before.value) })
  return Effect.fail(
    new InvalidInput({ problem: "no cut-off", fix: "give --older-than (e.g. 7d) or --before (e.g. 2026-11-01)" })
  )
}

const concurrency = Options.integer("concurrency").pipe(
  Options.withDefault(4),
  Options.withDescription("Deletions in flight at once (1..64)"),
  Options.mapEffect((n) =>
    n >= 1 && n <= 64 ? Effect.succeed(n) : Effect.fail(invalid("--concurrency: must be in 1..64"))
  )
)

const urlVariables = {
  run: "FAL_RUN_URL",
  queue: "FAL_QUEUE_URL",
  api: "FAL_API_URL",
  rest: "FAL_REST_URL",
  storage: "FAL_STORAGE_URL"
} as const

const defaultUrlHint: { readonly [K in keyof FalClient.Urls]: string } = FalClient.defaultUrls

/**
 * A `FalClient` from the environment: the admin key (else the key), the base URLs from
 * `FAL_*_URL`, `--api-url` over `FAL_API_URL`. Every unusable value fails as an
 * {@link InvalidInput} naming the variable or flag it came from (never the value of a key).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  apiUrlOverride: Option.Option<string>
): Layer.Layer<FalClient.FalClient, MissingKey | InvalidInput, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const read = <A>(name: string, config: Config.Config<A>) =>
      Effect.mapError(
        config,
        () => new InvalidInput({ problem: `${name} could not be read`, fix: `check the value of ${name}` })
      )
    const key = yield* read("FAL_KEY", Config.option(Config.redacted("FAL_KEY")))
    const adminKey = yield* read("FAL_ADMIN_KEY", Config.option(Config.redacted("FAL_ADMIN_KEY")))
    const keyFrom = Option.isSome(key) ? "FAL_KEY" : "FAL_ADMIN_KEY"
    const mainKey = Option.orElse(key, () => adminKey)
    if (Option.isNone(mainKey)) return yield* new MissingKey()
    const urls: { -readonly [K in keyof FalClient.Urls]?: string } = {}
    const sources: { -readonly [K in keyof FalClient.Urls]: string } = { ...urlVariables }
    for (const name of Object.keys(urlVariables) as Array<keyof FalClient.Urls>) {
      const value = yield* read(urlVariables[name], Config.option(Config.string(urlVariables[name])))
      if (Option.isSome(value)) urls[name] = value.value
    }
    if (Option.isSome(apiUrlOverride)) {
      urls.api = apiUrlOverride.value
      sources.api = "--api-url"
    }
    // FalClient checks every key and URL; its complaint is put in terms of the variable or flag
    const explain = (error: FalError.InvalidConfiguration): InvalidInput => {
      if (error.option === "key" || error.option === "adminKey") {
        const variable = error.option === "key" ? keyFrom : "FAL_ADMIN_KEY"
        return new InvalidInput({
          problem: `${variable} ${error.reason}`,
          fix: variable === "FAL_ADMIN_KEY"
            ? "set it to a fal key with ADMIN scope, or unset it to use FAL_KEY"
            : "set it to your fal key (key-id:key-secret), or unset it"
        })
      }
      const base = (Object.keys(urlVariables) as Array<keyof FalClient.Urls>).find((name) =>
        error.option === `urls.${name}`
      )
      if (base !== undefined) {
        return new InvalidInput({
          problem: `${sources[base]}: ${error.reason}`,
          fix: sources[base] === "--api-url"
            ? `give the Platform API base URL, e.g. ${defaultUrlHint.api}`
            : `set it to an absolute http(s) URL such as ${defaultUrlHint[base]}, or unset it`
        })
      }
      return new InvalidInput({ problem: `configuration: ${error.reason}`, fix: `check ${error.option}` })
    }
    return FalClient.layer({ key: mainKey.value, adminKey: Option.getOrUndefined(adminKey), urls }).pipe(
      Layer.mapError(explain)
    )
  }))

const rate = (done: number, elapsedMs: number) => (elapsedMs > 0 ? (done * 1000) / elapsedMs : 0)

/**
 * The progress line: listed, deleted, failed, rate and, from the rate, the ETA of what is listed.
 *
 * @since 0.1.0
 * @category rendering
 */
export const progressLine = (progress: {
  readonly listed: number
  readonly deleted: number
  readonly gone: number
  readonly failed: number
  readonly elapsedMs: number
}): string => {
  const done = progress.deleted + progress.gone + progress.failed
  const perSecond = rate(done, progress.elapsedMs)
  const remaining = Math.max(0, progress.listed - done)
  const eta = perSecond > 0 ? Duration.format(Duration.seconds(Math.ceil(remaining / perSecond))) : "?"
  return `listed ${progress.listed}  deleted ${progress.deleted}  already gone ${progress.gone}  failed ${progress.failed}  ${
    perSecond.toFixed(1)
  } req/s  ETA ${eta}`
}

/**
 * What a checkpoint held when a purge started: the endpoints an earlier run completed (skipped
 * whole: nothing of theirs is listed again) and those it had started (resumed from the recorded
 * page).
 *
 * @since 0.2.0
 * @category rendering
 */
export interface Resumed {
  readonly path: string
  readonly completed: ReadonlyArray<string>
  readonly started: ReadonlyArray<string>
}

/**
 * @since 0.2.0
 * @category rendering
 */
export const resumedFrom = (path: string, state: Purge.State, endpoints: ReadonlyArray<string>): Resumed => ({
  path,
  completed: endpoints.filter((id) => state.endpoints.get(id)?.completed === true),
  started: endpoints.filter((id) => {
    const endpoint = state.endpoints.get(id)
    return endpoint !== undefined && !endpoint.completed
  })
})

/**
 * The summary line: the cut-off and the counts; with a checkpoint, what it covered (endpoints an
 * earlier run completed are not listed again, so their requests are in none of the counts).
 *
 * @since 0.2.0
 * @category rendering
 */
export const summaryLine = (
  summary: Purge.PurgeSummary,
  options: { readonly dryRun: boolean; readonly resumed: Option.Option<Resumed> }
): string => {
  const counts = [
    `cut-off ${DateTime.formatIso(summary.cutoff)}`,
    `listed ${summary.listed}`,
    options.dryRun ? `would delete ${summary.wouldDelete}` : `deleted ${summary.deleted}`,
    `already gone ${summary.alreadyGone}`,
    `files removed ${summary.filesRemoved}`,
    `failures ${summary.failures}`,
    `skipped (checkpoint) ${summary.skipped}`
  ].join(", ")
  return Option.match(options.resumed, {
    onNone: () => counts,
    onSome: (resumed) => {
      const parts = [
        ...(resumed.completed.length > 0
          ? [`already completed by an earlier run, not listed again: ${resumed.completed.join(", ")}`]
          : []),
        ...(resumed.started.length > 0 ? [`resumed from the recorded page: ${resumed.started.join(", ")}`] : [])
      ]
      return parts.length === 0
        ? `${counts}; checkpoint ${resumed.path}: a fresh start`
        : `${counts}; checkpoint ${resumed.path}: ${parts.join("; ")}`
    }
  })
}

const purge = Command.make(
  "purge",
  {
    endpoints,
    olderThan,
    before,
    status,
    concurrency,
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("List what would be deleted; delete nothing")),
    checkpoint: Options.text("checkpoint").pipe(
      Options.optional,
      Options.withDescription("A JSON-lines file recording progress; an interrupted purge resumes from it")
    ),
    waitForLock: Options.text("wait-for-lock").pipe(
      Options.withDescription(
        "With --checkpoint: wait this long (e.g. 5m) for another purge holding the checkpoint to finish"
      ),
      Options.mapEffect((text) => fromEither(parseAge("wait-for-lock", text))),
      Options.optional
    ),
    apiUrl
  },
  (args) =>
    Effect.gen(function*() {
      const cutoff = yield* cutoffOf(args.olderThan, args.before)
      const terminal = yield* Terminal
      const started = yield* Clock.currentTimeMillis
      const progress = { listed: 0, deleted: 0, gone: 0, failed: 0, elapsedMs: 0 }
      // what an earlier run with the same checkpoint already did, said in the summary
      let resumed: Option.Option<Resumed> = Option.none()
      const options = (checkpoint: Purge.Checkpoint | undefined): Purge.PurgeOptions => ({
        endpoints: args.endpoints,
        ...cutoff,
        status: Option.getOrUndefined(args.status),
        concurrency: args.concurrency,
        dryRun: args.dryRun,
        checkpoint
      })
      const onEvent = (event: Purge.PurgeEvent): Effect.Effect<void> =>
        Effect.gen(function*() {
          progress.elapsedMs = (yield* Clock.currentTimeMillis) - started
          switch (event._tag) {
            case "Listed":
              progress.listed += event.count
              if (!terminal.interactive) yield* Console.log(progressLine(progress))
              break
            case "Deleted":
              progress.deleted++
              break
            case "AlreadyGone":
              progress.gone++
              break
            case "Failed":
              progress.failed++
              yield* Console.error(`failed ${event.requestId} (${event.endpointId}): ${event.error.message}`)
              break
            case "WouldDelete":
              yield* Console.log(`would delete ${event.record.requestId} (${event.endpointId})`)
              break
            case "Summary": {
              if (terminal.interactive) yield* terminal.redraw(`${progressLine(progress)}\n`)
              yield* Console.log(summaryLine(event.summary, { dryRun: args.dryRun, resumed }))
              return
            }
          }
          if (terminal.interactive && event._tag !== "WouldDelete") yield* terminal.redraw(progressLine(progress))
        })
      const run = (checkpoint: Purge.Checkpoint | undefined) =>
        Payloads.purge(options(checkpoint)).pipe(
          Stream.runFoldEffect(
            0,
            (failures, event) => Effect.as(onEvent(event), event._tag === "Summary" ? event.summary.failures : failures)
          )
        )
      const failures = yield* Option.match(args.checkpoint, {
        onNone: () => run(undefined),
        onSome: (path) =>
          Effect.scoped(Effect.gen(function*() {
            const checkpoint = yield* Purge.file(path, { waitForLock: Option.getOrUndefined(args.waitForLock) })
            resumed = Option.some(resumedFrom(path, yield* checkpoint.load, args.endpoints))
            return yield* run(checkpoint)
          }))
      }).pipe(Effect.provide(layerClient(args.apiUrl)))
      if (failures > 0) return yield* new PurgeFailures({ failures })
    })
).pipe(Command.withDescription("Delete the stored payloads of an endpoint's requests that ended before a cut-off"))

const requests = Command.make(
  "requests",
  {
    endpoints,
    since: Options.text("since").pipe(
      Options.withDescription("Requests that ended since: a duration ago (24h, 7d) or a date (default: 24h)"),
      Options.mapEffect((text) =>
        Either.match(parseAge("since", text), {
          onLeft: () => fromEither(parseInstant("since", text)),
          onRight: (age) =>
            Effect.map(Clock.currentTimeMillis, (now) => DateTime.unsafeMake(now - Duration.toMillis(age)))
        })
      ),
      Options.optional
    ),
    status,
    json: Options.boolean("json").pipe(Options.withDescription("One JSON object per line")),
    apiUrl
  },
  (args) =>
    Effect.forEach(args.endpoints, (endpointId) =>
      Requests.list({
        endpointId,
        ...(Option.isSome(args.since) ? { start: args.since.value } : {}),
        status: Option.getOrUndefined(args.status),
        pageSize: 100
      }).pipe(
        Stream.runForEach((record) =>
          Console.log(
            args.json
              ? JSON.stringify(Schema.encodeSync(Requests.RequestRecord)(record))
              : [
                record.requestId,
                record.endpointId,
                Option.match(record.endedAt, { onNone: () => "-", onSome: DateTime.formatIso }),
                Option.match(record.statusCode, { onNone: () => "-", onSome: String }),
                Option.match(record.duration, { onNone: () => "-", onSome: (d) => `${d.toFixed(2)}s` })
              ].join("\t")
          )
        )
      )).pipe(Effect.provide(layerClient(args.apiUrl)))
).pipe(Command.withDescription("List an endpoint's requests (the Platform API request history)"))

/**
 * The file changed between its check and its upload (it grew or shrank while it was read): fal
 * stored nothing. Exit code 1.
 *
 * @since 0.2.0
 * @category errors
 */
export class FileChanged extends Schema.TaggedError<FileChanged>("@effect-fal/cli/FileChanged")("FileChanged", {
  path: Schema.String,
  size: Schema.Number
}) {
  /**
   * @since 0.2.0
   */
  override get message(): string {
    return `${this.path} changed while it was uploaded (it held ${this.size} bytes when it was checked); ` +
      "nothing was stored: upload it again once nothing writes to it"
  }
}

const mediaTypes: Readonly<Record<string, string>> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif",
  mp4: "video/mp4",
  mov: "video/quicktime",
  webm: "video/webm",
  mp3: "audio/mpeg",
  wav: "audio/wav",
  ogg: "audio/ogg",
  json: "application/json",
  txt: "text/plain"
}

/**
 * The content type `upload` sends when `--content-type` is not given: guessed from the file
 * name's extension (any case) for common media (png, jpg, jpeg, webp, gif, mp4, mov, webm, mp3,
 * wav, ogg, json, txt), else `application/octet-stream`.
 *
 * @since 0.2.0
 * @category parsing
 */
export const contentTypeOf = (fileName: string): string => {
  const dot = fileName.lastIndexOf(".")
  const extension = dot > 0 ? fileName.slice(dot + 1).toLowerCase() : ""
  return Object.hasOwn(mediaTypes, extension) ? mediaTypes[extension] : "application/octet-stream"
}

/**
 * A number of bytes for people: `512 B`, `3.4 kB`, `25.0 MB`, `1.20 GB` (decimal units, as
 * `MB/s` is).
 *
 * @since 0.2.0
 * @category rendering
 */
export const formatBytes = (bytes: number): string =>
  bytes < 1e3
    ? `${bytes} B`
    : bytes < 1e6
    ? `${(bytes / 1e3).toFixed(1)} kB`
    : bytes < 1e9
    ? `${(bytes / 1e6).toFixed(1)} MB`
    : `${(bytes / 1e9).toFixed(2)} GB`

/**
 * The progress line of an upload: bytes sent of the total, the percentage (rounded down, so 100%
 * only once every byte is acknowledged), the rate so far in MB/s and, from it, the ETA (`?` before
 * any time has passed). Without a total (never for a file: its size is known), bytes and rate.
 *
 * @since 0.2.0
 * @category rendering
 */
export const uploadLine = (progress: {
  readonly loaded: number
  readonly total: number | undefined
  readonly elapsedMs: number
}): string => {
  const perSecond = rate(progress.loaded, progress.elapsedMs)
  const speed = `${(perSecond / 1e6).toFixed(1)} MB/s`
  if (progress.total === undefined) return `${formatBytes(progress.loaded)} sent  ${speed}`
  const remaining = Math.max(0, progress.total - progress.loaded)
  const percent = progress.total > 0 ? Math.floor((progress.loaded * 100) / progress.total) : 100
  const eta = remaining === 0
    ? "0s"
    : perSecond > 0
    ? Duration.format(Duration.seconds(Math.ceil(remaining / perSecond)))
    : "?"
  return `${formatBytes(progress.loaded)} / ${formatBytes(progress.total)}  ${percent}%  ${speed}  ETA ${eta}`
}

/**
 * Which tenth of the file has been sent (0 to 10): off a terminal `upload` prints a progress line
 * only when this goes up, so a file makes at most 11 lines however many events its upload has.
 *
 * @since 0.2.0
 * @category rendering
 */
export const tenthOf = (loaded: number, total: number | undefined): number =>
  total === undefined || total <= 0 ? 0 : Math.min(10, Math.floor((loaded * 10) / total))

/**
 * The file to upload, checked before anything is sent: it exists, can be read, is a regular
 * file and holds a byte or more. Answers its size.
 */
const checkFile = (fs: FileSystem.FileSystem, path: string): Effect.Effect<number, InvalidInput> => {
  const bad = (problem: string, fix: string) => new InvalidInput({ problem: `${path}: ${problem}`, fix })
  const failed = (error: PlatformError.PlatformError) =>
    error._tag === "SystemError" && error.reason === "NotFound"
      ? bad("no such file", "give the path of a file to upload")
      : error._tag === "SystemError" && error.reason === "PermissionDenied"
      ? bad("cannot be read (permission denied)", "check its permissions")
      : bad(`cannot be read (${error._tag === "SystemError" ? error.reason : "bad argument"})`, "check the path")
  return Effect.gen(function*() {
    const info = yield* Effect.mapError(fs.stat(path), failed)
    if (info.type === "Directory") {
      return yield* bad("is a directory", "give the path of a file (upload a directory's files one by one)")
    }
    if (info.type !== "File") {
      return yield* bad(`is not a regular file (${info.type})`, "give the path of a regular file")
    }
    yield* Effect.mapError(fs.access(path, { readable: true }), failed)
    if (info.size === BigInt(0)) return yield* bad("is empty", "fal stores files of 1 byte or more")
    return Number(info.size)
  })
}

/** The size mismatch `Storage.upload` reports for a stream that was not the size it declared. */
const isSizeMismatch = (error: FalError.InvalidRequestOptions): boolean =>
  error.issues.some((issue) => issue.name === "Content-Length")

const upload = Command.make(
  "upload",
  {
    path: Args.text({ name: "path" }).pipe(Args.withDescription("The file to upload")),
    contentType: Options.text("content-type").pipe(
      Options.optional,
      Options.withDescription(
        "The file's media type (default: from the file name's extension for common images, video, audio, json and txt, else application/octet-stream)"
      )
    ),
    fileName: Options.text("file-name").pipe(
      Options.optional,
      Options.withDescription("The file name fal stores (default: the path's base name)")
    ),
    concurrency: Options.integer("concurrency").pipe(
      Options.optional,
      Options.withDescription("Parts in flight at once for a file sent in parts (1..32; default: the client's, 6)"),
      Options.mapEffect(Option.match({
        onNone: () => Effect.succeedNone,
        onSome: (n) =>
          n >= 1 && n <= 32 ? Effect.succeedSome(n) : Effect.fail(invalid(`--concurrency: must be in 1..32, not ${n}`))
      }))
    ),
    expiresIn: Options.text("expires-in").pipe(
      Options.withDescription("Keep the file this long (1h, 7d, \"36 hours\"), or never (default: the account's)"),
      Options.mapEffect((text): Effect.Effect<Duration.Duration | "never", ValidationError.ValidationError> =>
        text.trim() === "never"
          ? Effect.succeed("never")
          : fromEither(Either.mapLeft(
            parseAge("expires-in", text),
            (problem) =>
              text.trim().startsWith("-")
                ? problem
                : `--expires-in: ${JSON.stringify(text)} is not a duration; write 1h, 7d, 90m, "36 hours" or never`
          ))
      ),
      Options.optional
    ),
    json: Options.boolean("json").pipe(
      Options.withDescription("Print {url, contentType, fileName, size, parts} as one JSON line instead of the URL")
    )
  },
  (args) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const terminal = yield* Terminal
      const size = yield* checkFile(fs, args.path)
      const started = yield* Clock.currentTimeMillis
      let tenth = -1
      let drawn: string | undefined
      const onProgress = (progress: Storage.Progress): Effect.Effect<void> =>
        Effect.gen(function*() {
          const line = uploadLine({
            loaded: progress.loaded,
            total: progress.total,
            elapsedMs: (yield* Clock.currentTimeMillis) - started
          })
          if (terminal.interactive) {
            drawn = line
            return yield* terminal.redraw(line)
          }
          const now = tenthOf(progress.loaded, progress.total)
          if (now > tenth) {
            tenth = now
            yield* Console.error(line)
          }
        })
      // 1 MiB chunks rather than the default 64 KiB: a 10 MB part is 10 Stream steps (each a
      // read, a chunk and a copy into the part buffer) instead of 160; 4 of them read ahead of the
      // part buffers (the default 16 would be 16 MiB held besides). A file-backed Blob
      // (`fs.openAsBlob`) would be Node's own API, not the platform's FileSystem, and would send
      // files up to 90 MB in one PUT, where a sized stream above one part goes in parts,
      // `--concurrency` of them at once: what moves a large file at the link's speed.
      const data: Storage.SizedStream<PlatformError.PlatformError> = {
        stream: fs.stream(args.path, { chunkSize: FileSystem.MiB(1), bufferSize: 4 }),
        size
      }
      const fileName = Option.getOrElse(args.fileName, () => path.basename(args.path))
      const file = yield* Storage.upload(data, {
        contentType: Option.getOrElse(args.contentType, () => contentTypeOf(fileName)),
        fileName,
        concurrency: Option.getOrUndefined(args.concurrency),
        lifecycle: Option.match(args.expiresIn, {
          onNone: () => undefined,
          onSome: (expiration) => ({ expiration })
        }),
        onProgress
      }).pipe(
        Effect.catchTag(
          "InvalidRequestOptions",
          (error): Effect.Effect<never, FileChanged | FalError.InvalidRequestOptions> =>
            Effect.fail(isSizeMismatch(error) ? new FileChanged({ path: args.path, size }) : error)
        ),
        // the failure line, if any, starts on a line of its own
        Effect.ensuring(Effect.suspend(() => drawn === undefined ? Effect.void : terminal.redraw(`${drawn}\n`))),
        Effect.provide(layerClient(Option.none()))
      )
      yield* Console.log(
        args.json
          ? JSON.stringify({
            url: file.url,
            contentType: file.contentType,
            fileName: file.fileName,
            size: file.size,
            parts: file.parts
          })
          : file.url
      )
    })
).pipe(Command.withDescription("Upload a local file to fal's CDN and print its URL (progress on stderr)"))

/**
 * The `effect-fal` command with its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("effect-fal").pipe(
  Command.withDescription("The fal platform from the command line: request history, payload purge and uploads"),
  Command.withSubcommands([purge, requests, upload])
)

/**
 * Runs the command on `argv` (the whole `process.argv`: the first two entries are skipped).
 * `version` is what `--version` and `--help` print (the bin reads it from its `package.json`).
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  argv: ReadonlyArray<string>,
  options: { readonly version: string }
) => Command.run(command, { name: "effect-fal", version: options.version })(argv)

/**
 * Whether an error is a usage error `@effect/cli` already printed: its own `ValidationError`s,
 * raised while parsing the command line. The command's handlers never raise one (their bad
 * input is an {@link InvalidInput}), so each failure is printed exactly once.
 *
 * @since 0.1.0
 * @category running
 */
export const isUsageError = (error: unknown): boolean => ValidationError.isValidationError(error)

/**
 * The one line `effect-fal` prints on stderr for a failed run, or none when `@effect/cli` has
 * already printed it (a usage error) or the run succeeded. It names what went wrong and, for bad
 * input, how to fix it; errors of `@effect-fal/api` never hold a key.
 *
 * @since 0.2.0
 * @category running
 */
export const failureLine = (exit: Exit.Exit<unknown, unknown>): Option.Option<string> => {
  if (Exit.isSuccess(exit)) return Option.none()
  if (Cause.isInterruptedOnly(exit.cause)) return Option.some("effect-fal: interrupted")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && isUsageError(failure.value)) return Option.none()
  const error = Option.isSome(failure) ? failure.value : Cause.squash(exit.cause)
  const text = error instanceof Purge.CheckpointLocked
    ? `${error.message}; wait with --wait-for-lock 5m, or remove the lock file if that purge is gone`
    : error instanceof Error
    ? error.message
    : String(error)
  const prefix = Option.isSome(failure) ? "effect-fal" : "effect-fal: unexpected error"
  return Option.some(`${prefix}: ${text.split("\n")[0]}`)
}

/**
 * Runs the command and prints its failure, if any, as one line on the `Console`'s error
 * stream ({@link failureLine}); the exit says which exit code to use ({@link exitCode}).
 *
 * @since 0.2.0
 * @category running
 */
export const main = (argv: ReadonlyArray<string>, options: { readonly version: string }) =>
  run(argv, options).pipe(
    Effect.onExit((exit) =>
      Option.match(failureLine(exit), { onNone: () => Effect.void, onSome: (line) => Console.error(line) })
    )
  )

/**
 * A `Console` for a process whose output may be piped: `@effect/cli` renders its help and
 * messages with ANSI styles and a trailing newline of their own; this console drops the styles
 * on a stream that is not a terminal (or when `NO_COLOR` is set) and the extra newline always,
 * so `--version` prints one line and `--help | less` shows plain text.
 *
 * @since 0.2.0
 * @category layers
 */
export const plainConsole = (streams: { readonly stdoutIsTTY: boolean; readonly stderrIsTTY: boolean }) =>
  Console.consoleWith((current) => {
    const clean = (tty: boolean) => (args: ReadonlyArray<unknown>) =>
      args.map((arg) => {
        if (typeof arg !== "string") return arg
        const trimmed = arg.endsWith("\n") ? arg.slice(0, -1) : arg
        return tty ? trimmed : stripVTControlCharacters(trimmed)
      })
    const out = clean(streams.stdoutIsTTY)
    const err = clean(streams.stderrIsTTY)
    return Effect.succeed<Console.Console>({
      ...current,
      log: (...args) => current.log(...out(args)),
      error: (...args) => current.error(...err(args))
    })
  })

/**
 * The process's own console through {@link plainConsole}: styles only on a terminal, and never
 * with `NO_COLOR` set.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerProcessConsole: Layer.Layer<never> = Layer.unwrapEffect(
  Effect.suspend(() =>
    Effect.map(
      plainConsole({
        stdoutIsTTY: process.stdout.isTTY === true && process.env.NO_COLOR === undefined,
        stderrIsTTY: process.stderr.isTTY === true && process.env.NO_COLOR === undefined
      }),
      Console.setConsole
    )
  )
)

/**
 * The process exit code of a run: 0 success, 2 bad input (nothing sent), 1 anything else.
 *
 * @since 0.1.0
 * @category running
 */
export const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return 0
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return Cause.isInterruptedOnly(exit.cause) ? 130 : 1
  const error = failure.value
  if (ValidationError.isValidationError(error) || error instanceof MissingKey || error instanceof InvalidInput) return 2
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const tag = String(error._tag)
    if (
      tag === "InvalidPurgeOptions" || tag === "InvalidListOptions" || tag === "InvalidModelId" ||
      tag === "InvalidRequestId" || tag === "InvalidRequestOptions"
    ) return 2
  }
  return 1
}
