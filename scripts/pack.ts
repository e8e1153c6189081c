/**
 * `pnpm pack-all`: build every publishable package, write its publishable form to
 * `packages/<name>/dist/` (see `release/pack.ts`) and pack each into `build/packs/`.
 */
import * as Path from "node:path"
import { build } from "./release/build.js"
import { packTarballs, writeDist } from "./release/pack.js"
import { root } from "./release/workspace.js"

// pnpm hands its own settings to a script as `npm_config_*` variables (auto-install-peers,
// verify-deps-before-run, ...); `npm pack` warns about each one it does not know, once per
// package. npm reads the .npmrc files itself, so its child processes get an environment without them.
for (const name of Object.keys(process.env)) {
  if (name.toLowerCase().startsWith("npm_config_")) delete process.env[name]
}

const tarballs = packTarballs(writeDist(build()), Path.join(root, "build", "packs"))
for (const tarball of tarballs) console.log(Path.relative(root, tarball))
