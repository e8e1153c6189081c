/**
 * The loopback transport: the gateway `HttpApp` served by an `HttpServer`. A connection reset
 * fault destroys the socket; so does a body stream that fails once the answer has begun (a cut
 * connection: `Fault.cutShort`, an abrupt `Fault.closeStreamAfter`), instead of the server's
 * clean end of the response, once what was written before it has been flushed.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Net from "node:net"
import type * as Fault from "../../Fault.js"

/** Destroys the socket once the bytes written to it so far have left. */
const destroyAfterFlush = (socket: Net.Socket): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (socket.destroyed) return resume(Effect.void)
    socket.write(new Uint8Array(0), () => {
      socket.destroy()
      resume(Effect.void)
    })
  })

/** A streamed body whose failure cuts the connection. */
const cutOnFailure = (
  request: HttpServerRequest.HttpServerRequest,
  response: HttpServerResponse.HttpServerResponse
): HttpServerResponse.HttpServerResponse => {
  const body = response.body
  if (body._tag !== "Stream") return response
  const socket = NodeHttpServerRequest.toIncomingMessage(request).socket
  return HttpServerResponse.stream(
    Stream.tapErrorCause(body.stream, () => destroyAfterFlush(socket)),
    {
      status: response.status,
      headers: response.headers,
      ...(body.contentType === undefined ? {} : { contentType: body.contentType }),
      ...(body.contentLength === undefined ? {} : { contentLength: body.contentLength })
    }
  )
}

export const serve = <R>(app: HttpApp.Default<Fault.ConnectionReset, R>): HttpApp.Default<never, R> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    app.pipe(
      Effect.map((response) => cutOnFailure(request, response)),
      Effect.catchTag("ConnectionReset", () =>
        Effect.sync(() => {
          NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
          return HttpServerResponse.empty({ status: 500 })
        }))
    ))
