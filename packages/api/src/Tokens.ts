/**
 * TEMPORARY shim until the `tokens:` commit of branch `stream` is merged (removed then).
 *
 * @since 0.2.0
 */
import type * as DateTime from "effect/DateTime"
import type * as Redacted from "effect/Redacted"

/**
 * @since 0.2.0
 * @category models
 */
export interface Token {
  readonly value: Redacted.Redacted<string>
  readonly app: string
  readonly expiresAt: DateTime.Utc
}
