/**
 * Every module the root README's package table names is exported from that package's index:
 * each capitalised name in backticks in a package's row (`FalClient`, `Queue`, `RequestHistory`,
 * `Fal.run` for its module `Fal` and member `run`), except the names of Effect's own modules that
 * the table mentions in passing (`HttpClient`, `HttpApp`, `Config`, ...), recognised as modules
 * that `effect` or `@effect/platform` export.
 */
import * as Platform from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import * as EffectModules from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"

const root = Path.resolve(__dirname, "..")

interface Row {
  readonly name: string
  readonly mentions: ReadonlyArray<string>
}

/** The rows of the table under "## The packages": package name and the backticked names. */
const rows = (): ReadonlyArray<Row> => {
  const readme = Fs.readFileSync(Path.join(root, "README.md"), "utf8")
  const section = readme.slice(readme.indexOf("## The packages"))
  const table = section.split("\n").filter((line) => line.startsWith("| [`@effect-fal/"))
  return table.map((line) => {
    const [, packageCell, what] = line.split("|")
    const name = /`(@effect-fal\/[a-z-]+)`/.exec(packageCell)?.[1] ?? ""
    const mentions = [...what.matchAll(/`([A-Z][A-Za-z]*(?:\.[a-z][A-Za-z]*)?)`/g)].map((match) => match[1])
    return { name, mentions }
  })
}

const foreign = new Set([...Object.keys(EffectModules), ...Object.keys(Platform)])

describe("the README's package table", () => {
  it("names only modules that each package's index exports", async () => {
    const table = rows()
    assert.deepStrictEqual(table.map((row) => row.name), [
      "@effect-fal/headers",
      "@effect-fal/api",
      "@effect-fal/testing",
      "@effect-fal/cli",
      "@effect-fal/workflow"
    ])
    const missing: Array<string> = []
    let checked = 0
    for (const row of table) {
      const index: Record<string, unknown> = await import(row.name)
      for (const mention of row.mentions) {
        const [module, member] = mention.split(".")
        if (foreign.has(module) && !(module in index)) continue
        checked++
        const exported = index[module]
        if (exported === undefined) missing.push(`${row.name}: ${module}`)
        else if (member !== undefined && !(typeof exported === "object" && exported !== null && member in exported)) {
          missing.push(`${row.name}: ${mention}`)
        }
      }
    }
    assert.isAbove(checked, 20, "the table names the packages' modules")
    assert.deepStrictEqual(missing, [])
  })
})
