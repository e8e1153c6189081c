/**
 * The publishable form of each package, in `packages/<name>/dist/`, in the layout of the Effect
 * monorepo's `build-utils pack-v2`: the workspace `package.json` keeps source exports
 * (`./src/*.ts`, for `tsc -b`, vitest and tsx), and `dist/package.json` is generated from it with
 *
 * - `exports` per public module (every top-level `src/*.ts`), each with `types`, `import` and
 *   `require` conditions, plus `./package.json`; `./internal/*` stays closed;
 * - `main`, `module`, `types` and `typesVersions` for resolvers that ignore `exports` (Node10);
 * - `workspace:` ranges replaced by the referenced package's version;
 * - `build/{esm,cjs,dts}`, `src` (the source maps point there), README.md and LICENSE.
 *
 * `publishConfig.directory` is `dist`, so `pnpm publish` publishes this folder; `npm pack` and
 * `pnpm pack` run inside `dist/` both give an installable tarball. `pnpm pack-all` writes
 * those tarballs to `build/packs/`.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { filesUnder, type Manifest, type WorkspacePackage, workspacePackages, writeJson } from "./workspace.js"

/** Fields copied as they are from the workspace manifest. */
const copied = [
  "name",
  "version",
  "description",
  "keywords",
  "homepage",
  "bugs",
  "repository",
  "license",
  "author",
  "engines",
  "sideEffects",
  "peerDependencies",
  "peerDependenciesMeta"
] as const

/** `workspace:^` and friends, as pnpm's publish rewrites them. */
const resolveRange = (name: string, range: string, versions: ReadonlyMap<string, string>): string => {
  if (!range.startsWith("workspace:")) return range
  const version = versions.get(name)
  if (version === undefined) throw new Error(`${name}: "${range}" names no workspace package`)
  const spec = range.slice("workspace:".length)
  if (spec === "*") return version
  if (spec === "^" || spec === "~") return spec + version
  return spec
}

const resolveRanges = (
  deps: unknown,
  versions: ReadonlyMap<string, string>
): Record<string, string> | undefined =>
  deps === undefined ? undefined : Object.fromEntries(
    Object.entries(deps as Record<string, string>).map(([name, range]) => [
      name,
      resolveRange(name, range, versions)
    ])
  )

const entry = (module: string) => ({
  types: `./build/dts/${module}.d.ts`,
  import: `./build/esm/${module}.js`,
  require: `./build/cjs/${module}.js`
})

/** A `bin` entry names a source file (`./src/bin.ts`); the package runs its ESM build. */
const binTarget = (target: string): string => {
  const match = /^(?:\.\/)?src\/(.+)\.ts$/.exec(target)
  if (match === null) throw new Error(`bin "${target}" must name a file under src/`)
  return `./build/esm/${match[1]}.js`
}

/** The `dist/package.json` of one workspace package. */
export const distManifest = (pkg: WorkspacePackage, versions: ReadonlyMap<string, string>): Manifest => {
  const bin = pkg.manifest.bin as string | Record<string, string> | undefined
  const binTargets = new Set(typeof bin === "string" ? [bin] : Object.values(bin ?? {}))
  // a bin runs its command when loaded: it is not an importable module
  const modules = filesUnder(Path.join(pkg.dir, "src"), (name) => /^[^/\\]+\.ts$/.test(name))
    .filter((file) => !binTargets.has(`./src/${file}`) && !binTargets.has(`src/${file}`))
    .map((file) => file.replace(/\.ts$/, ""))
    .filter((module) => module !== "index")
  const out: Record<string, unknown> = {}
  for (const field of copied) {
    if (pkg.manifest[field] !== undefined) out[field] = pkg.manifest[field]
  }
  if (typeof bin === "string") out.bin = binTarget(bin)
  else if (bin !== undefined) {
    out.bin = Object.fromEntries(Object.entries(bin).map(([name, target]) => [name, binTarget(target)]))
  }
  out.main = "./build/cjs/index.js"
  out.module = "./build/esm/index.js"
  out.types = "./build/dts/index.d.ts"
  out.exports = {
    "./package.json": "./package.json",
    ".": entry("index"),
    ...Object.fromEntries(modules.map((module) => [`./${module}`, entry(module)])),
    "./internal/*": null
  }
  out.typesVersions = {
    "*": Object.fromEntries(modules.map((module) => [module, [`./build/dts/${module}.d.ts`]]))
  }
  out.files = ["build", "src"]
  out.dependencies = resolveRanges(pkg.manifest.dependencies, versions)
  out.optionalDependencies = resolveRanges(pkg.manifest.optionalDependencies, versions)
  out.publishConfig = { access: "public" }
  return out as Manifest
}

const copyDir = (from: string, to: string, keep: (file: string) => boolean = () => true): void => {
  for (const file of filesUnder(from, keep)) {
    Fs.mkdirSync(Path.dirname(Path.join(to, file)), { recursive: true })
    Fs.copyFileSync(Path.join(from, file), Path.join(to, file))
  }
}

/** Writes `packages/<name>/dist/` for each built package; returns the `dist` paths. */
export const writeDist = (packages: ReadonlyArray<WorkspacePackage>): ReadonlyArray<string> => {
  const versions = new Map(workspacePackages().map((pkg) => [pkg.manifest.name, pkg.manifest.version]))
  return packages.map((pkg) => {
    const dist = Path.join(pkg.dir, "dist")
    Fs.rmSync(dist, { recursive: true, force: true })
    for (const target of ["esm", "cjs", "dts"]) {
      const from = Path.join(pkg.dir, "build", target)
      if (!Fs.existsSync(from)) throw new Error(`${pkg.manifest.name}: build/${target} is missing; run pnpm build`)
      copyDir(from, Path.join(dist, "build", target), (file) => !file.endsWith(".tsbuildinfo"))
    }
    copyDir(Path.join(pkg.dir, "src"), Path.join(dist, "src"))
    for (const file of ["README.md", "LICENSE"]) {
      if (!Fs.existsSync(Path.join(pkg.dir, file))) throw new Error(`${pkg.manifest.name}: ${file} is missing`)
      Fs.copyFileSync(Path.join(pkg.dir, file), Path.join(dist, file))
    }
    writeJson(Path.join(dist, "package.json"), distManifest(pkg, versions))
    return dist
  })
}

/** `npm pack` in each `dist/`, into `destination`; returns the tarball paths. */
export const packTarballs = (dists: ReadonlyArray<string>, destination: string): ReadonlyArray<string> => {
  Fs.mkdirSync(destination, { recursive: true })
  return dists.map((dist) => {
    const out = execFileSync("npm", ["pack", "--json", "--pack-destination", destination], {
      cwd: dist,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"]
    })
    const [{ filename }] = JSON.parse(out) as ReadonlyArray<{ filename: string }>
    return Path.join(destination, filename)
  })
}
