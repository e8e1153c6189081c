/**
 * The build of every publishable package (see `workspace.ts`), as the Effect monorepo's v3
 * packages ship, each under `packages/<name>/build/`:
 *
 * - `esm/`: ES modules with source maps, by `tsc -b tsconfig.build.json`, marked `{"type":"module"}`;
 * - `dts/`: declarations with declaration maps, from the same `tsc -b` run;
 * - `cjs/`: CommonJS with source maps, marked `{"type":"commonjs"}`.
 *
 * The CommonJS build transpiles each source file on its own with TypeScript's `transpileModule`
 * (module CommonJS). That is sound because the sources compile under `isolatedModules` and
 * `verbatimModuleSyntax` (every type-only import says so) and the ESM build has already
 * type-checked them; it is the per-file transform the Effect monorepo applies with Babel.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import ts from "typescript"
import { filesUnder, publishablePackages, root, type WorkspacePackage, writeJson } from "./workspace.js"

const cjsOptions: ts.CompilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  sourceMap: true,
  esModuleInterop: false,
  verbatimModuleSyntax: false,
  isolatedModules: true
}

const buildCjs = (pkg: WorkspacePackage): void => {
  const src = Path.join(pkg.dir, "src")
  const cjs = Path.join(pkg.dir, "build", "cjs")
  Fs.rmSync(cjs, { recursive: true, force: true })
  for (const file of filesUnder(src, (name) => name.endsWith(".ts") && !name.endsWith(".d.ts"))) {
    const sourcePath = Path.join(src, file)
    const outPath = Path.join(cjs, file.replace(/\.ts$/, ".js"))
    const output = ts.transpileModule(Fs.readFileSync(sourcePath, "utf8"), {
      compilerOptions: cjsOptions,
      fileName: Path.basename(sourcePath),
      reportDiagnostics: true
    })
    const errors = (output.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error)
    if (errors.length > 0) {
      throw new Error(
        `${sourcePath}: ${errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")).join("; ")}`
      )
    }
    // The map points at the source the way the ESM build's maps do (relative to the output).
    const map = JSON.parse(output.sourceMapText ?? "{}") as { sources: Array<string>; file: string }
    map.file = Path.basename(outPath)
    map.sources = [Path.relative(Path.dirname(outPath), sourcePath).split(Path.sep).join("/")]
    Fs.mkdirSync(Path.dirname(outPath), { recursive: true })
    Fs.writeFileSync(outPath, output.outputText)
    Fs.writeFileSync(outPath + ".map", JSON.stringify(map))
  }
  writeJson(Path.join(cjs, "package.json"), { type: "commonjs" })
}

/** Builds every publishable package (ESM and declarations, then CommonJS); returns them. */
export const build = (): ReadonlyArray<WorkspacePackage> => {
  const packages = publishablePackages()
  execFileSync(
    process.execPath,
    [
      Path.join(root, "node_modules", "typescript", "bin", "tsc"),
      "-b",
      ...packages.map((pkg) => Path.join(pkg.dir, "tsconfig.build.json"))
    ],
    { stdio: "inherit", cwd: root }
  )
  for (const pkg of packages) {
    writeJson(Path.join(pkg.dir, "build", "esm", "package.json"), { type: "module" })
    buildCjs(pkg)
    console.log(`built ${pkg.manifest.name}: build/esm, build/cjs, build/dts`)
  }
  return packages
}
