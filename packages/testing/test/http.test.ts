/**
 * Raw HTTP against the loopback emulator: exact statuses, headers and JSON bodies.
 */
import { FalPlatform, Fault } from "@effect-fal/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { call, uuidPattern, withEmulator } from "./utils/fetch.js"

const admin = FalPlatform.defaultKeys.admin

describe("run", () => {
  it.live("answers the output with the response headers", () =>
    withEmulator((urls) =>
      Effect.gen(function*() {
        const r = yield* call("POST", `${urls.run}/fal-ai/echo`, { body: { prompt: "hi" } })
        assert.strictEqual(r.status, 200)
        assert.deepStrictEqual(r.json, { prompt: "hi" })
        assert.match(r.headers.get("x-fal-request-id") ?? "", uuidPattern)
        assert.strictEqual(r.headers.get("x-fal-billable-units"), "1")
        assert.strictEqual(r.headers.get("x-fal-served-from"), "fal-ai-echo-runner-0")
        assert.strictEqual(r.headers.get("x-fal-runner-hints"), "fal-ai-echo-runner-0")
        assert.strictEqual(r.headers.get("content-type"), "application/json")
      })
    ))

  it.live("401 without a key or with an unknown key", () =>
    withEmulator((urls) =>
      Effect.gen(function*() {
        const missing = yield* call("POST", `${urls.run}/fal-ai/echo`, { key: null, body: {} })
        assert.strictEqual(missing.status, 401)
        assert.deepStrictEqual(missing.json, { detail: "Missing authorization header" })
        assert.strictEqual(missing.headers.get("x-fal-billable-units"), "0")
        assert.match(missing.headers.get("x-fal-request-id") ?? "", uuidPattern)
        const unknown = yield* call("POST", `${urls.run}/fal-ai/echo`, { key: "nope", body: {} })
        assert.strictEqual(unknown.status, 401)
        assert.deepStrictEqual(unknown.json, { detail: "Invalid API key" })
      })
    ))

  it.live("a malformed platform header answers 400 bad_request", () =>
    withEmulator((urls) =>
      Effect.gen(function*() {
        const r = yield* call("POST", `${urls.run}/fal-ai/echo`, {
          headers: { "X-Fal-Queue-Priority": "high" },
          body: {}
        })
        assert.strictEqual(r.status, 400)
        assert.strictEqual(r.headers.get("x-fal-error-type"), "bad_request")
        const body = r.json as { detail: string; error_type: string }
        assert.strictEqual(body.error_type, "bad_request")
        assert.include(body.detail, "X-Fal-Queue-Priority")
      })
    ))

  it.live("decodes every control with the headers codecs; Start-Timeout wins over Request-Timeout", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        yield* call("POST", `${urls.run}/fal-ai/echo?fal_max_queue_length=5`, {
          headers: {
            "x-fal-request-timeout": "30",
            "X-Fal-Request-Start-Timeout": "7.5",
            "X-Fal-Runner-Hint": "fal-ai-echo-runner-0",
            "X-Fal-Queue-Priority": "low",
            "X-Fal-Object-Lifecycle-Preference": "{\"expiration_duration_seconds\": 3600}",
            "X-Fal-Store-IO": "0",
            "X-Fal-No-Retry": "yes",
            "x-app-fal-disable-fallback": "true"
          },
          body: {}
        })
        const [entry] = yield* platform.httpLog
        assert.isTrue(Either.isRight(entry.options))
        if (Either.isLeft(entry.options)) return
        const options = entry.options.right
        assert.strictEqual(options.runnerHint, "fal-ai-echo-runner-0")
        assert.strictEqual(options.priority, "low")
        assert.strictEqual(options.storeIO, false)
        assert.strictEqual(options.noRetry, true)
        assert.strictEqual(options.disableFallback, true)
        assert.strictEqual(options.maxQueueLength, 5)
        assert.strictEqual(entry.headers.authorization, "Key <redacted>")
        assert.strictEqual(entry.auth, "user")
        assert.strictEqual(entry.status, 200)
        assert.deepStrictEqual(
          [options.startTimeout, options.objectLifecycle].map((d) => JSON.stringify(d)),
          [
            JSON.stringify({ _id: "Duration", _tag: "Millis", millis: 7500 }),
            JSON.stringify({ _id: "Duration", _tag: "Millis", millis: 3_600_000 })
          ]
        )
      })
    ))

  it.live("a POST to a base's root is a run of no model; other methods 405; unmatched request paths 404", () =>
    withEmulator((urls) =>
      Effect.gen(function*() {
        for (const base of [urls.run, urls.queue, `${urls.run}/`, `${urls.queue}/`]) {
          const root = yield* call("POST", base, { body: {} })
          assert.strictEqual(root.status, 404, base)
          assert.deepStrictEqual(root.json, { detail: "Invalid model id: " }, base)
          // the key is checked first, as on any run
          assert.strictEqual((yield* call("POST", base, { body: {}, key: null })).status, 401, base)
        }
        assert.strictEqual((yield* call("GET", urls.run)).status, 405)
        assert.strictEqual((yield* call("GET", `${urls.queue}/fal-ai/echo`)).status, 405)
        const stray = yield* call("DELETE", `${urls.queue}/fal-ai/echo/requests/x/status`)
        assert.deepStrictEqual([stray.status, stray.json], [404, { detail: "Not Found" }])
      })
    ))

  it.live("404 for an unknown model, 422 with detail[] for invalid input (0 billable units)", () =>
    withEmulator((urls) =>
      Effect.gen(function*() {
        const unknown = yield* call("POST", `${urls.run}/fal-ai/nope`, { body: {} })
        assert.strictEqual(unknown.status, 404)
        assert.deepStrictEqual(unknown.json, { detail: "Application 'fal-ai/nope' not found" })
        const invalid = yield* call("POST", `${urls.run}/fal-ai/validate`, { body: { prompt: "", steps: 99 } })
        assert.strictEqual(invalid.status, 422)
        assert.strictEqual(invalid.headers.get("x-fal-billable-units"), "0")
        const detail = (invalid.json as { detail: Array<{ loc: Array<string>; msg: string; type: string }> }).detail
        assert.deepStrictEqual(detail.map((d) => d.loc), [["body", "prompt"], ["body", "steps"]])
        assert.isTrue(detail.every((d) => typeof d.msg === "string" && typeof d.type === "string"))
        const missing = yield* call("POST", `${urls.run}/fal-ai/validate`, { body: { prompt: "x" } })
        assert.deepStrictEqual(
          (missing.json as { detail: Array<{ loc: Array<string>; type: string }> }).detail.map((d) => [d.loc, d.type]),
          [[["body", "steps"], "missing"]]
        )
      })
    ))

  it.live("a model error carries its status, error_type and X-Fal-Error-Type; sync runs are never retried", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const r = yield* call("POST", `${urls.run}/fal-ai/fail`, { body: { error_type: "runner_disconnected" } })
        assert.strictEqual(r.status, 503)
        assert.strictEqual(r.headers.get("x-fal-error-type"), "runner_disconnected")
        assert.deepStrictEqual(r.json, {
          detail: "Model failed with runner_disconnected",
          error_type: "runner_disconnected"
        })
        const record = yield* platform.job(r.headers.get("x-fal-request-id") ?? "")
        assert.strictEqual(Option.map(record, (x) => x.attempts).pipe(Option.getOrUndefined), 1)
      })
    ))
})

