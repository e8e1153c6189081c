// Each package is a project; the root project holds the repository-wide tests (test/: the docs'
// code blocks compile).
export default [
  "packages/*",
  { extends: "./vitest.shared.ts", test: { name: "repository", root: ".", include: ["test/**/*.test.ts"] } }
]
