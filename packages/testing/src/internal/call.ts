/**
 * What a route module reads from its context: the platform's state ({@link PlatformEnv}) and the
 * call being answered ({@link Call}: its gateway id, base, path, key, decoded platform headers,
 * body and the caller's base URLs). The gateway provides both; a router only `yield*`s them.
 */
import type { RequestOptions } from "@effect-fal/headers"
import * as Context from "effect/Context"
import type * as Either from "effect/Either"
import type * as Option from "effect/Option"
import type * as Ref from "effect/Ref"
import type * as FalPlatform from "../FalPlatform.js"
import type * as Auth from "./auth.js"
import type { Fired } from "./faults.js"
import type { Env } from "./state.js"

export class PlatformEnv extends Context.Tag("@effect-fal/testing/internal/PlatformEnv")<PlatformEnv, Env>() {}

export interface CallInfo {
  /** The id answered in `x-fal-request-id` unless a route answers another. */
  readonly gatewayId: string
  readonly base: FalPlatform.Base
  /** Relative to the base, starting with `/`, without the query. */
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>
  readonly auth: Auth.Auth
  readonly options: Either.Either<RequestOptions.RequestOptions, RequestOptions.InvalidRequestOptions>
  readonly body: Uint8Array
  /** The base URLs the caller used: URLs in answers (submit URLs, CDN files) are built on them. */
  readonly urls: FalPlatform.Urls
  /** The fault that hit this call, if any: set by the faults middleware, read by the request log. */
  readonly fired: Ref.Ref<Option.Option<Fired>>
}

export class Call extends Context.Tag("@effect-fal/testing/internal/Call")<Call, CallInfo>() {}
