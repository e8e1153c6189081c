import { ErrorType, ObjectLifecycle, RequestOptions, ResponseMeta, StartTimeout } from "@effect-fal/headers"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/** A full option set, with the values fal's documentation uses in its examples. */
const documented = RequestOptions.make({
  startTimeout: "30 seconds",
  runnerHint: "runner-a1b2",
  priority: "low",
  objectLifecycle: "1 hour",
  storeIO: false,
  noRetry: true,
  disableFallback: true,
  maxQueueLength: 10,
  webhookUrl: "https://example.com/fal/webhook",
  idempotencyKey: "550e8400-e29b-41d4-a716-446655440000"
})

describe("wire forms", () => {
  it("a full option set encodes byte for byte as fal documents it", () => {
    const wire = Either.getOrThrow(RequestOptions.toWire(documented))
    assert.deepStrictEqual(Object.entries(wire.headers), [
      ["X-Fal-Request-Timeout", "30"],
      ["X-Fal-Runner-Hint", "runner-a1b2"],
      ["X-Fal-Queue-Priority", "low"],
      ["X-Fal-Object-Lifecycle-Preference", "{\"expiration_duration_seconds\": 3600}"],
      ["X-Fal-Store-IO", "0"],
      ["X-Fal-No-Retry", "1"],
      ["x-app-fal-disable-fallback", "true"],
      ["Idempotency-Key", "550e8400-e29b-41d4-a716-446655440000"]
    ])
    assert.deepStrictEqual(Object.entries(wire.query), [
      ["fal_max_queue_length", "10"],
      ["fal_webhook", "https://example.com/fal/webhook"]
    ])
    assert.strictEqual(
      new URLSearchParams(wire.query).toString(),
      "fal_max_queue_length=10&fal_webhook=https%3A%2F%2Fexample.com%2Ffal%2Fwebhook"
    )
  })

  it("empty options put nothing on the wire", () => {
    assert.deepStrictEqual(RequestOptions.toWire(RequestOptions.empty), Either.right({ headers: {}, query: {} }))
  })

  it("start timeouts print exact decimal seconds", () => {
    const print = (input: StartTimeout.Input) =>
      Either.getOrThrow(RequestOptions.toWire(RequestOptions.startTimeout(input))).headers["X-Fal-Request-Timeout"]
    assert.strictEqual(print("0.5 seconds"), "0.5")
    assert.strictEqual(print("101 millis"), "0.101")
    assert.strictEqual(print("2 minutes"), "120")
    assert.strictEqual(print(Duration.nanos(100_000_001n)), "0.100000001")
  })

  it("never-expiring media encodes as null", () => {
    const wire = Either.getOrThrow(RequestOptions.toWire(RequestOptions.objectLifecycle("never")))
    assert.strictEqual(wire.headers["X-Fal-Object-Lifecycle-Preference"], "{\"expiration_duration_seconds\": null}")
  })

  it("false X-Fal-No-Retry and x-app-fal-disable-fallback are omitted (fal documents only the true forms)", () => {
    const wire = Either.getOrThrow(
      RequestOptions.toWire(RequestOptions.make({ storeIO: false, noRetry: false, disableFallback: false }))
    )
    assert.deepStrictEqual(wire.headers, { "X-Fal-Store-IO": "0" })
    const on = Either.getOrThrow(RequestOptions.toWire(RequestOptions.make({ noRetry: true, disableFallback: true })))
    assert.deepStrictEqual(on.headers, { "X-Fal-No-Retry": "1", "x-app-fal-disable-fallback": "true" })
    assert.deepStrictEqual(
      RequestOptions.fromWire({ headers: { "X-Fal-No-Retry": "0", "x-app-fal-disable-fallback": "false" } }),
      Either.right({ noRetry: false, disableFallback: false })
    )
  })

  it("the newer start-timeout header name is available", () => {
    const wire = Either.getOrThrow(
      RequestOptions.toWire(RequestOptions.startTimeout("30 seconds"), {
        startTimeoutHeader: StartTimeout.startTimeoutName
      })
    )
    assert.deepStrictEqual(wire.headers, { "X-Fal-Request-Start-Timeout": "30" })
  })
})

