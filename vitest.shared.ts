import * as path from "node:path"
import type { ViteUserConfig } from "vitest/config"

const config: ViteUserConfig = {
  test: {
    setupFiles: [path.join(__dirname, "setupTests.ts")],
    include: ["test/**/*.test.ts"],
    sequence: { concurrent: true },
    testTimeout: 30_000
  }
}

export default config
