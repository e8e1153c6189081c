/**
 * A small fal Platform API for the history and purge tests, until the emulator serves them: the
 * testing package's history route over an in-memory record set, and
 * `DELETE /models/requests/:id/payloads` keeping a delete log and honouring `Idempotency-Key`
 * (a repeated key replays the first answer and deletes nothing). Served in-process (a web
 * handler behind an `HttpClient`, so `TestClock` drives every wait) or on a loopback port.
 */
import { FalClient } from "@effect-fal/api"
import * as RequestHistory from "@effect-fal/testing/RequestHistory"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Layer, Option, Redacted } from "effect"
import { createServer } from "node:http"

export const ADMIN_KEY = "history-admin-id:history-admin-secret-0123456789"
export const KEY = "history-user-id:history-user-secret-0123456789"

/** One request of the fixture: a history record plus the CDN files of its input and output. */
export interface FixtureRecord extends RequestHistory.HistoryRecord {
  readonly inputFiles: ReadonlyArray<string>
  readonly outputFiles: ReadonlyArray<string>
}

export interface Throttle {
  /** Every `every`-th request (history and deletes alike) is answered `429`. */
  readonly every: number
  /** The `Retry-After` of those answers, in seconds. */
  readonly retryAfter: number
}

export interface Options {
  readonly throttle?: Throttle | undefined
  /** Request ids whose deletion answers `500` (a failure that is not a rate limit). */
  readonly failing?: ReadonlySet<string> | undefined
  /** Request ids whose payloads were deleted before (their deletion answers `404`). */
  readonly purged?: ReadonlySet<string> | undefined
  /** The platform's clock (the history's `end` default); default: the latest record's end + 1 h. */
  readonly now?: number | undefined
}

export interface DeleteLogEntry {
  readonly requestId: string
  readonly idempotencyKey: string | undefined
  readonly files: ReadonlyArray<string>
}

export interface Harness {
  readonly records: ReadonlyArray<FixtureRecord>
  /** One entry per deletion performed (a replayed idempotent answer adds none). */
  readonly deleteLog: Array<DeleteLogEntry>
  /** Every request received: method, path and query. */
  readonly requests: Array<string>
  /** CDN files still stored. */
  readonly files: Set<string>
  readonly app: HttpApp.Default<never, never>
}

export const endpoint = "fal-ai/flux/dev"
export const base = Date.UTC(2026, 10, 1)

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0")

/** A deterministic UUID for index `i`. */
export const idOf = (i: number, salt = 0) => `${hex(salt, 8)}-0000-4000-8000-${hex(i, 12)}`

/**
 * `count` requests to `endpointId`, one ending every minute from `start`, each with one input
 * file and two output files; every tenth ends with status 500, every seventh with 422.
 */
export const fixture = (
  count: number,
  options: { readonly endpointId?: string; readonly start?: number; readonly salt?: number } = {}
): Array<FixtureRecord> =>
  Array.from({ length: count }, (_, i) => {
    const endedAt = (options.start ?? base) + i * 60_000
    const requestId = idOf(i, options.salt ?? 0)
    return {
      requestId,
      endpointId: options.endpointId ?? endpoint,
      startedAt: endedAt - 5_000,
      sentAt: endedAt - 6_000,
      endedAt,
      statusCode: i % 10 === 9 ? 500 : i % 7 === 6 ? 422 : 200,
      jsonInput: { prompt: `p${i}` },
      jsonOutput: { images: [{ url: `https://cdn.test/out/${requestId}/0.png` }] },
      inputFiles: [`https://cdn.test/in/${requestId}.png`],
      outputFiles: [`https://cdn.test/out/${requestId}/0.png`, `https://cdn.test/out/${requestId}/1.png`]
    }
  })