describe("fromWire", () => {
  it("reads header names in any case and ignores unrelated headers", () => {
    const options = RequestOptions.fromWire({
      headers: {
        "x-fal-request-timeout": "30",
        "X-FAL-QUEUE-PRIORITY": "LOW",
        "x-fal-store-io": "0",
        "X-App-Fal-Disable-Fallback": "1",
        "x-fal-no-retry": "Yes",
        authorization: "Key secret",
        "content-type": "application/json"
      },
      query: { fal_max_queue_length: "3", other: "x" }
    })
    assert.deepStrictEqual(
      options,
      Either.right({
        startTimeout: Duration.seconds(30),
        priority: "low" as const,
        storeIO: false,
        noRetry: true,
        disableFallback: true,
        maxQueueLength: 3
      })
    )
  })

  it("X-Fal-Request-Start-Timeout wins over X-Fal-Request-Timeout, in either order", () => {
    const expected = Either.right({ startTimeout: Duration.millis(2500) })
    assert.deepStrictEqual(
      RequestOptions.fromWire({ headers: { "X-Fal-Request-Timeout": "30", "X-Fal-Request-Start-Timeout": "2.5" } }),
      expected
    )
    assert.deepStrictEqual(
      RequestOptions.fromWire({ headers: { "x-fal-request-start-timeout": "2.5", "x-fal-request-timeout": "0" } }),
      expected
    )
  })

  it("accepts every documented flag spelling", () => {
    for (const spelling of ["1", "true", "yes", "TRUE", "Yes"]) {
      assert.deepStrictEqual(
        RequestOptions.fromWire({ headers: { "X-Fal-No-Retry": spelling, "x-app-fal-disable-fallback": spelling } }),
        Either.right({ noRetry: true, disableFallback: true })
      )
    }
  })

  it("reads null and the documented object as never-expiring", () => {
    for (const value of ["{\"expiration_duration_seconds\": null}", "null", "{\"expiration_duration_seconds\":null}"]) {
      assert.deepStrictEqual(
        RequestOptions.fromWire({ headers: { "X-Fal-Object-Lifecycle-Preference": value } }),
        Either.right({ objectLifecycle: "never" as const })
      )
    }
  })
})

