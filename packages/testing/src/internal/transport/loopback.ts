/**
 * The loopback transport: the gateway `HttpApp` served by an `HttpServer`; a connection reset
 * fault destroys the socket.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type * as Fault from "../../Fault.js"

export const serve = <R>(app: HttpApp.Default<Fault.ConnectionReset, R>): HttpApp.Default<never, R> =>
  Effect.catchTag(app, "ConnectionReset", () =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
      return HttpServerResponse.empty({ status: 500 })
    }))
