/**
 * `pnpm release-check`: what a new user gets from npm, before anything is published.
 *
 * 1. Builds and packs every publishable package (`pnpm pack-all`, see `release/pack.ts`).
 * 2. Creates a fresh project in the OS temporary directory (outside the repository, so nothing
 *    resolves from the workspace) and installs with npm, no flags that change resolution, the
 *    README's command with the tarballs in place of the registry names:
 *    `npm i <tarballs> effect@^3 @effect/platform@^0.97 @effect/platform-node@^0.108 @effect/workflow@^0.19.1 @effect/sql@^0.52.1
 *    @effect/experimental@^0.61.1`, with the `overrides` of packages/workflow/README.md in the
 *    project's package.json.
 * 3. Runs an ES module and a CommonJS program against the loopback emulator
 *    (`release/consumer/esm.mjs`, `release/consumer/cjs.cjs`), and a durable job on the SQLite
 *    runner (`release/consumer/durable.mjs`).
 * 4. Runs the published commands from the project: `npx fal-emulator --help` (`@effect-fal/testing`)
 *    and `npx effect-fal --help` (`@effect-fal/cli`): exit 0 and their usage printed.
 * 5. Type-checks a consumer (`release/consumer/consumer.ts`) with the repository's `tsc` under
 *    `moduleResolution` NodeNext, Bundler and Node10, and `release/consumer/endpoints.ts` without
 *    `skipLibCheck`: the declarations compile without the optional `@fal-ai/client`.
 *
 * The temporary project is deleted when every step passes and kept (its path printed) otherwise.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { build } from "./release/build.js"
import { packTarballs, writeDist } from "./release/pack.js"
import { root, writeJson } from "./release/workspace.js"

/** The README's install line, after the packages themselves. */
export const peerInstall = [
  "effect@^3",
  "@effect/platform@^0.97",
  "@effect/platform-node@^0.108",
  // @effect-fal/workflow: the versions its drivers' peers are widened to (packages/workflow/README.md).
  "@effect/workflow@^0.19.1",
  "@effect/sql@^0.52.1",
  "@effect/experimental@^0.61.1"
]

/**
 * The `overrides` packages/workflow/README.md tells npm users to add: the SQL drivers' 0.52
 * releases still declare the previous minors as peers.
 */
const driverPeers = {
  "@effect/sql": "^0.52.1",
  "@effect/platform": "^0.97.2",
  "@effect/experimental": "^0.61.1"
}
export const overrides = { "@effect/sql-pg": driverPeers, "@effect/sql-sqlite-node": driverPeers }

const started = Date.now()
const step = (label: string): void =>
  console.log(`[release-check ${((Date.now() - started) / 1000).toFixed(1)}s] ${label}`)

// npm run under pnpm inherits pnpm's npm_config_* settings; the consumer gets npm's defaults.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith("npm_config_"))
)

const run = (command: string, args: ReadonlyArray<string>, cwd: string): void => {
  execFileSync(command, args, { cwd, env, stdio: "inherit" })
}

step("build and pack")
const tarballs = packTarballs(writeDist(build()), Path.join(root, "build", "packs"))

const project = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-fal-release-check-"))
step(`fresh project ${project}`)
writeJson(Path.join(project, "package.json"), {
  name: "release-check-consumer",
  private: true,
  type: "module",
  overrides
})
const consumer = Path.join(root, "scripts", "release", "consumer")
for (const file of Fs.readdirSync(consumer)) Fs.copyFileSync(Path.join(consumer, file), Path.join(project, file))

step(`npm i ${tarballs.map((file) => Path.basename(file)).join(" ")} ${peerInstall.join(" ")}`)
run("npm", ["i", ...tarballs, ...peerInstall, "--no-audit", "--no-fund"], project)

step("ESM program")
run(process.execPath, ["esm.mjs"], project)
step("CommonJS program")
run(process.execPath, ["cjs.cjs"], project)
step("durable program (@effect-fal/workflow on SQLite: better-sqlite3 built by npm's install)")
run(process.execPath, ["durable.mjs"], project)

for (const [command, expected] of [["fal-emulator", "--port"], ["effect-fal", "effect-fal"]] as const) {
  step(`npx ${command} --help`)
  const usage = execFileSync("npx", ["--no-install", command, "--help"], { cwd: project, env, encoding: "utf8" })
  if (!usage.includes(expected)) throw new Error(`npx ${command} --help printed no usage:\n${usage}`)
}

const common = {
  strict: true,
  noEmit: true,
  // Third-party declarations are not ours to check (platform-node's reference `ws` without types);
  // the consumer's `@ts-expect-error` fails if our types degrade to `any`.
  skipLibCheck: true,
  target: "ES2022",
  lib: ["ES2022", "DOM", "DOM.Iterable"],
  // The checker and Node's types come from the repository's toolchain (a consumer installs
  // @types/node itself); everything else resolves from the fresh project's node_modules.
  typeRoots: [Path.join(root, "node_modules", "@types")],
  types: ["node"]
}
const resolvers = {
  NodeNext: { module: "NodeNext", moduleResolution: "NodeNext" },
  Bundler: { module: "ESNext", moduleResolution: "Bundler" },
  Node10: { module: "CommonJS", moduleResolution: "Node10" }
}
const tsc = Path.join(root, "node_modules", "typescript", "bin", "tsc")
for (const [name, options] of Object.entries(resolvers)) {
  step(`tsc, moduleResolution ${name}`)
  writeJson(Path.join(project, `tsconfig.${name}.json`), {
    compilerOptions: { ...common, ...options },
    files: ["consumer.ts"]
  })
  run(process.execPath, [tsc, "-p", `tsconfig.${name}.json`], project)
}
step("tsc without skipLibCheck and without @fal-ai/client (typed endpoints off)")
writeJson(Path.join(project, "tsconfig.endpoints.json"), {
  compilerOptions: { ...common, ...resolvers.NodeNext, skipLibCheck: false },
  files: ["endpoints.ts"]
})
run(process.execPath, [tsc, "-p", "tsconfig.endpoints.json"], project)

Fs.rmSync(project, { recursive: true, force: true })
step("passed")
