import type { TestProjectConfiguration } from "vitest/config"

// Each package is a project; the root project holds the repository-wide tests (test/: the docs'
// code blocks compile, the README's exports). vitest.config.ts passes this list as `test.projects`.
const projects: Array<TestProjectConfiguration> = [
  "packages/*",
  { extends: "./vitest.shared.ts", test: { name: "repository", root: ".", include: ["test/**/*.test.ts"] } }
]

export default projects
