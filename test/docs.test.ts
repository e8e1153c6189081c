/**
 * Every ```ts block of `docs/*.md`, the root README and each `packages/*\/README.md` compiles as
 * written. The blocks are written to `build/docs-blocks/` (inside the repository, so
 * `@effect-fal/*` resolve to the workspace packages and `effect` to the workspace's copy) and
 * type-checked as one TypeScript program with the repository's strict options; each block is its
 * own module. A block opts out only with `no-check` and a reason on its fence line
 * (```ts no-check: why), and the reason is reported.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import ts from "typescript"

const root = Path.resolve(__dirname, "..")
const out = Path.join(root, "build", "docs-blocks")

interface Block {
  readonly doc: string
  /** The line of the block's first code line in the Markdown file (1-based). */
  readonly line: number
  readonly info: string
  readonly code: string
}

const markdownFiles = (): ReadonlyArray<string> =>
  [
    ...Fs.readdirSync(Path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`),
    "README.md",
    ...Fs.readdirSync(Path.join(root, "packages"))
      .map((name) => `packages/${name}/README.md`)
      .filter((file) => Fs.existsSync(Path.join(root, file)))
  ].sort()

const extract = (doc: string): ReadonlyArray<Block> => {
  const lines = Fs.readFileSync(Path.join(root, doc), "utf8").split("\n")
  const blocks: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(ts|typescript)\b(.*)$/.exec(lines[i])
    if (open === null) continue
    const start = i + 1
    let end = start
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end])) end++
    blocks.push({ doc, line: start + 1, info: open[3].trim(), code: lines.slice(start, end).join("\n") + "\n" })
    i = end
  }
  return blocks
}

const fileName = (block: Block, index: number): string =>
  Path.join(out, `${block.doc.replace(/[/\\.]/g, "_")}_${index}_line${block.line}.ts`)

describe("code blocks in the docs and READMEs", () => {
  it("compile as written", { timeout: 300_000 }, () => {
    const blocks = markdownFiles().flatMap(extract)
    const optedOut = blocks.filter((block) => block.info.startsWith("no-check"))
    for (const block of optedOut) {
      assert.match(block.info, /^no-check:\s*\S/, `${block.doc}:${block.line - 1}: no-check needs a reason`)
    }
    const checked = blocks.filter((block) => !block.info.startsWith("no-check"))
    assert.isAbove(checked.length, 10, "the docs have code blocks to check")

    Fs.rmSync(out, { recursive: true, force: true })
    Fs.mkdirSync(out, { recursive: true })
    const origin = new Map<string, Block>()
    checked.forEach((block, index) => {
      const file = fileName(block, index)
      Fs.writeFileSync(file, block.code)
      origin.set(Path.resolve(file), block)
    })

    const program = ts.createProgram([...origin.keys()], {
      strict: true,
      exactOptionalPropertyTypes: true,
      noImplicitOverride: true,
      isolatedModules: true,
      verbatimModuleSyntax: true,
      moduleDetection: ts.ModuleDetectionKind.Force,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
      types: ["node"],
      skipLibCheck: true,
      noEmit: true
    })
    const messages = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
      if (diagnostic.file === undefined) return text
      const block = origin.get(Path.resolve(diagnostic.file.fileName))
      const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0)
      return block === undefined
        ? `${Path.relative(root, diagnostic.file.fileName)}:${line + 1}: ${text}`
        : `${block.doc}:${block.line + line}: ${text}`
    })
    assert.deepStrictEqual(messages, [])
  })
})
