/**
 * The gateway: one `HttpRouter` per base, each mounted under its path prefix (`urls.ts`), wrapped
 * in the cross-cutting middlewares (request log outermost, then fal's response headers, then
 * fault injection). Adding a base is one entry in {@link routers}; adding a route is one line in
 * that base's router module.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type * as FalPlatform from "../FalPlatform.js"
import type * as Fault from "../Fault.js"
import type { Call, PlatformEnv } from "./call.js"
import { json } from "./http.js"
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

type BaseApp = HttpApp.Default<never, PlatformEnv | Call>

/** A base's router, answering the base's own "not found" when no route matches. */
const base = <R extends PlatformEnv | Call>(
  router: HttpRouter.HttpRouter<never, R>,
  notFound: Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | HttpServerRequest.HttpServerRequest>
): BaseApp => router.pipe(Effect.catchTag("RouteNotFound", () => notFound))

/** The app of each base. */
export const routers: { readonly [B in FalPlatform.Base]: BaseApp } = {
  run: base(Run.router, Run.notFound),
  queue: base(Queue.router, Queue.notFound),
  api: base(Api.router, Api.notFound),
  rest: base(Rest.router, Rest.notFound),
  cdn: base(Cdn.router, Cdn.notFound),
  storage: base(Storage.router, Storage.notFound),
  upload: base(Upload.router, Upload.notFound)
}

const mount = (name: FalPlatform.Base) => HttpRouter.mountApp(prefixes[name], routers[name])

const mounted: HttpApp.Default<never, PlatformEnv | Call> = HttpRouter.empty.pipe(
  mount("run"),
  mount("queue"),
  mount("api"),
  mount("rest"),
  mount("cdn"),
  mount("storage"),
  mount("upload"),
  Effect.catchTag("RouteNotFound", () => Effect.succeed(json(404, { detail: "Not Found" })))
)

/** The whole gateway over the platform's state. */
export const app = (env: Env): HttpApp.Default<Fault.ConnectionReset> => requestLog(env)(falHeaders(faults(mounted)))
