import { Effect, Schedule } from "effect"
import * as ChildProcess from "node:child_process"
import * as Net from "node:net"
import * as Path from "node:path"

/** A free loopback port (bound, then released). */
export const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A deterministic generator (mulberry32): the crash points are the same on every run. */
export const seeded = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface Child {
  /** The stdout lines so far. */
  readonly lines: () => ReadonlyArray<string>
  readonly exited: Effect.Effect<number | null>
  readonly kill: Effect.Effect<void>
  readonly stderr: () => string
}

const fixture = Path.join(import.meta.dirname, "..", "fixtures", "runner.ts")

/** Starts the runner fixture (through tsx) with `env`; killed with the scope if still running. */
export const spawnRunner = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const lines: Array<string> = []
      let stderr = ""
      const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", fixture], {
        cwd: Path.join(import.meta.dirname, ".."),
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let buffered = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        buffered += chunk
        const parts = buffered.split("\n")
        buffered = parts.pop() ?? ""
        lines.push(...parts)
      })
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
      // `close`, not `exit`: every line the child wrote before it died has been read by then.
      const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
      const result: Child = {
        lines: () => lines,
        exited: Effect.promise(() => exit),
        kill: Effect.zipRight(Effect.sync(() => child.kill("SIGKILL")), Effect.promise(() => exit)).pipe(Effect.asVoid),
        stderr: () => stderr
      }
      return result
    }),
    (child) => child.kill
  )

/** Waits (checking every 10 ms) until `condition` holds. */
export const until = <E, R>(condition: Effect.Effect<boolean, E, R>) =>
  Effect.repeat(condition, { schedule: Schedule.spaced("10 millis"), until: (ok) => ok })
