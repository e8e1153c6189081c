import type { InvalidRequestOptions } from "@effect-fal/headers"
import { RequestOptions, StartTimeout } from "@effect-fal/headers"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"

const rejectsOptions = (options: RequestOptions.RequestOptions): InvalidRequestOptions.InvalidRequestOptions =>
  Either.getOrThrowWith(Either.flip(RequestOptions.toWire(options)), () => new Error("expected a rejection"))

const rejectsWire = (wire: RequestOptions.WireInput): InvalidRequestOptions.InvalidRequestOptions =>
  Either.getOrThrowWith(Either.flip(RequestOptions.fromWire(wire)), () => new Error("expected a rejection"))

const timeout = "must be a finite number of seconds greater than 0.1"
const visible = "must contain only visible ASCII characters (no spaces, CR, LF or other control characters)"
const k64 = "k".repeat(64)
const lifecycle = "must be a whole number of seconds (0 or more), or \"never\""
const lifecycleJson =
  "must be JSON {\"expiration_duration_seconds\"?: n | null, \"initial_acl\"?: {\"default\"?, \"rules\"?}} with a whole number of seconds n >= 0 and at least one of the two"
const bare = (n: number) =>
  `must not be a bare number (fal's SDKs read seconds, Effect's Duration milliseconds): write "${n} seconds" or Duration.seconds(${n})`
/** A duration from a caller without static types: the type of the options excludes bare numbers. */
const untyped = (value: number): StartTimeout.Input => value as unknown as StartTimeout.Input
const longAcl = `{ initialAcl: ${
  JSON.stringify({
    rules: Array.from({ length: 40 }, (_, i) => ({ user: `${"u".repeat(100)}${i}`, decision: "allow" }))
  })
} }`

describe("bare numbers are not durations", () => {
  it("the option types exclude them, and an untyped caller's bare number is rejected at the wire", () => {
    const untyped = [
      // @ts-expect-error a bare number is ambiguous (seconds for fal's SDKs, milliseconds for Effect)
      RequestOptions.startTimeout(30),
      // @ts-expect-error same for the object lifecycle
      RequestOptions.objectLifecycle(3600),
      // @ts-expect-error and in make
      RequestOptions.make({ startTimeout: 30 }),
      // @ts-expect-error and beside an ACL
      RequestOptions.objectLifecycle({ expiration: 60, initialAcl: {} })
    ]
    for (const options of untyped) {
      const wire = RequestOptions.toWire(options)
      assert.isTrue(Either.isLeft(wire) && wire.left.message.includes("bare number"))
    }
  })
})