const platformError = (status: number, type: string, message: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson({ error: { type, message } }, { status, headers })

export const make = (records: ReadonlyArray<FixtureRecord>, options: Options = {}): Harness => {
  const deleteLog: Array<DeleteLogEntry> = []
  const requests: Array<string> = []
  const files = new Set(records.flatMap((r) => [...r.inputFiles, ...r.outputFiles]))
  const byId = new Map(records.map((r) => [r.requestId, r]))
  const byEndpoint = new Map<string, Array<FixtureRecord>>()
  for (const r of records) byEndpoint.set(r.endpointId, [...(byEndpoint.get(r.endpointId) ?? []), r])
  const purged = new Set<string>(options.purged)
  const replies = new Map<string, { readonly status: number; readonly body: unknown }>()
  const now = options.now ?? Math.max(base, ...records.map((r) => r.endedAt ?? 0)) + 3_600_000
  let received = 0

  const throttle = Effect.sync(() => {
    received++
    const t = options.throttle
    return t !== undefined && received % t.every === 0 ? Option.some(t.retryAfter) : Option.none()
  })

  const service: RequestHistory.Service = {
    records: (endpointId) => Effect.succeed(byEndpoint.get(endpointId) ?? []),
    throttle,
    now: Effect.succeed(now)
  }

  const remove = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const limited = yield* RequestHistory.throttled(throttle)
    if (limited !== undefined) return limited
    if (request.headers["authorization"] !== `Key ${ADMIN_KEY}`) {
      return platformError(403, "authorization_error", "an ADMIN key is required")
    }
    const { id } = yield* HttpRouter.params
    const key = request.headers["idempotency-key"]
    const cached = key === undefined ? undefined : replies.get(key)
    if (cached !== undefined) return HttpServerResponse.unsafeJson(cached.body, { status: cached.status })
    const record = id === undefined ? undefined : byId.get(id)
    let reply: { readonly status: number; readonly body: unknown }
    if (record === undefined || purged.has(record.requestId)) {
      reply = { status: 404, body: { error: { type: "not_found", message: "request not found" } } }
    } else if (options.failing?.has(record.requestId) === true) {
      return platformError(500, "server_error", "storage unavailable")
    } else {
      purged.add(record.requestId)
      for (const file of record.outputFiles) files.delete(file)
      deleteLog.push({ requestId: record.requestId, idempotencyKey: key, files: record.outputFiles })
      reply = {
        status: 200,
        body: { cdn_delete_results: record.outputFiles.map((link) => ({ link, exception: null })) }
      }
    }
    if (key !== undefined) replies.set(key, reply)
    return HttpServerResponse.unsafeJson(reply.body, { status: reply.status })
  })

  const logged = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      requests.push(`${request.method} ${request.url}`)
      return app
    })

  const router = HttpRouter.empty.pipe(
    HttpRouter.concat(RequestHistory.router),
    HttpRouter.del("/models/requests/:id/payloads", remove)
  )
  const app = logged(router).pipe(
    Effect.catchAll(() => Effect.succeed(platformError(404, "not_found", "no such route"))),
    Effect.provideService(RequestHistory.RequestHistory, service)
  )
  return { records, deleteLog, requests, files, app }
}

/** An `HttpClient` answering from the harness in-process (no socket). */
export const client = (harness: Harness): HttpClient.HttpClient => {
  const handler = HttpApp.toWebHandler(harness.app)
  return HttpClient.make((request, url) =>
    Effect.promise(() =>
      handler(
        new Request(url, {
          method: request.method,
          headers: request.headers
        })
      )
    ).pipe(Effect.map((response) => HttpClientResponse.fromWeb(request, response)))
  )
}

/** The api base the harness answers on (any host: it routes by path). */
export const apiUrl = "http://history.test"

/** A `FalClient` (with an admin key) on the in-process harness. */
export const layer = (harness: Harness): Layer.Layer<FalClient.FalClient> =>
  FalClient.layer({
    key: Redacted.make(KEY),
    adminKey: Redacted.make(ADMIN_KEY),
    urls: { api: apiUrl }
  }).pipe(Layer.orDie, Layer.provide(Layer.succeed(HttpClient.HttpClient, client(harness))))

/** The harness on a loopback port, with a `FalClient` on undici pointed at it. */
export const layerLoopback = (harness: Harness): Layer.Layer<FalClient.FalClient, unknown> =>
  Layer.unwrapEffect(
    Effect.map(HttpServer.HttpServer, (server) => {
      const address = server.address
      const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : apiUrl
      return FalClient.layer({
        key: Redacted.make(KEY),
        adminKey: Redacted.make(ADMIN_KEY),
        urls: { api: url }
      }).pipe(Layer.provide(NodeHttpClient.layerUndici))
    })
  ).pipe(
    Layer.merge(HttpServer.serve(harness.app)),
    Layer.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )
