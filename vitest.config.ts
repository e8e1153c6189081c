import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

// The projects are listed in vitest.workspace.ts (the layout keeps that file) and given to
// vitest 3.2 as `test.projects`, its successor: the same list, without the deprecation notice
// vitest prints when it finds a workspace file on its own. The JSON report feeds the closing
// line that .ci/run prints.
export default defineConfig({
  test: {
    projects,
    reporters: ["default", ["json", { outputFile: "build/vitest-report.json" }]]
  }
})
