/**
 * The `effect-fal` command: `purge` (bulk payload deletion with progress and a checkpoint) and
 * `requests` (an endpoint's request history). Keys come from `FAL_ADMIN_KEY` / `FAL_KEY` and are
 * never printed; base URLs from `FAL_RUN_URL`, `FAL_QUEUE_URL`, `FAL_API_URL`, `FAL_REST_URL`,
 * or `--api-url`. The HTTP transport is the `HttpClient` in context (the bin provides undici).
 *
 * Exit codes ({@link exitCode}): 0 done, 1 some requests failed or fal answered an error,
 * 2 bad input (nothing was sent).
 *
 * @since 0.1.0
 */
import { FalClient, Payloads, Purge, Requests } from "@effect-fal/api"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import type * as HttpClient from "@effect/platform/HttpClient"
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
    return "Set FAL_ADMIN_KEY (payload deletion needs ADMIN scope) or FAL_KEY"
  }
}

const invalid = (text: string) => ValidationError.invalidValue(HelpDoc.p(text))

const units: Record<string, (n: number) => Duration.Duration> = {
  s: Duration.seconds,
  m: Duration.minutes,
  h: Duration.hours,
  d: Duration.days,
  w: Duration.weeks
}

/**
 * A duration written `<n><unit>`, unit one of s, m, h, d, w (`7d`, `36h`), not negative (`0s`: everything ended so far).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseAge = (flag: string, text: string): Either.Either<Duration.Duration, string> => {
  const match = /^\s*(-?\d+(?:\.\d+)?)\s*([smhdw])\s*$/.exec(text)
  if (match === null) return Either.left(`--${flag}: ${JSON.stringify(text)} is not a duration like 7d, 36h or 90m`)
  const value = Number(match[1])
  if (!(value >= 0)) return Either.left(`--${flag}: the duration must not be negative, not ${text.trim()}`)
  return Either.right(units[match[2]](value))
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

const cutoff = Options.text("older-than").pipe(
  Options.withDescription("Purge requests that ended longer ago than this: 7d, 36h, 90m, 1w"),
  Options.mapEffect((text) => fromEither(parseAge("older-than", text))),
  Options.orElseEither(
    Options.text("before").pipe(
      Options.withDescription("Purge requests that ended before this date: 2026-11-01 or an ISO date-time"),
      Options.mapEffect((text) => fromEither(parseInstant("before", text)))
    )
  )
)

const concurrency = Options.integer("concurrency").pipe(
  Options.withDefault(4),
  Options.withDescription("Deletions in flight at once (1..64)"),
  Options.mapEffect((n) =>
    n >= 1 && n <= 64 ? Effect.succeed(n) : Effect.fail(invalid("--concurrency: must be in 1..64"))
  )
)

/**
 * A `FalClient` from the environment: the admin key (else the key), the base URLs from
 * `FAL_*_URL`, `--api-url` over `FAL_API_URL`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  apiUrlOverride: Option.Option<string>
): Layer.Layer<FalClient.FalClient, MissingKey | ValidationError.ValidationError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const read = <A>(config: Config.Config<A>) =>
      Effect.mapError(config, (error) => invalid(`configuration: ${error.message}`))
    const key = yield* read(Config.option(Config.redacted("FAL_KEY")))
    const adminKey = yield* read(Config.option(Config.redacted("FAL_ADMIN_KEY")))
    const mainKey = Option.orElse(key, () => adminKey)
    if (Option.isNone(mainKey)) return yield* new MissingKey()
    const url = (name: string) => read(Config.option(Config.url(name)).pipe(Config.map(Option.map(String))))
    const urls: { -readonly [K in keyof FalClient.Urls]?: string } = {}
    for (
      const [name, variable] of [["run", "FAL_RUN_URL"], ["queue", "FAL_QUEUE_URL"], ["api", "FAL_API_URL"], [
        "rest",
        "FAL_REST_URL"
      ], ["storage", "FAL_STORAGE_URL"]] as const
    ) {
      const value = yield* url(variable)
      if (Option.isSome(value)) urls[name] = value.value
    }
    if (Option.isSome(apiUrlOverride)) {
      const parsed = yield* Effect.try({
        try: () => new URL(apiUrlOverride.value),
        catch: () => invalid(`--api-url: ${JSON.stringify(apiUrlOverride.value)} is not a URL`)
      })
      urls.api = parsed.toString().replace(/\/$/, "")
    }
    return FalClient.layer({ key: mainKey.value, adminKey: Option.getOrUndefined(adminKey), urls }).pipe(
      Layer.mapError((error) => invalid(`configuration: ${error.message}`))
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

const purge = Command.make(
  "purge",
  {
    endpoints,
    cutoff,
    status,
    concurrency,
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("List what would be deleted; delete nothing")),
    checkpoint: Options.text("checkpoint").pipe(
      Options.optional,
      Options.withDescription("A JSON-lines file recording progress; an interrupted purge resumes from it")
    ),
    apiUrl
  },
  (args) =>
    Effect.gen(function*() {
      const terminal = yield* Terminal
      const started = yield* Clock.currentTimeMillis
      const progress = { listed: 0, deleted: 0, gone: 0, failed: 0, elapsedMs: 0 }
      const options = (checkpoint: Purge.Checkpoint | undefined): Purge.PurgeOptions => ({
        endpoints: args.endpoints,
        ...(Either.isLeft(args.cutoff) ? { olderThan: args.cutoff.left } : { before: args.cutoff.right }),
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
              const s = event.summary
              yield* Console.log(
                [
                  `cut-off ${DateTime.formatIso(s.cutoff)}`,
                  `listed ${s.listed}`,
                  args.dryRun ? `would delete ${s.wouldDelete}` : `deleted ${s.deleted}`,
                  `already gone ${s.alreadyGone}`,
                  `files removed ${s.filesRemoved}`,
                  `failures ${s.failures}`,
                  `skipped (checkpoint) ${s.skipped}`
                ].join(", ")
              )
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
        onSome: (path) => Effect.scoped(Effect.flatMap(Purge.file(path), run))
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
        Either.isRight(parseAge("since", text))
          ? Effect.flatMap(fromEither(parseAge("since", text)), (age) =>
            Effect.map(Clock.currentTimeMillis, (now) => DateTime.unsafeMake(now - Duration.toMillis(age))))
          : fromEither(parseInstant("since", text))
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
 * The `effect-fal` command with its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("effect-fal").pipe(
  Command.withDescription("The fal platform from the command line: request history and payload purge"),
  Command.withSubcommands([purge, requests])
)

/**
 * Runs the command on `argv` (the whole `process.argv`: the first two entries are skipped).
 *
 * @since 0.1.0
 * @category running
 */
export const run = Command.run(command, { name: "effect-fal", version: "0.1.0" })

/**
 * Whether an error is a usage error `@effect/cli` already printed.
 *
 * @since 0.1.0
 * @category running
 */
export const isUsageError = (error: unknown): boolean => ValidationError.isValidationError(error)

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
  if (ValidationError.isValidationError(error) || (error instanceof MissingKey)) return 2
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const tag = String(error._tag)
    if (
      tag === "InvalidPurgeOptions" || tag === "InvalidListOptions" || tag === "InvalidModelId" ||
      tag === "InvalidRequestId"
    ) return 2
  }
  return 1
}