describe("toWire rejects invalid options, naming the header and the value", () => {
  const cases: ReadonlyArray<readonly [string, RequestOptions.RequestOptions, string]> = [
    [
      "start timeout 0.1 s",
      RequestOptions.startTimeout(Duration.seconds(0.1)),
      "X-Fal-Request-Timeout: must be greater than 0.1 seconds (got 0.1 seconds)"
    ],
    [
      "start timeout 0",
      RequestOptions.startTimeout("0 seconds"),
      "X-Fal-Request-Timeout: must be greater than 0.1 seconds (got 0 seconds)"
    ],
    [
      "start timeout -1 s",
      RequestOptions.startTimeout("-1 seconds"),
      `X-Fal-Request-Timeout: ${timeout} (got "-1 seconds")`
    ],
    [
      "start timeout -1 ms",
      RequestOptions.startTimeout("-1 millis"),
      `X-Fal-Request-Timeout: ${timeout} (got "-1 millis")`
    ],
    [
      "start timeout as a bare number 30 (a caller without types)",
      RequestOptions.make({ startTimeout: untyped(30) }),
      `X-Fal-Request-Timeout: ${bare(30)} (got 30)`
    ],
    [
      "start timeout as a bare number 0",
      RequestOptions.make({ startTimeout: untyped(0) }),
      `X-Fal-Request-Timeout: ${bare(30)} (got 0)`
    ],
    [
      "start timeout NaN",
      RequestOptions.make({ startTimeout: untyped(Number.NaN) }),
      `X-Fal-Request-Timeout: ${bare(30)} (got NaN)`
    ],
    [
      "start timeout Infinity",
      RequestOptions.startTimeout(Duration.infinity),
      `X-Fal-Request-Timeout: ${timeout} (got Infinity)`
    ],
    [
      "priority high",
      RequestOptions.priority("high" as never),
      "X-Fal-Queue-Priority: must be \"normal\" or \"low\" (got \"high\")"
    ],
    [
      "priority empty",
      RequestOptions.priority("" as never),
      "X-Fal-Queue-Priority: must be \"normal\" or \"low\" (got \"\")"
    ],
    ["runner hint empty", RequestOptions.runnerHint(""), "X-Fal-Runner-Hint: must not be empty (got \"\")"],
    [
      "runner hint with CR/LF (header injection)",
      RequestOptions.runnerHint("a\r\nX-Injected: 1"),
      `X-Fal-Runner-Hint: ${visible} (got "a\\r\\nX-Injected: 1")`
    ],
    ["runner hint non-ASCII", RequestOptions.runnerHint("rünner"), `X-Fal-Runner-Hint: ${visible} (got "rünner")`],
    [
      "runner hint surrounded by spaces",
      RequestOptions.runnerHint(" r1 "),
      `X-Fal-Runner-Hint: ${visible} (got " r1 ")`
    ],
    ["runner hint with an inner space", RequestOptions.runnerHint("r 1"), `X-Fal-Runner-Hint: ${visible} (got "r 1")`],
    [
      "runner hint of 1,025 characters",
      RequestOptions.runnerHint("k".repeat(1025)),
      `X-Fal-Runner-Hint: must be at most 1024 characters long (got "${k64}…")`
    ],
    [
      "webhook URL of 2,049 characters",
      RequestOptions.webhookUrl(`https://example.com/${"k".repeat(2029)}`),
      `fal_webhook: must be at most 2048 characters long (got "https://example.com/${"k".repeat(44)}…")`
    ],
    [
      "lifecycle -1 s",
      RequestOptions.objectLifecycle("-1 seconds"),
      `X-Fal-Object-Lifecycle-Preference: ${lifecycle} (got "-1 seconds")`
    ],
    [
      "lifecycle 1.5 s",
      RequestOptions.objectLifecycle(Duration.seconds(1.5)),
      `X-Fal-Object-Lifecycle-Preference: ${lifecycle} (got 1s 500ms)`
    ],
    [
      "lifecycle Infinity",
      RequestOptions.objectLifecycle(Duration.infinity),
      `X-Fal-Object-Lifecycle-Preference: ${lifecycle} (got Infinity)`
    ],
    [
      "lifecycle as a bare number 3600 (a caller without types)",
      RequestOptions.make({ objectLifecycle: untyped(3600) }),
      `X-Fal-Object-Lifecycle-Preference: ${bare(3600)} (got 3600)`
    ],
    [
      "lifecycle expiration as a bare number beside an ACL",
      RequestOptions.objectLifecycle({ expiration: untyped(60), initialAcl: { default: "hide" } }),
      `X-Fal-Object-Lifecycle-Preference: ${bare(60)} (got 60)`
    ],
    [
      "lifecycle -1 s beside an ACL",
      RequestOptions.objectLifecycle({ expiration: "-1 seconds", initialAcl: {} }),
      `X-Fal-Object-Lifecycle-Preference: ${lifecycle} (got "-1 seconds")`
    ],
    [
      "lifecycle ACL default outside hide, forbid, allow",
      RequestOptions.objectLifecycle({ initialAcl: { default: "deny" as never } }),
      `X-Fal-Object-Lifecycle-Preference: must use the decisions hide, forbid or allow (got { initialAcl: {"default":"deny"} })`
    ],
    [
      "lifecycle ACL rule with an empty user",
      RequestOptions.objectLifecycle({ initialAcl: { rules: [{ user: "", decision: "allow" }] } }),
      `X-Fal-Object-Lifecycle-Preference: must give every ACL rule a non-empty user (got { initialAcl: {"rules":[{"user":"","decision":"allow"}]} })`
    ],
    [
      "lifecycle ACL rule with a user of 257 characters",
      RequestOptions.objectLifecycle({
        expiration: "1 hour",
        initialAcl: { rules: [{ user: "u".repeat(257), decision: "hide" }] }
      }),
      `X-Fal-Object-Lifecycle-Preference: must give ACL users of at most 256 characters (got { expiration: 1h, initialAcl: {"rules":[{"user":"${
        "u".repeat(257)
      }","decision":"hide"}]} })`
    ],
    [
      "lifecycle ACL rule with a decision outside hide, forbid, allow",
      RequestOptions.objectLifecycle({ initialAcl: { rules: [{ user: "ada", decision: "maybe" as never }] } }),
      `X-Fal-Object-Lifecycle-Preference: must use the decisions hide, forbid or allow (got { initialAcl: {"rules":[{"user":"ada","decision":"maybe"}]} })`
    ],
    [
      "lifecycle ACL longer than the header bound",
      RequestOptions.objectLifecycle({
        initialAcl: {
          rules: Array.from({ length: 40 }, (_, i) => ({ user: `${"u".repeat(100)}${i}`, decision: "allow" as const }))
        }
      }),
      `X-Fal-Object-Lifecycle-Preference: must be at most 4096 characters long (got ${longAcl})`
    ],
    [
      "max queue length -1",
      RequestOptions.maxQueueLength(-1),
      "fal_max_queue_length: must be a non-negative integer (got -1)"
    ],
    [
      "max queue length 1.5",
      RequestOptions.maxQueueLength(1.5),
      "fal_max_queue_length: must be a non-negative integer (got 1.5)"
    ],
    [
      "max queue length NaN",
      RequestOptions.maxQueueLength(Number.NaN),
      "fal_max_queue_length: must be a non-negative integer (got NaN)"
    ],
    [
      "webhook ftp://x",
      RequestOptions.webhookUrl("ftp://x"),
      "fal_webhook: must be an absolute http(s) URL (got \"ftp://x\")"
    ],
    [
      "webhook /relative",
      RequestOptions.webhookUrl("/relative"),
      "fal_webhook: must be an absolute http(s) URL (got \"/relative\")"
    ],
    [
      "webhook not a url",
      RequestOptions.webhookUrl("not a url"),
      "fal_webhook: must be a URL without spaces or control characters (got \"not a url\")"
    ],
    ["idempotency key empty", RequestOptions.idempotencyKey(""), "Idempotency-Key: must not be empty (got \"\")"],
    [
      "idempotency key of 256 characters",
      RequestOptions.idempotencyKey("k".repeat(256)),
      `Idempotency-Key: must be at most 255 characters long (got "${k64}…")`
    ],
    [
      "idempotency key with CR/LF",
      RequestOptions.idempotencyKey("key\r\nX-Injected: 1"),
      `Idempotency-Key: ${visible} (got "key\\r\\nX-Injected: 1")`
    ],
    [
      "idempotency key with an inner space",
      RequestOptions.idempotencyKey("a b"),
      `Idempotency-Key: ${visible} (got "a b")`
    ]
  ]

  for (const [label, options, message] of cases) {
    it(label, () => {
      const error = rejectsOptions(options)
      assert.strictEqual(error._tag, "InvalidRequestOptions")
      assert.strictEqual(error.issues.length, 1)
      assert.strictEqual(error.issues[0].message, message)
      assert.strictEqual(error.message, `Invalid request options: ${message}`)
    })
  }

  it("reports every invalid field at once and encodes nothing", () => {
    const error = rejectsOptions(
      RequestOptions.make({
        startTimeout: "0 seconds",
        priority: "urgent" as never,
        maxQueueLength: -1,
        storeIO: false
      })
    )
    assert.deepStrictEqual(error.issues.map((issue) => issue.name), [
      "X-Fal-Request-Timeout",
      "X-Fal-Queue-Priority",
      "fal_max_queue_length"
    ])
    assert.deepStrictEqual(error.issues.map((issue) => issue.location), ["header", "header", "query"])
  })

  it("a valid neighbour does not hide an invalid value after combine", () => {
    const options = RequestOptions.combineAll([
      RequestOptions.storeIO(false),
      RequestOptions.runnerHint("a\nb"),
      RequestOptions.priority("low")
    ])
    assert.deepStrictEqual(rejectsOptions(options).issues.map((issue) => issue.name), ["X-Fal-Runner-Hint"])
  })

  it("a later valid value repairs an earlier invalid one (right bias)", () => {
    const options = RequestOptions.combine(
      RequestOptions.startTimeout("0 seconds"),
      RequestOptions.startTimeout("2 seconds")
    )
    assert.deepStrictEqual(
      RequestOptions.toWire(options),
      Either.right({ headers: { "X-Fal-Request-Timeout": "2" }, query: {} })
    )
  })
})

