/**
 * The gateway: one `HttpRouter` per base, their routes mounted in one table under each base's
 * path prefix (`urls.ts`), wrapped in the cross-cutting middlewares (request log outermost, then
 * fal's response headers, then fault injection). Adding a base is one entry in {@link routers}
 * and {@link notFounds}; adding a route is one line in that base's router module.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type * as FalPlatform from "../FalPlatform.js"
import type * as Fault from "../Fault.js"
import { Call, type PlatformEnv } from "./call.js"
import { falHeaders, faults, requestLog } from "./middleware.js"
import * as Api from "./routers/api.js"
import * as Cdn from "./routers/cdn.js"
import * as Queue from "./routers/queue.js"
import * as Rest from "./routers/rest.js"
import * as Run from "./routers/run.js"
import * as Storage from "./routers/storage.js"
import * as Upload from "./routers/upload.js"
import type { Env } from "./state.js"
import { prefixes } from "./urls.js"

/** Each base's router, its routes relative to the base. */
const routers = {
  run: Run.router,
  queue: Queue.router,
  api: Api.router,
  rest: Rest.router,
  cdn: Cdn.router,
  storage: Storage.router,
  upload: Upload.router
} as const

/** Each base's own "not found" (fal answers 404 or 405 in each base's style). */
const notFounds: {
  readonly [B in FalPlatform.Base]: Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    never,
    PlatformEnv | Call | HttpServerRequest.HttpServerRequest
  >
} = {
  run: Run.notFound,
  queue: Queue.notFound,
  api: Api.notFound,
  rest: Rest.notFound,
  cdn: Cdn.notFound,
  storage: Storage.notFound,
  upload: Upload.notFound
}

const bases: ReadonlyArray<FalPlatform.Base> = ["run", "queue", "api", "rest", "cdn", "storage", "upload"]

/**
 * Every base's routes in one table, each under its base's prefix (`HttpRouter.mount` prefixes the
 * routes, and each handler sees the path relative to its base). One table, not a router per base
 * behind `mountApp`: a second routing level cost every call a context copy and some 30 fiber steps.
 * A path no route matches gets its base's own "not found" (the request log knows the base).
 */
const mounted: HttpApp.Default<never, PlatformEnv | Call> = bases.reduce(
  (table: HttpRouter.HttpRouter<never, PlatformEnv | Call>, name) =>
    HttpRouter.mount(table, prefixes[name], routers[name]),
  HttpRouter.empty
).pipe(
  Effect.catchTag("RouteNotFound", () => Effect.flatMap(Call, (call) => notFounds[call.base]))
)

/** The whole gateway over the platform's state. */
export const app = (env: Env): HttpApp.Default<Fault.ConnectionReset> => requestLog(env)(falHeaders(faults(mounted)))
