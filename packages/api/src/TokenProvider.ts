/**
 * TEMPORARY shim until the `tokens:` commit of branch `stream` is merged (removed then).
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { FalError } from "./FalError.js"
import type { Token } from "./Tokens.js"

/**
 * @since 0.2.0
 * @category tags
 */
export class TokenProvider extends Context.Tag("@effect-fal/api/TokenProvider")<TokenProvider, {
  readonly token: (app: string) => Effect.Effect<Token, FalError>
}>() {}
