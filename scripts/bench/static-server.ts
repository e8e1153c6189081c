/**
 * A minimal loopback server for the HTTP benchmark: answers every request at once with a fixed
 * fal-like JSON response and fal's response headers, so that a benchmark against it measures
 * the client's own cost. Prints one line of JSON with the base URLs (all on one origin).
 */
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"

const body = JSON.stringify({ prompt: "a lighthouse at dusk, oil on canvas", seed: 42 })

const server = createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    response.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "x-fal-request-id": randomUUID(),
      "x-fal-billable-units": "1",
      "x-fal-served-from": "runner-1"
    })
    response.end(body)
  })
})

// Idle connections stay open between benchmark rounds: a server closing an idle socket as a
// client reuses it ("other side closed") would fail a call that no client retries (a run).
server.keepAliveTimeout = 10 * 60 * 1000
server.headersTimeout = server.keepAliveTimeout + 1000

server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  const origin = typeof address === "object" && address !== null ? `http://127.0.0.1:${address.port}` : ""
  console.log(
    JSON.stringify({ run: `${origin}/run`, queue: `${origin}/queue`, api: `${origin}/api/v1`, rest: `${origin}/rest` })
  )
})