describe("queue", () => {
  it.live("submit, status (202 then 200), logs, metrics and result", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const submit = yield* call("POST", `${urls.queue}/fal-ai/echo`, { body: { a: 1 } })
        assert.strictEqual(submit.status, 200)
        const s = submit.json as Record<string, unknown>
        const id = String(s.request_id)
        assert.match(id, uuidPattern)
        assert.strictEqual(submit.headers.get("x-fal-request-id"), id)
        assert.deepStrictEqual(s, {
          request_id: id,
          response_url: `${urls.queue}/fal-ai/echo/requests/${id}`,
          status_url: `${urls.queue}/fal-ai/echo/requests/${id}/status`,
          cancel_url: `${urls.queue}/fal-ai/echo/requests/${id}/cancel`,
          queue_position: 0
        })
        yield* platform.awaitStatus(id)
        const status = yield* call("GET", `${s.status_url}?logs=1`)
        assert.strictEqual(status.status, 200)
        const body = status.json as Record<string, unknown>
        assert.strictEqual(body.status, "COMPLETED")
        assert.deepStrictEqual((body.logs as Array<{ message: string }>).map((l) => l.message), ["echoing the input"])
        assert.isNumber((body.metrics as { inference_time: number }).inference_time)
        assert.isUndefined(body.error)
        const quiet = yield* call("GET", String(s.status_url))
        assert.deepStrictEqual((quiet.json as { logs: Array<unknown> }).logs, [])
        const result = yield* call("GET", String(s.response_url))
        assert.strictEqual(result.status, 200)
        assert.deepStrictEqual(result.json, { a: 1 })
        assert.strictEqual(result.headers.get("x-fal-request-id"), id)
        assert.strictEqual(result.headers.get("x-fal-billable-units"), "1")
        const alias = yield* call("GET", `${s.response_url}/response`)
        assert.deepStrictEqual(alias.json, { a: 1 })
      })
    ))

  it.live("status 202 while queued and in progress, with the queue position", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const first = (yield* call("POST", `${urls.queue}/fal-ai/slow`, { body: { seconds: 60 } })).json as {
          request_id: string
          status_url: string
        }
        yield* platform.awaitStatus(first.request_id, "IN_PROGRESS")
        const second = (yield* call("POST", `${urls.queue}/fal-ai/slow`, { body: { seconds: 60 } })).json as {
          status_url: string
          queue_position: number
        }
        assert.strictEqual(second.queue_position, 0)
        const third = (yield* call("POST", `${urls.queue}/fal-ai/slow`, { body: { seconds: 60 } })).json as {
          queue_position: number
        }
        assert.strictEqual(third.queue_position, 1)
        const running = yield* call("GET", first.status_url)
        assert.strictEqual(running.status, 202)
        assert.strictEqual((running.json as { status: string }).status, "IN_PROGRESS")
        const queued = yield* call("GET", second.status_url)
        assert.strictEqual(queued.status, 202)
        assert.strictEqual((queued.json as { queue_position: number }).queue_position, 0)
        const early = yield* call("GET", first.status_url.replace(/\/status$/, ""))
        assert.strictEqual(early.status, 400)
      })
    ))

  it.live("a failed completion: status carries error and error_type, result the model's answer", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const submit = (yield* call("POST", `${urls.queue}/fal-ai/fail`, { body: { detail: "boom" } })).json as {
          request_id: string
          status_url: string
          response_url: string
        }
        yield* platform.awaitStatus(submit.request_id)
        const status = (yield* call("GET", submit.status_url)).json as Record<string, unknown>
        assert.strictEqual(status.error, "boom")
        assert.strictEqual(status.error_type, "runner_server_error")
        const result = yield* call("GET", submit.response_url)
        assert.strictEqual(result.status, 500)
        assert.strictEqual(result.headers.get("x-fal-error-type"), "runner_server_error")
        assert.deepStrictEqual(result.json, { detail: "boom", error_type: "runner_server_error" })
      })
    ))

  it.live("cancel: 202 CANCELLATION_REQUESTED, 400 ALREADY_COMPLETED, 404 NOT_FOUND", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const busy = (yield* call("POST", `${urls.queue}/fal-ai/slow`, { body: { seconds: 60 } })).json as {
          request_id: string
          cancel_url: string
        }
        yield* platform.awaitStatus(busy.request_id, "IN_PROGRESS")
        const queued = (yield* call("POST", `${urls.queue}/fal-ai/slow`, { body: {} })).json as {
          request_id: string
          cancel_url: string
          response_url: string
        }
        const cancelled = yield* call("PUT", queued.cancel_url)
        assert.strictEqual(cancelled.status, 202)
        assert.deepStrictEqual(cancelled.json, { status: "CANCELLATION_REQUESTED" })
        const again = yield* call("PUT", queued.cancel_url)
        assert.strictEqual(again.status, 400)
        assert.deepStrictEqual(again.json, { status: "ALREADY_COMPLETED" })
        const result = yield* call("GET", queued.response_url)
        assert.strictEqual(result.status, 499)
        assert.strictEqual(result.headers.get("x-fal-error-type"), "client_cancelled")
        const running = yield* call("PUT", busy.cancel_url)
        assert.strictEqual(running.status, 202)
        const record = yield* platform.awaitStatus(busy.request_id)
        assert.strictEqual(record.result?.errorType, "client_cancelled")
        const missing = yield* call("PUT", `${urls.queue}/fal-ai/slow/requests/${crypto.randomUUID()}/cancel`)
        assert.strictEqual(missing.status, 404)
        assert.deepStrictEqual(missing.json, { status: "NOT_FOUND" })
        const otherApp = yield* call("GET", `${urls.queue}/fal-ai/echo/requests/${busy.request_id}/status`)
        assert.strictEqual(otherApp.status, 404)
      })
    ))

  it.live("status stream: one data event per change, closed after COMPLETED", () =>
    withEmulator((urls) =>
      Effect.gen(function*() {
        const submit = (yield* call("POST", `${urls.queue}/fal-ai/slow`, { body: { seconds: 0.2 } })).json as {
          request_id: string
          status_url: string
        }
        const stream = yield* call("GET", `${submit.status_url}/stream?logs=1`)
        assert.strictEqual(stream.status, 200)
        assert.strictEqual(stream.headers.get("content-type"), "text/event-stream")
        const events = stream.text.split("\n\n").filter((e) => e !== "")
        assert.isTrue(events.every((e) => e.startsWith("data: ")))
        const statuses = events.map((e) => (JSON.parse(e.slice(6)) as { status: string }).status)
        assert.strictEqual(statuses[statuses.length - 1], "COMPLETED")
        assert.strictEqual(statuses.filter((s) => s === "COMPLETED").length, 1)
        const last = JSON.parse(events[events.length - 1].slice(6)) as { logs: Array<unknown>; request_id: string }
        assert.strictEqual(last.request_id, submit.request_id)
        assert.isTrue(last.logs.length > 0)
      })
    ))

  it.live("fal_max_queue_length: 429 when more requests than that already wait", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const busy = (yield* call("POST", `${urls.queue}/fal-ai/slow`, { body: { seconds: 60 } })).json as {
          request_id: string
        }
        yield* platform.awaitStatus(busy.request_id, "IN_PROGRESS")
        const waiting = yield* call("POST", `${urls.queue}/fal-ai/slow?fal_max_queue_length=0`, { body: {} })
        assert.strictEqual(waiting.status, 200, "nobody waits yet")
        const full = yield* call("POST", `${urls.queue}/fal-ai/slow?fal_max_queue_length=0`, { body: {} })
        assert.strictEqual(full.status, 429)
        assert.isNull(full.headers.get("x-fal-needs-retry"))
        const fits = yield* call("POST", `${urls.queue}/fal-ai/slow?fal_max_queue_length=1`, { body: {} })
        assert.strictEqual(fits.status, 200)
      })
    ))

  it.live("Store-IO 0: payloads are not stored, output files still are", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const r = yield* call("POST", `${urls.run}/fal-ai/image`, {
          headers: { "X-Fal-Store-IO": "0" },
          body: { prompt: "p" }
        })
        const url = (r.json as { images: Array<{ url: string }> }).images[0].url
        assert.isTrue(url.startsWith(`${urls.cdn}/files/`))
        assert.deepStrictEqual(yield* platform.payloads, [])
        assert.strictEqual((yield* call("GET", url, { key: null })).status, 200)
        const stored = yield* call("POST", `${urls.run}/fal-ai/echo`, { body: { x: 1 } })
        const payloads = yield* platform.payloads
        assert.deepStrictEqual(payloads.map((p) => [p.requestId, p.input, p.output]), [[
          stored.headers.get("x-fal-request-id"),
          { x: 1 },
          "{\"x\":1}"
        ]])
      })
    ))
})

