import * as InvalidRequestOptions from "@effect-fal/headers/InvalidRequestOptions"
import * as ObjectLifecycle from "@effect-fal/headers/ObjectLifecycle"
import type * as Duration from "effect/Duration"
import * as Either from "effect/Either"

/** The header an upload's initiate request carries its lifecycle in (SPEC section 8). */
export const headerName = "X-Fal-Object-Lifecycle"

/** What the CDN does for a user an ACL rule names. */
export type Decision = ObjectLifecycle.Decision

export type InitialAcl = ObjectLifecycle.InitialAcl

export interface Lifecycle {
  /**
   * How long the file is kept, a whole number of seconds (0 or more, e.g. `"1 hour"`), or
   * `"never"` to keep it forever. A bare number is rejected (fal's SDKs read seconds, Effect
   * milliseconds).
   */
  readonly expiration?: Duration.DurationInput | "never" | undefined
  /** The file's initial access control list. */
  readonly initialAcl?: InitialAcl | undefined
}

/**
 * The header value (compact JSON, as fal's JS client sends it), or `undefined` for no header.
 * Validation and the JSON are `@effect-fal/headers/ObjectLifecycle`'s (the one encoder of the
 * lifecycle); only the header name and the compact spelling are the upload's.
 */
export const encode = (
  lifecycle: Lifecycle | undefined
): Either.Either<string | undefined, InvalidRequestOptions.InvalidRequestOptions> =>
  lifecycle === undefined ? Either.right(undefined) : Either.match(ObjectLifecycle.fromInput(lifecycle), {
    onLeft: ({ reason, value }) =>
      Either.left(InvalidRequestOptions.single({ name: headerName, location: "header", value, reason })),
    onRight: (value) => Either.right(value === undefined ? undefined : ObjectLifecycle.printCompact(value))
  })
