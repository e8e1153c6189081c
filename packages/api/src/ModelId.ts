/**
 * fal model ids: `owner/app[/sub/path]`, e.g. `fal-ai/fast-sdxl` or `fal-ai/flux/dev`. Run and
 * submit address the full id; status, result and cancel address only `owner/app`.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { InvalidModelId } from "./FalError.js"

/**
 * A model id split into its parts.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelId {
  /** The full id as given: `owner/app[/sub/path]`. */
  readonly id: string
  readonly owner: string
  readonly app: string
  /** The sub-path segments after `owner/app`, possibly none. */
  readonly path: ReadonlyArray<string>
}

// eslint-disable-next-line no-control-regex
const forbidden = /[\s\u0000-\u001f\u007f?#]/

const reject = (modelId: string, reason: string) => Either.left(new InvalidModelId({ modelId, reason }))

/**
 * Validates a model id (SPEC section 2): rejects an empty id, fewer than two segments, an empty
 * segment, a `.` segment, `..`, `?`, `#`, whitespace and control characters.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (modelId: string): Either.Either<ModelId, InvalidModelId> => {
  if (modelId.length === 0) return reject(modelId, "is empty")
  if (forbidden.test(modelId)) return reject(modelId, "contains whitespace, a control character, '?' or '#'")
  if (modelId.includes("..")) return reject(modelId, "contains '..'")
  const segments = modelId.split("/")
  if (segments.length < 2) return reject(modelId, "must have the form owner/app[/path]")
  if (segments.some((segment) => segment.length === 0)) return reject(modelId, "has an empty segment")
  // a URL parser would resolve a '.' segment away and send the call to another path
  if (segments.some((segment) => segment === ".")) return reject(modelId, "has a '.' segment")
  const [owner, app, ...path] = segments
  return Either.right({ id: modelId, owner: owner!, app: app!, path })
}

/**
 * The URL path of the full id (run and submit), each segment percent-encoded.
 *
 * @since 0.1.0
 * @category urls
 */
export const fullPath = (self: ModelId): string =>
  [self.owner, self.app, ...self.path].map(encodeURIComponent).join("/")

/**
 * The URL path of `owner/app` (status, result, cancel): the sub-path is dropped.
 *
 * @since 0.1.0
 * @category urls
 */
export const appPath = (self: ModelId): string => `${encodeURIComponent(self.owner)}/${encodeURIComponent(self.app)}`
