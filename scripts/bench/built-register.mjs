/**
 * `node --import ./scripts/bench/built-register.mjs`: the benchmarks run effect-fal as it is
 * published (see built.mjs). The flag is passed on to every child process through `NODE_OPTIONS`,
 * so the clients, servers and emulators the benchmarks start use the compiled packages too.
 */
import { register } from "node:module"

register("./built.mjs", import.meta.url)

const flag = `--import=${import.meta.url}`
const options = process.env.NODE_OPTIONS ?? ""
if (!options.includes(flag)) process.env.NODE_OPTIONS = `${options} ${flag}`.trim()
