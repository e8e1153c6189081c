#!/usr/bin/env node
/**
 * The standalone emulator: `fal-emulator [--port N] [--host H] [--key K] [--admin-key K] [--log]
 * [--latency 50ms] [--throughput 20MB/s] [--loss 0.05] [--seed 1]` (in this repository:
 * `pnpm emulator`); the last four are the link model (`Link`). Prints the base URLs and keys, serves until Ctrl-C or
 * SIGTERM (exit 0). A bad or busy port is one line on stderr and exit 1. Importing this module
 * runs the command: it is the package's bin entry. `--version` prints the version in the package's
 * own `package.json` (the nearest one with a `name` above this file: the package's in the
 * workspace, `dist/package.json` in the published form).
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as http from "node:http"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { stripVTControlCharacters } from "node:util"
import * as FalPlatform from "./FalPlatform.js"
import * as Gateway from "./Gateway.js"
import * as Link from "./Link.js"

const port = Options.integer("port").pipe(
  Options.withDescription("The port to listen on (0: any free port). Default: $PORT, else 0."),
  Options.withFallbackConfig(Config.integer("PORT")),
  Options.withDefault(0)
)
const host = Options.text("host").pipe(
  Options.withDescription("The address to listen on."),
  Options.withDefault("127.0.0.1")
)
const key = Options.text("key").pipe(
  Options.withDescription(`The API-scope key accepted. Default: ${FalPlatform.defaultKeys.user}`),
  Options.optional
)
const adminKey = Options.text("admin-key").pipe(
  Options.withDescription(`The ADMIN-scope key accepted. Default: ${FalPlatform.defaultKeys.admin}`),
  Options.optional
)
const log = Options.boolean("log").pipe(
  Options.withDescription("Print one line per request: method, path, status, milliseconds.")
)

const latency = Options.text("latency").pipe(
  Options.withDescription(
    "Link model: latency added to every request, e.g. 50ms, 1.5s. Default: none."
  ),
  Options.optional
)
const throughput = Options.text("throughput").pipe(
  Options.withDescription(
    "Link model: bytes per second of each request body (per connection), e.g. 20MB/s, 512KiB/s. Default: no cap."
  ),
  Options.optional
)
const loss = Options.text("loss").pipe(
  Options.withDescription(
    "Link model: the fraction of upload PUTs lost (connection reset, nothing stored), e.g. 0.05. Default: 0."
  ),
  Options.optional
)
const seed = Options.text("seed").pipe(
  Options.withDescription("Link model: the seed of the loss draws (same seed, same PUTs lost). Default: 1."),
  Options.optional
)

/** `POST /run/fal-ai/echo 200 3ms`, or `reset` for a destroyed connection. */
const logLine = HttpMiddleware.make((app) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const start = yield* Clock.currentTimeMillis
    return yield* app.pipe(Effect.onExit((exit) =>
      Effect.flatMap(Clock.currentTimeMillis, (end) =>
        Console.log(
          `${request.method} ${new URL(request.url, "http://x").pathname} ${
            Exit.isSuccess(exit) ? exit.value.status : "error"
          } ${end - start}ms`
        ))
    ))
  })
)

/** One line for a failure to start: the port is busy or not allowed, or the host is unknown. */
const oneLine = (cause: Cause.Cause<unknown>, where: string): string => {
  const error: unknown = Cause.squash(cause)
  const inner = typeof error === "object" && error !== null && "cause" in error ? error.cause : error
  const code = typeof inner === "object" && inner !== null && "code" in inner ? String(inner.code) : undefined
  switch (code) {
    case "EADDRINUSE":
      return `error: ${where} is already in use`
    case "EACCES":
      return `error: not allowed to listen on ${where}`
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
      return `error: cannot listen on ${where}: address not available`
    default:
      return `error: cannot listen on ${where}: ${inner instanceof Error ? inner.message : String(inner)}`
  }
}

