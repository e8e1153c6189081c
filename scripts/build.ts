/**
 * `pnpm build`: ESM, CommonJS and declarations for every publishable package, into
 * `packages/<name>/build/{esm,cjs,dts}` (see `release/build.ts`).
 */
import { build } from "./release/build.js"

build()
