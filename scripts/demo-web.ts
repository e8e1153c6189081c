/**
 * `pnpm demo:web`: the server proxy for a person to try in a browser. Serves, on loopback, the
 * fal emulator and a page whose fal calls all go through `FalProxy` (the page has no key):
 * pick a picture, upload it, run a model on it, watch its progress and see its output.
 *
 *   pnpm demo:web [--port N] [--emulator-port N]
 *
 * Ctrl-C stops it.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as WebDemo from "./demo/web.js"

const usage = `pnpm demo:web [--port N] [--emulator-port N]

Serves a page on 127.0.0.1 that uploads a picked file and runs a model through the server proxy
(FalProxy), against the fal emulator. Open the printed URL in a browser; Ctrl-C stops.

  --port N            the page's port (default: a free one)
  --emulator-port N   the emulator's port (default: a free one)
  --help              this text`

const fail = (message: string): never => {
  process.stderr.write(`demo:web: ${message}\n`)
  process.exit(2)
}

const parse = (argv: ReadonlyArray<string>) => {
  const ports: { port?: number; emulatorPort?: number } = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(`${usage}\n`)
      process.exit(0)
    }
    if (arg !== "--port" && arg !== "--emulator-port") fail(`unknown argument ${JSON.stringify(arg)} (see --help)`)
    const value = argv[++i]
    const port = Number(value)
    if (value === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
      fail(`${arg} needs a port number from 0 to 65535`)
    }
    if (arg === "--port") ports.port = port
    else ports.emulatorPort = port
  }
  return ports
}

const options = parse(process.argv.slice(2))

const main = Effect.gen(function*() {
  const { url } = yield* WebDemo.WebDemo
  process.stdout.write(
    `The proxy demo is at ${url} (the page's fal calls go through ${url}api/fal/proxy). Ctrl-C stops.\n`
  )
  return yield* Effect.never
})

NodeRuntime.runMain(
  main.pipe(
    Effect.provide(WebDemo.layer(options).pipe(Layer.orDie)),
    Effect.catchAllDefect((defect) =>
      Effect.sync(() =>
        fail(
          defect instanceof Error && /EADDRINUSE/.test(String(defect.cause ?? defect.message))
            ? "the port is in use: choose another with --port / --emulator-port"
            : `could not start: ${defect instanceof Error ? defect.message : String(defect)}`
        )
      )
    )
  ),
  { disableErrorReporting: true }
)
