/**
 * The typed error for a request option that cannot be put on the wire, or a wire value that
 * cannot be read back: it names the header or query parameter and the offending value.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * One rejected value.
 *
 * @since 0.1.0
 * @category models
 */
export class Issue extends Schema.Class<Issue>("@effect-fal/headers/InvalidRequestOptions/Issue")({
  /** The wire name of the header or query parameter, as the platform spells it. */
  name: Schema.String,
  /** Where it travels. */
  location: Schema.Literal("header", "query"),
  /** The offending value, rendered for humans (a wire string is quoted). */
  value: Schema.String,
  /** Why it was rejected. */
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  get message(): string {
    return `${this.name}: ${this.reason} (got ${this.value})`
  }
}

/**
 * Raised when request options cannot be encoded (before anything is sent) or a wire value
 * cannot be decoded. `issues` lists every rejected value, in wire-name order of the table in
 * SPEC.md section 4.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequestOptions extends Schema.TaggedError<InvalidRequestOptions>(
  "@effect-fal/headers/InvalidRequestOptions"
)("InvalidRequestOptions", {
  issues: Schema.NonEmptyArray(Issue)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Invalid request options: ${this.issues.map((issue) => issue.message).join("; ")}`
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const single = (issue: {
  readonly name: string
  readonly location: "header" | "query"
  readonly value: string
  readonly reason: string
}): InvalidRequestOptions => new InvalidRequestOptions({ issues: [new Issue(issue)] })
