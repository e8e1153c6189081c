import * as RequestHistory from "@effect-fal/testing/RequestHistory"
import * as HttpApp from "@effect/platform/HttpApp"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"

const now = Date.UTC(2026, 10, 2)
const record = (i: number, statusCode = 200): RequestHistory.HistoryRecord => ({
  requestId: `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
  endpointId: "fal-ai/flux/dev",
  startedAt: now - 3_600_000 + i * 1000 - 2000,
  sentAt: now - 3_600_000 + i * 1000 - 3000,
  endedAt: now - 3_600_000 + i * 1000,
  statusCode
})

const query = (params: Record<string, string>) =>
  Either.getOrThrow(RequestHistory.parseQuery({ endpoint_id: "fal-ai/flux/dev", ...params }, now))

describe("RequestHistory", () => {
  it("pages follow an opaque cursor until has_more is false, each record once", () => {
    const records = Array.from({ length: 250 }, (_, i) => record(i))
    const seen: Array<string> = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: RequestHistory.WirePage = RequestHistory.answer(
        records,
        query({ limit: "100", ...(cursor === null ? {} : { cursor }) })
      )
      seen.push(...page.items.map((item) => item.request_id))
      assert.strictEqual(page.has_more, page.next_cursor !== null)
      cursor = page.next_cursor
      pages++
    } while (cursor !== null)
    assert.strictEqual(pages, 3)
    assert.strictEqual(new Set(seen).size, 250)
  })

  it("the range is [start, end): ended_at == end is left out; status classes; defaults", () => {
    const records = [record(0), record(1, 422), record(2, 503), record(3)]
    const end = new Date(records[3].endedAt!).toISOString()
    const start = new Date(records[1].endedAt!).toISOString()
    assert.deepStrictEqual(
      RequestHistory.answer(records, query({ start, end })).items.map((i) => i.request_id),
      [records[2].requestId, records[1].requestId]
    )
    assert.deepStrictEqual(
      RequestHistory.answer(records, query({ status: "user_error" })).items.map((i) => i.status_code),
      [422]
    )
    const defaults = query({})
    assert.strictEqual(defaults.end - defaults.start, 24 * 3_600_000)
    assert.strictEqual(defaults.limit, 50)
    assert.isUndefined(RequestHistory.answer(records, query({})).items[0].json_input)
    assert.isDefined(RequestHistory.answer(records, query({ expand: "payloads" })).items[0].json_input)
  })

  it("bad parameters are Platform API validation errors", () => {
    const bad = (params: Record<string, string>) => {
      const result = RequestHistory.parseQuery(params, now)
      assert.isTrue(Either.isLeft(result), JSON.stringify(params))
      return Either.isLeft(result) ? result.left : undefined
    }
    assert.match(bad({})!.message, /endpoint_id/)
    const e = { endpoint_id: "fal-ai/flux/dev" }
    assert.match(bad({ ...e, start: "2026-11-02", end: "2026-11-01" })!.message, /end: before start/)
    assert.match(bad({ ...e, status: "ok" })!.message, /status/)
    assert.match(bad({ ...e, request_id: "x" })!.message, /request_id/)
    assert.match(bad({ ...e, limit: "0" })!.message, /limit/)
    assert.match(bad({ ...e, limit: "101" })!.message, /limit/)
    assert.match(bad({ ...e, sort_by: "size" })!.message, /sort_by/)
    assert.match(bad({ ...e, cursor: "zzz" })!.message, /cursor/)
    assert.strictEqual(bad({ ...e, limit: "0" })!.type, "validation_error")
  })

  it.effect("the route answers the envelope, and 429 with Retry-After when throttled", () =>
    Effect.gen(function*() {
      let throttle = true
      const app = RequestHistory.router.pipe(
        Effect.provideService(RequestHistory.RequestHistory, {
          records: () => Effect.succeed([record(0)]),
          throttle: Effect.sync(() => (throttle ? Option.some(2) : Option.none())),
          now: Effect.succeed(now)
        }),
        Effect.catchAll(() => Effect.die("no route"))
      )
      const handler = HttpApp.toWebHandler(app)
      const url = "http://x/models/requests/by-endpoint?endpoint_id=fal-ai/flux/dev"
      const limited = yield* Effect.promise(() => handler(new Request(url)))
      assert.strictEqual(limited.status, 429)
      assert.strictEqual(limited.headers.get("retry-after"), "2")
      throttle = false
      const bad = yield* Effect.promise(() => handler(new Request(`${url}&limit=500`)))
      assert.strictEqual(bad.status, 400)
      assert.strictEqual((yield* Effect.promise(() => bad.json())).error.type, "validation_error")
      const ok = yield* Effect.promise(() => handler(new Request(url)))
      assert.strictEqual((yield* Effect.promise(() => ok.json())).items.length, 1)
    }))
})
