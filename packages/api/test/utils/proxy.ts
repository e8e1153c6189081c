import { FalProxy } from "@effect-fal/api"
import type { FalClient } from "@effect-fal/api"
import { FalEmulator } from "@effect-fal/testing"
import type { FalPlatform } from "@effect-fal/testing"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import { createFalClient, type FalClient as OfficialClient } from "@fal-ai/client"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as http from "node:http"

/** Where the test's proxy listens. */
export class ProxyServer extends Context.Tag("test/ProxyServer")<ProxyServer, {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string
  /** `http://127.0.0.1:PORT/api/fal/proxy` */
  readonly url: string
}>() {}

/** The session header the tests' `authenticate` accepts. */
export const session = { name: "x-app-session", value: "signed-in" } as const

/** Accepts callers carrying {@link session}. */
export const authenticate = (request: { readonly headers: Readonly<Record<string, string | undefined>> }) =>
  Effect.succeed(request.headers[session.name] === session.value)

/**
 * `FalProxy.httpApp` served at `/api/fal/proxy` on a loopback port of its own, with the
 * `FalClient` in context (the server's key) and the emulator's bases allowed; `extra` adds routes
 * (the browser test's page).
 */
export const layerProxyServer = (
  options: (urls: FalPlatform.Urls) => FalProxy.Options,
  extra?: HttpRouter.HttpRouter
): Layer.Layer<ProxyServer, never, FalClient.FalClient | FalEmulator.FalEmulator> =>
  Layer.scoped(
    ProxyServer,
    Effect.gen(function*() {
      const { urls } = yield* FalEmulator.FalEmulator
      const server = yield* HttpServer.HttpServer
      const proxy = HttpRouter.empty.pipe(HttpRouter.all(FalProxy.defaultRoute, FalProxy.httpApp(options(urls))))
      yield* server.serve(extra === undefined ? proxy : HttpRouter.concat(proxy, extra))
      const address = server.address
      const origin = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`
      return { origin, url: `${origin}${FalProxy.defaultRoute}` }
    })
  ).pipe(
    Layer.provide(Layer.orDie(NodeHttpServer.layerServer(() => http.createServer(), { port: 0, host: "127.0.0.1" })))
  )

/** fal's hosts in a URL of fal's official client, rewritten to the emulator's bases. */
export const rewrite = (urls: FalPlatform.Urls, url: string): string =>
  url.startsWith("https://queue.fal.run")
    ? urls.queue + url.slice("https://queue.fal.run".length)
    : url.startsWith("https://fal.run")
    ? urls.run + url.slice("https://fal.run".length)
    : url.startsWith("https://rest.fal.ai/")
    ? urls.storage + url.slice("https://rest.fal.ai".length)
    : url

/**
 * fal's official client without a key, sending every call through the proxy (`proxyUrl`, always,
 * as a browser would); its hosts are rewritten to the emulator's first, so the proxy sees the
 * emulator's URLs in `x-fal-target-url`. `headers` are added to every call (the session).
 */
export const officialThroughProxy = (
  urls: FalPlatform.Urls,
  proxyUrl: string,
  headers: Record<string, string> = { [session.name]: session.value }
): OfficialClient =>
  createFalClient({
    // no key on this side, whatever the environment holds
    credentials: () => undefined,
    proxyUrl: { url: proxyUrl, when: "always" },
    requestMiddleware: async (request) => ({
      ...request,
      url: rewrite(urls, request.url),
      headers: { ...request.headers, ...headers }
    })
  })