describe("object lifecycle with an initial ACL (SPEC section 7)", () => {
  const header = (lifecycle: ObjectLifecycle.Input) =>
    Either.getOrThrow(RequestOptions.toWire(RequestOptions.objectLifecycle(lifecycle))).headers[ObjectLifecycle.name]

  it("encodes the ACL alone, beside an expiration, and an expiration alone in its old spelling", () => {
    assert.strictEqual(header({ initialAcl: { default: "hide" } }), "{\"initial_acl\": {\"default\": \"hide\"}}")
    assert.strictEqual(
      header({
        expiration: "2 days",
        initialAcl: {
          default: "forbid",
          rules: [{ user: "ada", decision: "allow" }, { user: "bob", decision: "hide" }]
        }
      }),
      "{\"expiration_duration_seconds\": 172800, \"initial_acl\": {\"default\": \"forbid\", \"rules\": [{\"user\": \"ada\", \"decision\": \"allow\"}, {\"user\": \"bob\", \"decision\": \"hide\"}]}}"
    )
    assert.strictEqual(header({ expiration: "1 hour" }), "{\"expiration_duration_seconds\": 3600}")
    assert.strictEqual(
      header({ expiration: "never", initialAcl: {} }),
      "{\"expiration_duration_seconds\": null, \"initial_acl\": {}}"
    )
  })

  it("an empty lifecycle sends no header", () => {
    assert.deepStrictEqual(
      RequestOptions.toWire(RequestOptions.objectLifecycle({})),
      Either.right({ headers: {}, query: {} })
    )
  })

  it("a non-ASCII user travels as JSON escapes and reads back", () => {
    const wire = header({ initialAcl: { rules: [{ user: "zoë", decision: "allow" }] } })
    assert.strictEqual(wire, "{\"initial_acl\": {\"rules\": [{\"user\": \"zo\\u00eb\", \"decision\": \"allow\"}]}}")
    assert.deepStrictEqual(
      ObjectLifecycle.decode(wire),
      Either.right({ initialAcl: { rules: [{ user: "zoë", decision: "allow" as const }] } })
    )
  })

  it("reads what fal's official client sends: compact JSON, the ACL on its own", () => {
    assert.deepStrictEqual(
      RequestOptions.fromWire({
        headers: {
          [ObjectLifecycle.name]:
            "{\"initial_acl\":{\"default\":\"hide\",\"rules\":[{\"user\":\"u1\",\"decision\":\"allow\"}]}}"
        }
      }),
      Either.right({
        objectLifecycle: {
          initialAcl: { default: "hide" as const, rules: [{ user: "u1", decision: "allow" as const }] }
        }
      })
    )
    const both = Either.getOrThrow(
      ObjectLifecycle.decode("{\"expiration_duration_seconds\":60,\"initial_acl\":{}}")
    )
    assert.isTrue(ObjectLifecycle.isWithAcl(both))
    assert.deepStrictEqual(
      ObjectLifecycle.encode(both),
      Either.right("{\"expiration_duration_seconds\": 60, \"initial_acl\": {}}")
    )
    assert.deepStrictEqual(ObjectLifecycle.initialAcl(both), {})
  })

  it("an expiration written as parts equals the plain form", () => {
    assert.isTrue(
      RequestOptions.Equivalence(
        RequestOptions.objectLifecycle({ expiration: "1 hour" }),
        RequestOptions.objectLifecycle(Duration.hours(1))
      )
    )
    assert.isFalse(
      RequestOptions.Equivalence(
        RequestOptions.objectLifecycle({ expiration: "1 hour", initialAcl: { default: "hide" } }),
        RequestOptions.objectLifecycle(Duration.hours(1))
      )
    )
  })

  it("printCompact is the upload header's spelling", () => {
    assert.strictEqual(
      ObjectLifecycle.printCompact({ expiration: Duration.seconds(5), initialAcl: { default: "allow" } }),
      "{\"expiration_duration_seconds\":5,\"initial_acl\":{\"default\":\"allow\"}}"
    )
  })
})