describe("fromWire rejects malformed wire values", () => {
  const cases: ReadonlyArray<readonly [string, RequestOptions.WireInput, string]> = [
    [
      "start timeout \"0.1\"",
      { headers: { "X-Fal-Request-Timeout": "0.1" } },
      "X-Fal-Request-Timeout: must be greater than 0.1 seconds (got \"0.1\")"
    ],
    [
      "start timeout \"0\"",
      { headers: { "X-Fal-Request-Timeout": "0" } },
      "X-Fal-Request-Timeout: must be greater than 0.1 seconds (got \"0\")"
    ],
    [
      "start timeout \"-1\"",
      { headers: { "X-Fal-Request-Timeout": "-1" } },
      "X-Fal-Request-Timeout: must be a decimal number of seconds, such as \"30\" or \"0.5\" (got \"-1\")"
    ],
    [
      "start timeout \"NaN\"",
      { headers: { "X-Fal-Request-Timeout": "NaN" } },
      "X-Fal-Request-Timeout: must be a decimal number of seconds, such as \"30\" or \"0.5\" (got \"NaN\")"
    ],
    [
      "start timeout \"Infinity\"",
      { headers: { "X-Fal-Request-Timeout": "Infinity" } },
      "X-Fal-Request-Timeout: must be a decimal number of seconds, such as \"30\" or \"0.5\" (got \"Infinity\")"
    ],
    [
      "newer start timeout name, named as sent",
      { headers: { "X-Fal-Request-Start-Timeout": "0" } },
      "X-Fal-Request-Start-Timeout: must be greater than 0.1 seconds (got \"0\")"
    ],
    [
      "priority \"high\"",
      { headers: { "X-Fal-Queue-Priority": "high" } },
      "X-Fal-Queue-Priority: must be \"normal\" or \"low\" (got \"high\")"
    ],
    [
      "priority \"\"",
      { headers: { "X-Fal-Queue-Priority": "" } },
      "X-Fal-Queue-Priority: must be \"normal\" or \"low\" (got \"\")"
    ],
    ["runner hint \"\"", { headers: { "X-Fal-Runner-Hint": "" } }, "X-Fal-Runner-Hint: must not be empty (got \"\")"],
    [
      "runner hint non-ASCII",
      { headers: { "X-Fal-Runner-Hint": "rünner" } },
      `X-Fal-Runner-Hint: ${visible} (got "rünner")`
    ],
    [
      "lifecycle -1",
      { headers: { "X-Fal-Object-Lifecycle-Preference": "{\"expiration_duration_seconds\": -1}" } },
      `X-Fal-Object-Lifecycle-Preference: ${lifecycleJson} (got "{\\"expiration_duration_seconds\\": -1}")`
    ],
    [
      "lifecycle 1.5",
      { headers: { "X-Fal-Object-Lifecycle-Preference": "{\"expiration_duration_seconds\": 1.5}" } },
      `X-Fal-Object-Lifecycle-Preference: ${lifecycleJson} (got "{\\"expiration_duration_seconds\\": 1.5}")`
    ],
    [
      "lifecycle not JSON",
      { headers: { "X-Fal-Object-Lifecycle-Preference": "3600" } },
      `X-Fal-Object-Lifecycle-Preference: ${lifecycleJson} (got "3600")`
    ],
    [
      "lifecycle with neither part",
      { headers: { "X-Fal-Object-Lifecycle-Preference": "{}" } },
      `X-Fal-Object-Lifecycle-Preference: ${lifecycleJson} (got "{}")`
    ],
    [
      "lifecycle ACL not an object",
      { headers: { "X-Fal-Object-Lifecycle-Preference": "{\"initial_acl\": 1}" } },
      `X-Fal-Object-Lifecycle-Preference: ${lifecycleJson} (got "{\\"initial_acl\\": 1}")`
    ],
    [
      "lifecycle ACL default \"deny\"",
      { headers: { "X-Fal-Object-Lifecycle-Preference": "{\"initial_acl\": {\"default\": \"deny\"}}" } },
      "X-Fal-Object-Lifecycle-Preference: must use the decisions hide, forbid or allow (got \"{\\\"initial_acl\\\": {\\\"default\\\": \\\"deny\\\"}}\")"
    ],
    [
      "lifecycle ACL rule without a user",
      {
        headers: {
          "X-Fal-Object-Lifecycle-Preference":
            "{\"initial_acl\": {\"rules\": [{\"user\": \"\", \"decision\": \"hide\"}]}}"
        }
      },
      "X-Fal-Object-Lifecycle-Preference: must give every ACL rule a non-empty user (got \"{\\\"initial_acl\\\": {\\\"rules\\\": [{\\\"user\\\": \\\"\\\", \\\"decision\\\": \\\"hide\\\"}]}}\")"
    ],
    [
      "store IO \"maybe\"",
      { headers: { "X-Fal-Store-IO": "maybe" } },
      "X-Fal-Store-IO: must be one of 1, true, yes, 0, false, no (got \"maybe\")"
    ],
    [
      "max queue length \"-1\"",
      { headers: {}, query: { fal_max_queue_length: "-1" } },
      "fal_max_queue_length: must be a non-negative integer (got \"-1\")"
    ],
    [
      "max queue length \"1.5\"",
      { headers: {}, query: { fal_max_queue_length: "1.5" } },
      "fal_max_queue_length: must be a non-negative integer (got \"1.5\")"
    ],
    [
      "max queue length \"abc\"",
      { headers: {}, query: { fal_max_queue_length: "abc" } },
      "fal_max_queue_length: must be a non-negative integer (got \"abc\")"
    ],
    [
      "webhook \"ftp://x\"",
      { headers: {}, query: { fal_webhook: "ftp://x" } },
      "fal_webhook: must be an absolute http(s) URL (got \"ftp://x\")"
    ],
    [
      "webhook \"/relative\"",
      { headers: {}, query: { fal_webhook: "/relative" } },
      "fal_webhook: must be an absolute http(s) URL (got \"/relative\")"
    ],
    [
      "webhook \"not a url\"",
      { headers: {}, query: { fal_webhook: "not a url" } },
      "fal_webhook: must be a URL without spaces or control characters (got \"not a url\")"
    ],
    [
      "idempotency key of 256 characters",
      { headers: { "Idempotency-Key": "k".repeat(256) } },
      `Idempotency-Key: must be at most 255 characters long (got "${"k".repeat(256)}")`
    ],
    [
      "a 20 KB priority",
      { headers: { "X-Fal-Queue-Priority": "x".repeat(20_000) } },
      `X-Fal-Queue-Priority: must be at most 256 characters long (got "${"x".repeat(20_000)}")`
    ]
  ]

  for (const [label, wire, message] of cases) {
    it(label, () => {
      const error = rejectsWire(wire)
      assert.strictEqual(error.issues.length, 1)
      assert.strictEqual(error.issues[0].message, message)
    })
  }

  it("the codec's own decode names the header too", () => {
    const error = Either.getOrThrowWith(
      Either.flip(StartTimeout.decode("0.05")),
      () => new Error("expected a rejection")
    )
    assert.strictEqual(
      error.message,
      "Invalid request options: X-Fal-Request-Timeout: must be greater than 0.1 seconds (got \"0.05\")"
    )
  })
})
