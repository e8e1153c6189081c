/**
 * Module resolution hooks for `pnpm bench` (see built-register.mjs): `@effect-fal/<package>` and
 * `@effect-fal/<package>/<module>` resolve to that package's compiled ES modules,
 * `packages/<package>/build/esm/<module>.js` (what `pnpm build` writes and npm installs), instead
 * of the TypeScript sources the workspace packages export. Measured through tsx, effect-fal pays
 * for a transform the published package does not have (esbuild's `keepNames` wraps every named
 * closure in a `__name` call that gives it an own `name` property), while the bare call and
 * `@fal-ai/client` run compiled JavaScript.
 */
import { existsSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const packages = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "packages")

export const resolve = async (specifier, context, next) => {
  const match = /^@effect-fal\/([^/]+)(?:\/(.+))?$/.exec(specifier)
  if (match === null) return next(specifier, context)
  const file = path.join(packages, match[1], "build", "esm", `${match[2] ?? "index"}.js`)
  if (!existsSync(file)) {
    throw new Error(`${specifier}: ${file} does not exist; run \`pnpm build\` before the benchmarks`)
  }
  return { url: pathToFileURL(file).href, shortCircuit: true }
}