const serve = (config: {
  readonly port: number
  readonly host: string
  readonly key: Option.Option<string>
  readonly adminKey: Option.Option<string>
  readonly log: boolean
  readonly latency: Option.Option<string>
  readonly throughput: Option.Option<string>
  readonly loss: Option.Option<string>
  readonly seed: Option.Option<string>
}) =>
  Effect.gen(function*() {
    if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) {
      return yield* Effect.fail(`error: --port must be an integer from 0 to 65535, got ${config.port}`)
    }
    const flags = {
      latency: Option.getOrUndefined(config.latency),
      throughput: Option.getOrUndefined(config.throughput),
      loss: Option.getOrUndefined(config.loss),
      seed: Option.getOrUndefined(config.seed)
    }
    const modelled = Object.values(flags).some((flag) => flag !== undefined)
    const link = modelled
      ? yield* Effect.mapError(Link.parse(flags), (invalid) => `error: ${invalid.message}`)
      : undefined
    const keys: ReadonlyArray<FalPlatform.ApiKey> = [
      { key: Option.getOrElse(config.key, () => FalPlatform.defaultKeys.user), scope: "API" },
      { key: Option.getOrElse(config.adminKey, () => FalPlatform.defaultKeys.admin), scope: "ADMIN" }
    ]
    const where = `${config.host}:${config.port}`
    const started = Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const platform = yield* FalPlatform.FalPlatform
      yield* server.serve(Gateway.httpAppNode, config.log ? logLine : identity)
      const address = server.address
      const origin = `http://${config.host}:${address._tag === "TcpAddress" ? address.port : config.port}`
      const urls = Gateway.urlsAt(origin)
      yield* Console.log(
        [
          "fal platform emulator",
          `  run:   ${urls.run}`,
          `  queue: ${urls.queue}`,
          `  api:   ${urls.api}`,
          `  rest:  ${urls.rest}`,
          `  cdn:   ${urls.cdn}`,
          `  storage: ${urls.storage}`,
          `  key (API scope):   ${keys[0].key}`,
          `  key (ADMIN scope): ${keys[1].key}`,
          `  models: ${(yield* platform.models).join(", ")}`,
          ...(link === undefined ? [] : [`  link: ${Link.describe(link)}`]),
          "",
          `  try: curl -X POST ${urls.run}/fal-ai/echo -H 'Authorization: Key ${keys[0].key}' \\`,
          "         -H 'Content-Type: application/json' -d '{\"hello\": \"world\"}'",
          "Ctrl-C to stop."
        ].join("\n")
      )
      return yield* Effect.never
    })
    return yield* started.pipe(
      Effect.scoped,
      Effect.provide(
        Layer.merge(
          NodeHttpServer.layerServer(() => http.createServer(), { port: config.port, host: config.host }),
          FalPlatform.layer({ keys, link }).pipe(Layer.provide(FetchHttpClient.layer))
        )
      ),
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.fail(oneLine(cause, where))
      )
    )
  })

/** The version in the nearest `package.json` with a name above this module (ours, or a packaging bug). */
const packageVersion = (): string => {
  for (let dir = Path.dirname(fileURLToPath(import.meta.url));; dir = Path.dirname(dir)) {
    const file = Path.join(dir, "package.json")
    const manifest: unknown = Fs.existsSync(file) ? JSON.parse(Fs.readFileSync(file, "utf8")) : undefined
    if (typeof manifest === "object" && manifest !== null && "name" in manifest) {
      if (manifest.name === "@effect-fal/testing" && "version" in manifest && typeof manifest.version === "string") {
        return manifest.version
      }
      throw new Error(`${file} is not the manifest of @effect-fal/testing`)
    }
    if (Path.dirname(dir) === dir) throw new Error("no package.json of @effect-fal/testing above the bin")
  }
}

/**
 * `@effect/cli` ends its help and version text with a newline of its own, and styles it for a
 * terminal: the extra newline is dropped, and the styles too on a stream that is not a terminal.
 */
const plainConsole = Console.consoleWith((current) => {
  const clean = (tty: boolean) => (args: ReadonlyArray<unknown>) =>
    args.map((arg) => {
      if (typeof arg !== "string") return arg
      const trimmed = arg.endsWith("\n") ? arg.slice(0, -1) : arg
      return tty && process.env.NO_COLOR === undefined ? trimmed : stripVTControlCharacters(trimmed)
    })
  return Effect.succeed<Console.Console>({
    ...current,
    log: (...args) => current.log(...clean(process.stdout.isTTY === true)(args)),
    error: (...args) => current.error(...clean(process.stderr.isTTY === true)(args))
  })
})

/**
 * The `fal-emulator` command.
 *
 * @since 0.2.0
 * @category commands
 */
export const command = Command.make(
  "fal-emulator",
  { port, host, key, adminKey, log, latency, throughput, loss, seed },
  serve
).pipe(
  Command.withDescription("The fal platform emulator: fal's HTTP API on loopback, backed by an in-memory platform.")
)

/**
 * Runs the command on `argv` (as `process.argv`); failures to start are one line on stderr.
 *
 * @since 0.2.0
 * @category commands
 */
export const run = (argv: ReadonlyArray<string>) =>
  Command.run(command, { name: "fal-emulator", version: packageVersion() })(argv).pipe(
    Effect.catchAll((error) =>
      Effect.zipRight(
        // @effect/cli has already printed its own message for a validation error
        ValidationError.isValidationError(error) ? Effect.void : Console.error(error),
        Effect.sync(() => void (process.exitCode = 1))
      )
    ),
    Effect.provide(NodeContext.layer),
    Effect.provide(Layer.unwrapEffect(Effect.map(plainConsole, Console.setConsole)))
  )

// runMain interrupts the command on SIGINT/SIGTERM and exits 0
NodeRuntime.runMain(run(process.argv), { disableErrorReporting: true })
