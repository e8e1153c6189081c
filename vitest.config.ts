import { defineConfig } from "vitest/config"

// Root options only; the projects are listed in vitest.workspace.ts. The JSON report feeds the
// closing line that .ci/run prints.
export default defineConfig({
  test: {
    reporters: ["default", ["json", { outputFile: "build/vitest-report.json" }]]
  }
})