describe("payload deletion", () => {
  const setup = (urls: FalPlatform.Urls, platform: FalPlatform.Service) =>
    Effect.gen(function*() {
      const input = yield* platform.uploadFile(
        { fileName: "input.png", contentType: "image/png", content: "png" },
        { cdnBase: urls.cdn }
      )
      const r = yield* call("POST", `${urls.run}/fal-ai/image`, {
        body: { prompt: "p", num_images: 2, image_url: input }
      })
      const id = r.headers.get("x-fal-request-id") ?? ""
      const outputs = (r.json as { images: Array<{ url: string }> }).images.map((i) => i.url)
      return { id, input, outputs }
    })

  it.live("v1: deletes the payloads and output files, keeps input files", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const { id, input, outputs } = yield* setup(urls, platform)
        const record = yield* platform.job(id)
        assert.deepStrictEqual(Option.map(record, (r) => r.inputFiles).pipe(Option.getOrUndefined), [input])
        const r = yield* call("DELETE", `${urls.api}/models/requests/${id}/payloads`, { key: admin })
        assert.strictEqual(r.status, 200)
        assert.deepStrictEqual(r.json, { cdn_delete_results: outputs.map((link) => ({ link, exception: null })) })
        for (const url of outputs) assert.strictEqual((yield* call("GET", url, { key: null })).status, 404)
        assert.strictEqual((yield* call("GET", input, { key: null })).status, 200)
        assert.isFalse((yield* platform.payloads).some((p) => p.requestId === id))
        const again = yield* call("DELETE", `${urls.api}/models/requests/${id}/payloads`, { key: admin })
        assert.deepStrictEqual(again.json, {
          cdn_delete_results: outputs.map((link) => ({ link, exception: "File not found" }))
        })
      })
    ))

  it.live("v1: 401 without a key, 403 envelope for a non-admin key, 400 for a non-UUID, 404 unknown", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const { id } = yield* setup(urls, platform)
        const url = `${urls.api}/models/requests/${id}/payloads`
        const none = yield* call("DELETE", url, { key: null })
        assert.strictEqual(none.status, 401)
        assert.strictEqual((none.json as { error: { type: string } }).error.type, "authorization_error")
        const user = yield* call("DELETE", url)
        assert.strictEqual(user.status, 403)
        const error = (user.json as { error: Record<string, unknown> }).error
        assert.deepStrictEqual(Object.keys(error).sort(), ["message", "request_id", "type"])
        assert.strictEqual(error.type, "authorization_error")
        assert.strictEqual(error.request_id, user.headers.get("x-fal-request-id"))
        const bad = yield* call("DELETE", `${urls.api}/models/requests/not-a-uuid/payloads`, { key: admin })
        assert.strictEqual(bad.status, 400)
        assert.strictEqual((bad.json as { error: { type: string } }).error.type, "validation_error")
        const unknown = yield* call("DELETE", `${urls.api}/models/requests/${crypto.randomUUID()}/payloads`, {
          key: admin
        })
        assert.strictEqual(unknown.status, 404)
        assert.strictEqual((unknown.json as { error: { type: string } }).error.type, "not_found")
        assert.isTrue((yield* platform.payloads).some((p) => p.requestId === id), "nothing was deleted")
      })
    ))

  it.live("v1: an Idempotency-Key replays the first answer without deleting twice", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const { id, outputs } = yield* setup(urls, platform)
        const url = `${urls.api}/models/requests/${id}/payloads`
        const headers = { "Idempotency-Key": "delete-once" }
        const first = yield* call("DELETE", url, { key: admin, headers })
        const second = yield* call("DELETE", url, { key: admin, headers })
        assert.strictEqual(second.status, 200)
        assert.strictEqual(second.text, first.text)
        assert.deepStrictEqual(second.json, { cdn_delete_results: outputs.map((link) => ({ link, exception: null })) })
        assert.strictEqual(second.headers.get("x-fal-request-id"), first.headers.get("x-fal-request-id"))
        assert.strictEqual(second.headers.get("idempotent-replayed"), "true")
      })
    ))

  it.live("legacy: PUT delete_io answers CDN_DELETE_RESULTS, needs ADMIN", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const { id, input, outputs } = yield* setup(urls, platform)
        const user = yield* call("PUT", `${urls.rest}/requests/delete_io/${id}`)
        assert.strictEqual(user.status, 403)
        const none = yield* call("PUT", `${urls.rest}/requests/delete_io/${id}`, { key: null })
        assert.strictEqual(none.status, 401)
        const r = yield* call("PUT", `${urls.rest}/requests/delete_io/${id}`, { key: admin })
        assert.strictEqual(r.status, 200)
        assert.deepStrictEqual(r.json, { CDN_DELETE_RESULTS: outputs.map((link) => ({ link, exception: null })) })
        assert.strictEqual((yield* call("GET", outputs[0], { key: null })).status, 404)
        assert.strictEqual((yield* call("GET", input, { key: null })).status, 200)
        const unknown = yield* call("PUT", `${urls.rest}/requests/delete_io/${crypto.randomUUID()}`, { key: admin })
        assert.strictEqual(unknown.status, 404)
      })
    ))
})

