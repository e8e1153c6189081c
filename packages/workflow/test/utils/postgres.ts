/**
 * A throwaway PostgreSQL for the cluster tests: finds the server binaries (PATH, then
 * /usr/lib/postgresql/<version>/bin), runs `initdb` into a temporary directory and starts
 * `postgres` on a free loopback port with its unix socket in that directory; stops it and removes
 * the directory with the scope. PostgreSQL refuses to run as root: when the test runs as root the
 * server runs as the `postgres` user (else `nobody`), the directory handed over to it.
 */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { freePort } from "./child.js"

const install = "PostgreSQL was not found: install PostgreSQL (Debian: apt-get install postgresql)"

const findBinDir = (): string | undefined => {
  const candidates: Array<string> = []
  for (const dir of (process.env.PATH ?? "").split(Path.delimiter)) if (dir !== "") candidates.push(dir)
  const versions = Fs.existsSync("/usr/lib/postgresql")
    ? Fs.readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a))
    : []
  for (const version of versions) candidates.push(Path.join("/usr/lib/postgresql", version, "bin"))
  return candidates.find((dir) => Fs.existsSync(Path.join(dir, "initdb")) && Fs.existsSync(Path.join(dir, "postgres")))
}

const userIds = (name: string): { readonly uid: number; readonly gid: number } | undefined => {
  try {
    const uid = Number(ChildProcess.execFileSync("id", ["-u", name], { encoding: "utf8" }).trim())
    const gid = Number(ChildProcess.execFileSync("id", ["-g", name], { encoding: "utf8" }).trim())
    return { uid, gid }
  } catch {
    return undefined
  }
}

export interface Postgres {
  readonly url: string
  readonly port: number
}

export const start = Effect.acquireRelease(
  Effect.gen(function*() {
    const bin = findBinDir()
    if (bin === undefined) return yield* Effect.dieMessage(install)
    const port = yield* freePort
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "fal-job-pg-"))
    const owner = process.getuid?.() === 0 ? (userIds("postgres") ?? userIds("nobody")) : undefined
    if (owner !== undefined) Fs.chownSync(dir, owner.uid, owner.gid)
    const data = Path.join(dir, "data")
    const as = owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }
    ChildProcess.execFileSync(Path.join(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync"], {
      ...as,
      stdio: "ignore"
    })
    const server = ChildProcess.spawn(
      Path.join(bin, "postgres"),
      ["-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", dir, "-c", "fsync=off", "-c", "max_connections=200"],
      { ...as, stdio: ["ignore", "ignore", "pipe"] }
    )
    let log = ""
    server.stderr.setEncoding("utf8").on("data", (chunk: string) => void (log += chunk))
    yield* Effect.async<void, Error>((resume) => {
      const check = setInterval(() => {
        if (log.includes("ready to accept connections")) {
          clearInterval(check)
          resume(Effect.void)
        } else if (server.exitCode !== null) {
          clearInterval(check)
          resume(Effect.fail(new Error(`postgres exited:\n${log}`)))
        }
      }, 20)
    }).pipe(Effect.orDie)
    return { server, dir, postgres: { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port } }
  }),
  ({ dir, server }) =>
    Effect.promise(() =>
      new Promise<void>((resolve) => {
        if (server.exitCode !== null) return resolve()
        server.on("exit", () => resolve())
        server.kill("SIGINT")
      })
    ).pipe(Effect.ensuring(Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))))
).pipe(Effect.map(({ postgres }): Postgres => postgres))
