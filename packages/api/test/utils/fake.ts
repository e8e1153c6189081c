import { FalClient } from "@effect-fal/api"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"

export const KEY = "fake-key-id:fake-key-secret-0123456789"
export const ADMIN_KEY = "fake-admin-id:fake-admin-secret-9876543210"

export interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export type Handler = (
  request: Seen,
  index: number
) => Response | Effect.Effect<Response, HttpClientError.HttpClientError> | "reset" | "refused"

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })

/** A transport answering with `handler`, recording every request it receives. */
export const make = (handler: Handler) =>
  Effect.gen(function*() {
    const log = yield* Ref.make<ReadonlyArray<Seen>>([])
    const client = HttpClient.make((request, url) =>
      Effect.gen(function*() {
        const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
        const seen: Seen = { method: request.method, url: url.toString(), headers: request.headers, body }
        const index = (yield* Ref.get(log)).length
        yield* Ref.update(log, (all) => [...all, seen])
        const answer = handler(seen, index)
        if (answer === "reset" || answer === "refused") {
          const cause = Object.assign(new Error(answer === "reset" ? "socket hang up" : "connect ECONNREFUSED"), {
            code: answer === "reset" ? "ECONNRESET" : "ECONNREFUSED"
          })
          return yield* Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause }))
        }
        const response = answer instanceof Response ? answer : yield* answer
        return HttpClientResponse.fromWeb(request, response)
      })
    )
    return { client, log }
  })

/** A `FalClient` layer over a fake transport; returns the request log alongside. */
export const layer = (
  handler: Handler,
  options: { readonly adminKey?: boolean; readonly urls?: Partial<FalClient.Urls> } = {}
) =>
  Effect.gen(function*() {
    const fake = yield* make(handler)
    const falLayer = FalClient.layer({
      key: Redacted.make(KEY),
      ...(options.adminKey === true ? { adminKey: Redacted.make(ADMIN_KEY) } : {}),
      ...(options.urls === undefined ? {} : { urls: options.urls })
    }).pipe(Layer.orDie, Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)))
    return { layer: falLayer, log: fake.log }
  })

export const redactedKey = Redacted.make(KEY)
