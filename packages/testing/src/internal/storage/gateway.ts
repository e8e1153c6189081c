/**
 * The storage routes (`router.ts`) inside the emulator's gateway: uploads land in the platform's
 * own CDN store (served by its `/cdn` base, input files kept when a request's payloads are
 * deleted, expiring on the Effect clock), their URLs built on the caller's base URLs, initiate
 * authorized by the platform's keys.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as FalPlatform from "../../FalPlatform.js"
import { Call, PlatformEnv } from "../call.js"
import { detail } from "../http.js"
import * as Retention from "../retention.js"
import type { Env } from "../state.js"
import { type CdnFile, CdnFiles, type CdnFilesService, lazily } from "./files.js"
import * as Router from "./router.js"

type Routers = Effect.Effect.Success<typeof Router.make>

/**
 * The routers of each platform, made on its first upload: their upload sessions belong to that
 * platform. Keyed weakly by the platform's state, so a platform's sessions go with it.
 */
const instances = new WeakMap<Env, Routers>()

const routersOf = (env: Env): Routers => {
  const found = instances.get(env)
  if (found !== undefined) return found
  // `make` only allocates the sessions' `Ref`: synchronous, it cannot fail.
  const made = Effect.runSync(Router.make)
  instances.set(env, made)
  return made
}

// the bytes pass on as they are read: a multipart file's parts are joined on first read (`lazily`)
const toStorageFile = (file: FalPlatform.CdnFile): CdnFile =>
  lazily(
    {
      url: file.url,
      contentType: file.contentType,
      expiresAt: file.expiresAt ?? "never",
      kind: file.kind
    },
    "bytes",
    () => file.content
  )

/** The platform's CDN store as the storage routes' {@link CdnFiles}. */
export const cdnFiles = (env: Env, cdnBase: string): CdnFilesService => ({
  put: (file) =>
    Effect.gen(function*() {
      const path = Retention.cdnPath(file.url.startsWith(cdnBase) ? file.url.slice(cdnBase.length) : file.url)
      if (path === undefined) return yield* Effect.dieMessage(`not a CDN file URL: ${file.url}`)
      yield* Retention.putFileAt(
        env,
        lazily(
          {
            url: file.url,
            path,
            contentType: file.contentType,
            kind: file.kind,
            requestId: undefined,
            createdAt: yield* Effect.clockWith((clock) => clock.currentTimeMillis),
            expiresAt: file.expiresAt === "never" ? undefined : file.expiresAt
          },
          "content",
          () => file.bytes
        )
      )
    }),
  get: (url) => Effect.map(Retention.file(env, url), Option.map(toStorageFile))
})

/** Answers a call on the `storage` or the `upload` base with the platform's storage routes. */
export const serve = (which: "storage" | "upload") =>
  Effect.gen(function*() {
    const env = yield* PlatformEnv
    const call = yield* Call
    return yield* routersOf(env)[which].pipe(
      Effect.provideService(CdnFiles, cdnFiles(env, call.urls.cdn)),
      Effect.provideService(Router.StorageConfig, {
        uploadBase: call.urls.upload,
        cdnBase: call.urls.cdn,
        authorize: () => Effect.succeed(call.auth === "user" || call.auth === "admin"),
        defaultExpiresAt: (storedAt) => Retention.expiryOf(env, undefined, storedAt) ?? "never"
      }),
      // The gateway's request log read the body already.
      Effect.provideService(Router.RequestBody, call.body),
      Effect.catchTags({
        RouteNotFound: () => Effect.succeed(detail(404, "Not Found")),
        RequestError: () => Effect.succeed(detail(400, "the request body could not be read"))
      })
    )
  })
