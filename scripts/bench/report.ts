/**
 * What every section of docs/benchmarks.md states besides its table: the command that measured
 * it, the date, the machine and its load; and the performance gates, printed by the regression
 * check as PASS or FAIL and written into the report with the measured figure and the bound.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as os from "node:os"
import * as path from "node:path"
import { createInterface, type Interface } from "node:readline"

const tsx = path.join(import.meta.dirname, "..", "..", "node_modules", ".bin", "tsx")

/** The machine: CPU, cores, memory, OS, Node. */
export const machine = (): string =>
  `${os.cpus()[0]?.model.trim() ?? "unknown CPU"}, ${os.cpus().length} cores, ` +
  `${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`

/** The load average over 1, 5 and 15 minutes. */
export const load = (): string => os.loadavg().map((n) => n.toFixed(2)).join(", ")

/** The date and time, to the minute, UTC. */
export const now = (): string => `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`

/** The command that writes the whole report. */
export const benchCommand = "npx -y pnpm@10 bench"

/** A section's provenance: its command, date, machine and the load when it started. */
export const stamp = (command: string): string =>
  [
    `- Command: \`${command}\`${command === benchCommand ? "" : ` (this section alone; \`${benchCommand}\` runs all)`}`,
    `- Date: ${now()}`,
    `- Machine: ${machine()}; load average ${load()} at the start of the section`
  ].join("\n")

/** One performance gate, as measured. */
export interface Gate {
  readonly name: string
  /** The measured figure, with the two sides it compares. */
  readonly measured: string
  readonly bound: string
  readonly pass: boolean
}

/** The gate's line in the regression check's output. */
export const gateLine = (gate: Gate): string =>
  `${gate.pass ? "PASS" : "FAIL"} ${gate.name}: ${gate.measured} (bound: ${gate.bound})`

/** The gates as a markdown table. */
export const gateTable = (gates: ReadonlyArray<Gate>): string =>
  [
    "| gate | measured | bound | result |",
    "|---|---|---|---|",
    ...gates.map((g) => `| ${g.name} | ${g.measured} | ${g.bound} | ${g.pass ? "PASS" : "**FAIL**"} |`)
  ].join("\n")

/** Prints each gate's line and returns them. */
export const printGates = (gates: ReadonlyArray<Gate>): ReadonlyArray<Gate> => {
  for (const gate of gates) console.log(gateLine(gate))
  return gates
}

/** Whether `file` (a module's `import.meta.filename`) is the script node was started with. */
export const isMain = (file: string): boolean =>
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(file)

/** `ratio` as `1.23x`. */
export const times = (ratio: number): string => `${ratio.toFixed(2)}x`

/**
 * Ends a bench process once `work` settles: exit code 0, or 1 with the error printed. The child
 * processes a section starts hold open handles (servers, sockets), so they exit explicitly.
 */
export const exitWhen = (work: Promise<unknown>): void => {
  work.then(() => process.exit(process.exitCode ?? 0), (error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}

/**
 * A section run alone (`tsx scripts/bench/<name>.ts`): the section prints its gates' lines as it
 * measures, then its markdown is printed; a FAIL fails the run when `BENCH_STRICT=1`.
 */
export const runAlone = (
  section: () => Promise<{ readonly markdown: string; readonly gates: ReadonlyArray<Gate> }>
): void =>
  exitWhen(
    section().then(({ gates, markdown }) => {
      console.log(markdown)
      if (gates.some((gate) => !gate.pass) && process.env.BENCH_STRICT === "1") process.exitCode = 1
    })
  )

/** The median of the samples (the mean of the middle two for an even count). */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Starts `script` (with `args`) in a process of its own and answers it with the first line it
 * prints (a server prints its URLs) and its further lines; its exit before that line is a failure.
 * `env` replaces the environment; `stdin: "pipe"` leaves the child's input open for messages.
 */
export const startChild = (
  script: string,
  args: ReadonlyArray<string> = [],
  options: { readonly env?: NodeJS.ProcessEnv; readonly stdin?: "ignore" | "pipe" } = {}
): Promise<{ readonly child: ChildProcess; readonly line: string; readonly lines: Interface }> =>
  new Promise((resolve, reject) => {
    const child = spawn(tsx, [script, ...args], {
      stdio: [options.stdin ?? "ignore", "pipe", "inherit"],
      ...(options.env === undefined ? {} : { env: options.env })
    })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`${path.basename(script)} exited with ${code}`)))
    const lines = createInterface({ input: child.stdout! })
    lines.once("line", (line) => resolve({ child, line, lines }))
  })

/**
 * Runs `script` (with `args`) in a process of its own to its end; answers the JSON lines it
 * printed. `env` replaces the environment.
 */
export const jsonLines = <A>(
  script: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv } = {}
): ReadonlyArray<A> =>
  execFileSync(tsx, [script, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    ...(options.env === undefined ? {} : { env: options.env })
  })
    .trim().split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as A)
