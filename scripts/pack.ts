/**
 * `pnpm pack-all`: build every publishable package, write its publishable form to
 * `packages/<name>/dist/` (see `release/pack.ts`) and pack each into `build/packs/`.
 */
import * as Path from "node:path"
import { build } from "./release/build.js"
import { packTarballs, writeDist } from "./release/pack.js"
import { root } from "./release/workspace.js"

const tarballs = packTarballs(writeDist(build()), Path.join(root, "build", "packs"))
for (const tarball of tarballs) console.log(Path.relative(root, tarball))