describe("ResponseMeta.fromHeaders", () => {
  it("decodes real-looking response headers", () => {
    const meta = ResponseMeta.fromHeaders({
      "x-fal-request-id": "764cabcf-b745-4b3e-ae38-1200304cf45b",
      "x-fal-billable-units": "0.50000000",
      "x-fal-served-from": "runner-7f3a",
      "x-fal-runner-hints": "a,b",
      "content-type": "application/json"
    })
    assert.deepStrictEqual(meta, {
      requestId: "764cabcf-b745-4b3e-ae38-1200304cf45b",
      billableUnits: 0.5,
      servedFrom: "runner-7f3a",
      runnerHints: ["a", "b"]
    })
    assert.deepStrictEqual(ResponseMeta.runnerHint(meta), Option.some("a"))
  })

  it("billable units that are not a finite number are absent, and the result still matches the schema", () => {
    const meta = ResponseMeta.fromHeaders({ "X-Fal-Billable-Units": "9".repeat(400), "x-fal-request-id": "r" })
    assert.deepStrictEqual(meta, { requestId: "r" })
    assert.isTrue(Schema.is(ResponseMeta.schema)(meta))
  })

  it("billable units \"0\", \"1\" and \"0.50000000\"", () => {
    assert.strictEqual(ResponseMeta.fromHeaders({ "X-Fal-Billable-Units": "0" }).billableUnits, 0)
    assert.strictEqual(ResponseMeta.fromHeaders({ "X-Fal-Billable-Units": "1" }).billableUnits, 1)
    assert.strictEqual(ResponseMeta.fromHeaders({ "X-Fal-Billable-Units": "0.50000000" }).billableUnits, 0.5)
  })

  it("a user start timeout 504", () => {
    assert.deepStrictEqual(
      ResponseMeta.fromHeaders({ "X-Fal-Request-Timeout-Type": "user", "X-Fal-Billable-Units": "0" }),
      { billableUnits: 0, timeoutType: "user" }
    )
  })

  it("keeps an unknown error type as its string", () => {
    const meta = ResponseMeta.fromHeaders({ "X-Fal-Error-Type": "gpu_on_fire" })
    assert.strictEqual(meta.errorType, "gpu_on_fire")
    assert.isFalse(ErrorType.isKnown("gpu_on_fire"))
    assert.isFalse(ErrorType.isTransient("gpu_on_fire"))
  })

  it("reads flags", () => {
    assert.deepStrictEqual(
      ResponseMeta.fromHeaders({ "X-Fal-Needs-Retry": "1", "X-Fal-Retryable": "false" }),
      { needsRetry: true, retryable: false }
    )
  })

  it("treats malformed values as absent", () => {
    const meta = ResponseMeta.fromHeaders({
      "x-fal-request-id": "   ",
      "X-Fal-Billable-Units": "lots",
      "X-Fal-Served-From": "runner one",
      "X-Fal-Request-Timeout-Type": "system",
      "x-fal-runner-hints": " , ,",
      "X-Fal-Needs-Retry": "perhaps",
      "X-Fal-Retryable": "-1"
    })
    assert.deepStrictEqual(meta, {})
    assert.deepStrictEqual(ResponseMeta.fromHeaders({ "X-Fal-Billable-Units": "-1" }), {})
    assert.deepStrictEqual(ResponseMeta.fromHeaders({ "X-Fal-Billable-Units": "1e3" }), {})
  })

  it("reads mixed-case and repeated names", () => {
    assert.deepStrictEqual(
      ResponseMeta.fromHeaders({
        "X-FAL-REQUEST-ID": "abc",
        "X-Fal-Runner-Hints": ["r1", "r2"],
        "x-FAL-error-TYPE": "runner_disconnected"
      }),
      { requestId: "abc", errorType: "runner_disconnected", runnerHints: ["r1", "r2"] }
    )
  })

  it("writes the spellings fal uses", () => {
    assert.deepStrictEqual(
      ResponseMeta.toHeaders({
        requestId: "abc",
        billableUnits: 1e-7,
        timeoutType: "user",
        needsRetry: true,
        retryable: false
      }),
      {
        "x-fal-request-id": "abc",
        "X-Fal-Billable-Units": "0.0000001",
        "X-Fal-Request-Timeout-Type": "user",
        "X-Fal-Needs-Retry": "1",
        "X-Fal-Retryable": "false"
      }
    )
  })
})

describe("RequestOptions.Equivalence", () => {
  it("compares durations by length and every other field by value", () => {
    const eq = RequestOptions.Equivalence
    assert.isTrue(eq(RequestOptions.startTimeout("30 seconds"), RequestOptions.startTimeout(Duration.seconds(30))))
    assert.isTrue(eq(RequestOptions.objectLifecycle("1 hour"), RequestOptions.objectLifecycle("3600000 millis")))
    assert.isFalse(eq(RequestOptions.startTimeout("30 seconds"), RequestOptions.startTimeout("31 seconds")))
    assert.isFalse(eq(RequestOptions.objectLifecycle("never"), RequestOptions.objectLifecycle("1 hour")))
    assert.isFalse(eq(RequestOptions.startTimeout("30 seconds"), RequestOptions.empty))
    assert.isFalse(eq(RequestOptions.priority("low"), RequestOptions.priority("normal")))
    assert.isFalse(eq(RequestOptions.storeIO(false), RequestOptions.empty))
    assert.isTrue(eq(documented, RequestOptions.make({ ...documented, startTimeout: Duration.seconds(30) })))
  })
})

describe("ErrorType", () => {
  it("knows the 13 documented types and which are transient", () => {
    assert.strictEqual(ErrorType.all.length, 13)
    assert.deepStrictEqual(ErrorType.all.filter(ErrorType.isTransient), [
      "request_timeout",
      "startup_timeout",
      "runner_scheduling_failure",
      "runner_connection_timeout",
      "runner_disconnected",
      "runner_connection_refused",
      "runner_connection_error",
      "runner_incomplete_response"
    ])
    assert.strictEqual(ErrorType.usualStatus("runner_incomplete_response"), 502)
    assert.strictEqual(ErrorType.usualStatus("client_cancelled"), 499)
    assert.isUndefined(ErrorType.usualStatus("unheard_of"))
  })
})
