/**
 * The version of the package a module belongs to, read from the nearest `package.json` with a
 * `name` above the module's file: `src/bin.ts` in the workspace finds the package's own manifest,
 * and so does `build/esm/bin.js` in the workspace or in the published form (`dist/`), past the
 * `{"type": "module"}` marker that the build writes into `build/esm/`.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

export const versionOf = (moduleUrl: string, packageName: string): string => {
  let dir = Path.dirname(fileURLToPath(moduleUrl))
  for (;;) {
    const file = Path.join(dir, "package.json")
    if (Fs.existsSync(file)) {
      const manifest: unknown = JSON.parse(Fs.readFileSync(file, "utf8"))
      if (typeof manifest === "object" && manifest !== null && "name" in manifest) {
        if (manifest.name !== packageName || !("version" in manifest) || typeof manifest.version !== "string") {
          throw new Error(`${file} is not the manifest of ${packageName}`)
        }
        return manifest.version
      }
    }
    const parent = Path.dirname(dir)
    if (parent === dir) throw new Error(`no package.json of ${packageName} above ${moduleUrl}`)
    dir = parent
  }
}
