/**
 * The publishable workspace packages, found by glob (`packages/*` with a `package.json` that is
 * not `private`), so a new package is built, packed and checked without editing a list.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

export const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..", "..")

export interface Manifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
  readonly [key: string]: unknown
}

export interface WorkspacePackage {
  /** Absolute path of `packages/<name>`. */
  readonly dir: string
  readonly manifest: Manifest
}

const readManifest = (file: string): Manifest => JSON.parse(Fs.readFileSync(file, "utf8")) as Manifest

/** Every package under `packages/`, publishable or not, in directory order. */
export const workspacePackages = (): ReadonlyArray<WorkspacePackage> =>
  Fs.readdirSync(Path.join(root, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && Fs.existsSync(Path.join(root, "packages", entry.name, "package.json")))
    .map((entry) => {
      const dir = Path.join(root, "packages", entry.name)
      return { dir, manifest: readManifest(Path.join(dir, "package.json")) }
    })
    .sort((a, b) => a.dir.localeCompare(b.dir))

/** The packages that are published: not `private`, with a `tsconfig.build.json`. */
export const publishablePackages = (): ReadonlyArray<WorkspacePackage> =>
  workspacePackages().filter((pkg) =>
    pkg.manifest.private !== true && Fs.existsSync(Path.join(pkg.dir, "tsconfig.build.json"))
  )

/** Every file under `dir` (recursively) whose name satisfies `keep`, as paths relative to `dir`. */
export const filesUnder = (dir: string, keep: (name: string) => boolean): ReadonlyArray<string> =>
  Fs.existsSync(dir)
    ? Fs.readdirSync(dir, { recursive: true, encoding: "utf8" })
      .filter((file) => keep(file) && Fs.statSync(Path.join(dir, file)).isFile())
      .sort()
    : []

/** Writes `value` as indented JSON, creating the directory. */
export const writeJson = (file: string, value: unknown): void => {
  Fs.mkdirSync(Path.dirname(file), { recursive: true })
  Fs.writeFileSync(file, JSON.stringify(value, null, 2) + "\n")
}
