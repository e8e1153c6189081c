/**
 * The bins read their version from their own package's `package.json`, in each layout they run
 * from: the source (`src/bin.ts`), the build (`build/esm/bin.js`, under the `{"type": "module"}`
 * marker the build writes) and the published form (`dist/build/esm/bin.js` beside
 * `dist/package.json`), laid out here as `scripts/release` lays them out.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import { versionOf } from "../src/internal/packageVersion.js"

const write = (file: string, text: string) => {
  Fs.mkdirSync(Path.dirname(file), { recursive: true })
  Fs.writeFileSync(file, text)
}

describe("versionOf", () => {
  it("finds the package's own manifest from the source, the build and the published form", () => {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-fal-version-"))
    try {
      const pkg = Path.join(root, "packages", "cli")
      write(Path.join(root, "package.json"), JSON.stringify({ name: "effect-fal", private: true }))
      write(Path.join(pkg, "package.json"), JSON.stringify({ name: "@effect-fal/cli", version: "1.2.3" }))
      write(Path.join(pkg, "build", "esm", "package.json"), JSON.stringify({ type: "module" }))
      write(Path.join(pkg, "dist", "package.json"), JSON.stringify({ name: "@effect-fal/cli", version: "1.2.4" }))
      write(Path.join(pkg, "dist", "build", "esm", "package.json"), JSON.stringify({ type: "module" }))
      const at = (...parts: Array<string>) => pathToFileURL(Path.join(pkg, ...parts)).href
      assert.strictEqual(versionOf(at("src", "bin.ts"), "@effect-fal/cli"), "1.2.3")
      assert.strictEqual(versionOf(at("build", "esm", "bin.js"), "@effect-fal/cli"), "1.2.3")
      assert.strictEqual(versionOf(at("dist", "build", "esm", "bin.js"), "@effect-fal/cli"), "1.2.4")
      // the nearest named manifest must be the package's own
      assert.throws(() => versionOf(pathToFileURL(Path.join(root, "bin.js")).href, "@effect-fal/cli"))
    } finally {
      Fs.rmSync(root, { recursive: true, force: true })
    }
  })

  it("reads this package's version", () => {
    const manifest = JSON.parse(Fs.readFileSync(Path.join(__dirname, "..", "package.json"), "utf8"))
    assert.strictEqual(versionOf(new URL("../src/bin.ts", import.meta.url).href, "@effect-fal/cli"), manifest.version)
  })
})
