import { FalPlatform } from "@effect-fal/testing"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"

export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  readonly json: unknown
}

/** A request through the in-memory `HttpClient` (the default key unless `key: null`). */
export const send = (
  method: "GET" | "POST" | "PUT" | "DELETE",
  url: string,
  options: { readonly key?: string | null; readonly headers?: Record<string, string>; readonly body?: unknown } = {}
) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const key = options.key === undefined ? FalPlatform.defaultKeys.user : options.key
    let request = HttpClientRequest.make(method)(url).pipe(HttpClientRequest.setHeaders(options.headers ?? {}))
    if (key !== null) request = HttpClientRequest.setHeader(request, "authorization", `Key ${key}`)
    if (options.body !== undefined) request = HttpClientRequest.setBody(request, HttpBody.unsafeJson(options.body))
    const response = yield* client.execute(request)
    const text = yield* response.text
    let json: unknown = undefined
    try {
      json = text === "" ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    const answer: Answer = { status: response.status, headers: response.headers, text, json }
    return answer
  })

export const submit = (modelId: string, body: unknown, headers: Record<string, string> = {}, query = "") =>
  Effect.map(
    send("POST", `https://queue.fal.run/${modelId}${query}`, { body, headers }),
    (answer) => answer.json as { request_id: string; status_url: string; response_url: string; cancel_url: string }
  )