describe("faults", () => {
  it.live("status, reset and malformed body faults hit the next N matching requests", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        yield* platform.injectFault({
          endpoint: "queue",
          modelId: "fal-ai/echo",
          times: 2,
          fault: Fault.status(503, "runner_scheduling_failure")
        })
        for (let i = 0; i < 2; i++) {
          const r = yield* call("POST", `${urls.queue}/fal-ai/echo`, { body: {} })
          assert.strictEqual(r.status, 503)
          assert.strictEqual(r.headers.get("x-fal-error-type"), "runner_scheduling_failure")
          assert.deepStrictEqual(r.json, {
            detail: "Injected runner_scheduling_failure",
            error_type: "runner_scheduling_failure"
          })
        }
        assert.strictEqual((yield* call("POST", `${urls.queue}/fal-ai/echo`, { body: {} })).status, 200)

        yield* platform.injectFault({ endpoint: "run", fault: Fault.reset })
        const reset = yield* Effect.either(
          Effect.tryPromise(() => fetch(`${urls.run}/fal-ai/echo`, { method: "POST", body: "{}" }))
        )
        assert.isTrue(Either.isLeft(reset), "the connection was destroyed")
        assert.strictEqual((yield* platform.httpLog).filter((r) => r.status === "reset").length, 1)

        yield* platform.injectFault({ endpoint: "run", method: "POST", fault: Fault.malformedBody })
        const malformed = yield* call("POST", `${urls.run}/fal-ai/echo`, { body: {} })
        assert.strictEqual(malformed.status, 200)
        assert.isUndefined(malformed.json)
        assert.strictEqual(malformed.headers.get("content-type"), "application/json")
      })
    ))
})

describe("cdn", () => {
  it.live("serves files without a key, 404 for unknown ones", () =>
    withEmulator((urls, platform) =>
      Effect.gen(function*() {
        const url = yield* platform.uploadFile({ fileName: "a.txt", contentType: "text/plain", content: "hello" }, {
          cdnBase: urls.cdn
        })
        const r = yield* call("GET", url, { key: null })
        assert.strictEqual(r.status, 200)
        assert.strictEqual(r.text, "hello")
        assert.strictEqual(r.headers.get("content-type"), "text/plain")
        assert.strictEqual((yield* call("GET", `${urls.cdn}/files/nope/x`, { key: null })).status, 404)
      })
    ))
})
