/**
 * The soak (issue 12): many logical operations at once against the loopback emulator with a
 * share of mixed faults, then a checker over what the calls returned and what the emulator
 * recorded (its HTTP log, each entry with the fault that hit it, and its job records).
 *
 * Used by `pnpm soak` (scripts/soak.ts, 20,000 operations) and by Soak.test.ts (a few hundred),
 * so the checker itself is tested.
 *
 * With `lostAnswers` (issue 23) the soak also injects `500`, `502` and `504` and answers cut short
 * on the reads (status, result), status streams closed early, deletions applied and their answers
 * cut short, uploads (a share of the operations) whose initiate or PUT is applied and its answer
 * lost; and it checks that no subscribe fails although its job completed and the client knew its
 * request id (the "lost completed result" count must be zero).
 */
import type { FalClient } from "@effect-fal/api"
import { Fal, FalError, Payloads, Queue, Storage } from "@effect-fal/api"
import { FalPlatform, Fault } from "@effect-fal/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"

export type Kind = "run" | "subscribeStream" | "subscribePoll" | "delete" | "deleteLegacy" | "upload"

export const kinds: ReadonlyArray<Kind> = [
  "run",
  "subscribeStream",
  "subscribePoll",
  "delete",
  "deleteLegacy",
  "upload"
]

export interface Options {
  readonly ops: number
  readonly concurrency: number
  /** The share of HTTP requests hit by a fault. Default 0.1. */
  readonly faultRate?: number | undefined
  /** Drives the operation mix and the fault draws. Default 1. */
  readonly seed?: number | undefined
  /**
   * Issue 23's faults and property: read faults (`500`/`502`/`504`, answers cut short), status
   * streams closed early, lost answers of deletions and uploads (and uploads in the mix), and no
   * subscribe failing after its job completed. Default `false`.
   */
  readonly lostAnswers?: boolean | undefined
  /** A call that has not ended after this is a hang. Default 2 minutes. */
  readonly perCall?: Duration.DurationInput | undefined
  /** The whole run's bound. Default 60 minutes. */
  readonly overall?: Duration.DurationInput | undefined
  readonly progressEvery?: Duration.DurationInput | undefined
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
}

export interface Progress {
  readonly done: number
  readonly total: number
  readonly inFlight: number
  readonly ok: number
  readonly failed: number
  readonly elapsedMs: number
}

export type Outcome = "ok" | "typed" | "defect" | "unknown" | "hang" | "interrupted" | "setup"

export interface OpRecord {
  readonly index: number
  readonly kind: Kind
  readonly token: string
  /** The job a delete addresses, or the job a subscribe's submit created (as `onEnqueue` saw it). */
  readonly requestId: string | undefined
  readonly outcome: Outcome
  /** `_tag` of the error, or a short description of a defect. */
  readonly error: string | undefined
  readonly errorRequestId: string | undefined
  /**
   * For a typed error: the operation that failed, and the per-attempt limit that ended it
   * (`headers` or `body`) when it was a client-side timeout; printed with a violation.
   */
  readonly errorOperation?: string | undefined
  readonly errorTimeout?: "headers" | "body" | undefined
  /** The token found in a successful result (runs and subscribes). */
  readonly echoed: string | undefined
  /** Links a successful deletion reports as not deleted (a second application would show some). */
  readonly failedLinks: number
  readonly endedAt: number
}

export interface Report {
  readonly options: Required<Pick<Options, "ops" | "concurrency" | "faultRate" | "seed" | "lostAnswers">>
  readonly records: ReadonlyArray<OpRecord>
  readonly log: ReadonlyArray<FalPlatform.HttpLogEntry>
  /** Every job the log leads to, by id. */
  readonly jobs: ReadonlyMap<string, FalPlatform.JobRecord>
  readonly wallMs: number
  /** `false` when the overall bound ended the run. */
  readonly finished: boolean
}

const echo = FalPlatform.demoModelIds.echo
const image = FalPlatform.demoModelIds.image

/** A small seeded generator (mulberry32) for the operation mix, so a seed names a workload. */
const mulberry32 = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The operation mix: runs and subscribes dominate, deletions a fifth. */
const mix: ReadonlyArray<readonly [Kind, number]> = [
  ["run", 0.3],
  ["subscribeStream", 0.25],
  ["subscribePoll", 0.25],
  ["delete", 0.1],
  ["deleteLegacy", 0.1]
]

/** With lost answers: a tenth of the operations are uploads. */
const mixWithUploads: ReadonlyArray<readonly [Kind, number]> = [
  ["run", 0.25],
  ["subscribeStream", 0.25],
  ["subscribePoll", 0.2],
  ["delete", 0.1],
  ["deleteLegacy", 0.1],
  ["upload", 0.1]
]

export const plan = (ops: number, seed: number, uploads = false): ReadonlyArray<Kind> => {
  const next = mulberry32(seed)
  const weights = uploads ? mixWithUploads : mix
  return Array.from({ length: ops }, () => {
    let draw = next()
    for (const [kind, weight] of weights) {
      if (draw < weight) return kind
      draw -= weight
    }
    return "run"
  })
}

/** The fault mix (shares of the faults); each endpoint gets every kind. */
const faultMix: ReadonlyArray<readonly [string, Fault.Fault, number]> = [
  ["503", Fault.status(503), 0.3],
  ["reset before", Fault.reset, 0.2],
  ["reset after", Fault.resetAfter, 0.2],
  ["delay 1s", Fault.delay("1 second"), 0.1],
  ["malformed body", Fault.malformedBody, 0.1],
  ["429 Retry-After 1s", Fault.rateLimited("1 second"), 0.1]
]

/** The name of a fault as the figures count it. */
export const faultName = (fault: Fault.Fault): string =>
  Fault.match(fault, {
    Status: (f) => f.status === 429 ? "429 Retry-After 1s" : String(f.status),
    Reset: () => "reset before",
    ResetAfter: () => "reset after",
    Delay: () => "delay 1s",
    MalformedBody: () => "malformed body",
    CutShort: () => "cut short",
    CloseStreamAfter: (f) => `stream closed after ${Duration.format(Duration.decode(f.duration))}`
  })

/**
 * Issue 23's faults, by target: the share of the matching requests each hits (after the mixed
 * faults above, drawn first, missed them).
 */
const lostAnswerFaults: ReadonlyArray<
  readonly [Fault.Target, ReadonlyArray<readonly [Fault.Fault, number]>]
> = [
  [Fault.target("status", { modelId: echo }), [[Fault.status(500), 0.02], [Fault.status(502), 0.02], [
    Fault.status(504),
    0.02
  ], [Fault.cutShort(), 0.02]]],
  [Fault.target("result", { modelId: echo }), [[Fault.status(500), 0.03], [Fault.status(502), 0.03], [
    Fault.status(504),
    0.03
  ], [Fault.cutShort(), 0.03]]],
  [Fault.target("statusStream", { modelId: echo }), [[Fault.status(500), 0.03], [Fault.status(502), 0.03], [
    Fault.status(504),
    0.03
  ], [Fault.closeStreamAfter("50 millis"), 0.05]]],
  [Fault.target("payloadsDelete"), [[Fault.cutShort(), 0.05]]],
  [Fault.target("payloadsDeleteLegacy"), [[Fault.cutShort(), 0.05]]],
  [Fault.target("uploadInitiate"), [[Fault.resetAfter, 0.05], [Fault.status(502), 0.03]]],
  [Fault.target("uploadPut"), [[Fault.resetAfter, 0.05], [Fault.cutShort(), 0.03], [Fault.status(503), 0.03]]]
]

/**
 * Injects the faults: on every endpoint the workload uses, each kind with the probability that
 * makes the kinds' shares exact and their total `rate` (the gateway draws for them in order);
 * with `lostAnswers`, issue 23's faults after them.
 */
const injectFaults = (platform: FalPlatform.Service, rate: number, lostAnswers: boolean) =>
  Effect.zipRight(
    injectMixed(platform, rate),
    lostAnswers
      ? Effect.forEach(lostAnswerFaults, ([target, faults]) =>
        Effect.forEach(faults, ([fault, probability]) =>
          platform.injectFault({ ...target, fault, probability, times: Infinity })), { discard: true })
      : Effect.void
  )

const injectMixed = (platform: FalPlatform.Service, rate: number) =>
  Effect.forEach(
    [
      { endpoint: "run", modelId: echo },
      { endpoint: "queue", modelId: echo },
      { endpoint: "api" },
      { endpoint: "rest" }
    ] as const,
    (target) => {
      let left = 1
      return Effect.forEach(faultMix, ([, fault, share]) => {
        const probability = Math.min(1, (rate * share) / left)
        left -= rate * share
        return platform.injectFault({ ...target, fault, probability, times: Infinity })
      })
    },
    { discard: true }
  )

class Hang extends Data.TaggedError("Hang")<{}> {}

/** A job of `fal-ai/image` (with an output file), made without faults, for a deletion to address. */
const deletionTarget = (client: HttpClient.HttpClient, token: string) =>
  Effect.gen(function*() {
    const platform = yield* FalPlatform.FalPlatform
    const response = yield* client.execute(
      HttpClientRequest.post(`${FalPlatform.defaultUrls.queue}/${image}`).pipe(
        HttpClientRequest.setHeader("authorization", `Key ${FalPlatform.defaultKeys.user}`),
        HttpClientRequest.bodyUnsafeJson({ prompt: token })
      )
    )
    const body = (yield* response.json) as { readonly request_id: string }
    yield* platform.awaitStatus(body.request_id)
    return body.request_id
  }).pipe(Effect.scoped)

const tokenOf = (data: unknown): string | undefined =>
  typeof data === "object" && data !== null && "token" in data && typeof data.token === "string"
    ? data.token
    : undefined

const describeDefect = (cause: Cause.Cause<unknown>): string => {
  const defect = Cause.squash(cause)
  return defect instanceof Error ? `${defect.name}: ${defect.message}`.slice(0, 200) : String(defect).slice(0, 200)
}

/** One logical operation, bounded by `perCall`; never fails. */
const operation = (
  setup: HttpClient.HttpClient,
  index: number,
  kind: Kind,
  token: string,
  perCall: Duration.Duration
): Effect.Effect<OpRecord, never, FalClient.FalClient | FalPlatform.FalPlatform> =>
  Effect.gen(function*() {
    const known = yield* Ref.make<string | undefined>(undefined)
    const onEnqueue = (submitted: Queue.Submitted) => Ref.set(known, submitted.requestId)
    let setupFailed = false
    const call: Effect.Effect<
      { echoed?: string; failedLinks?: number; uploadedUrl?: string },
      FalError.FalError,
      FalClient.FalClient
    > = (() => {
      switch (kind) {
        case "run":
          return Effect.map(Fal.run(echo, { token }), (r) => ({ echoed: tokenOf(r.data) }))
        case "subscribeStream":
        case "subscribePoll":
          return Effect.map(
            Queue.subscribe(echo, { token }, {
              mode: kind === "subscribeStream" ? "stream" : "poll",
              pollInterval: "50 millis",
              onEnqueue
            }),
            (r) => ({ echoed: tokenOf(r.data) })
          )
        case "upload":
          return Effect.map(
            Storage.upload(new TextEncoder().encode(token), { contentType: "text/plain", fileName: `${token}.txt` }),
            (file) => ({ uploadedUrl: file.url })
          )
        case "delete":
        case "deleteLegacy":
          return Effect.flatMap(Ref.get(known), (id) =>
            id === undefined
              ? Effect.succeed({})
              : Effect.map(
                kind === "delete" ? Payloads.delete(id) : Payloads.deleteLegacy(id),
                (deletion) => ({
                  echoed: deletion.requestId === id ? token : undefined,
                  failedLinks: Payloads.failed(deletion).length
                })
              ))
      }
    })()
    if (kind === "delete" || kind === "deleteLegacy") {
      const target = yield* Effect.exit(deletionTarget(setup, token))
      if (Exit.isSuccess(target)) yield* Ref.set(known, target.value)
      else setupFailed = true
    }
    const exit = setupFailed ? undefined : yield* call.pipe(
      Effect.timeoutFail({ duration: perCall, onTimeout: () => new Hang() }),
      Effect.exit
    )
    const requestId = yield* Ref.get(known)
    const endedAt = Date.now()
    const base = { index, kind, token, requestId, endedAt, failedLinks: 0 }
    if (exit === undefined) {
      return {
        ...base,
        outcome: "setup",
        error: "the deletion target could not be made",
        errorRequestId: undefined,
        echoed: undefined
      } satisfies OpRecord
    }
    if (Exit.isSuccess(exit)) {
      // an upload echoes its token when the CDN file at the URL answered holds it
      const uploadedUrl = exit.value.uploadedUrl
      const echoed = uploadedUrl === undefined ? exit.value.echoed : Option.match(
        yield* Effect.flatMap(FalPlatform.FalPlatform, (platform) => platform.file(uploadedUrl)),
        { onNone: () => undefined, onSome: (file) => new TextDecoder().decode(file.content) }
      )
      return {
        ...base,
        outcome: "ok",
        error: undefined,
        errorRequestId: undefined,
        echoed,
        failedLinks: exit.value.failedLinks ?? 0
      } satisfies OpRecord
    }
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) {
      const error = failure.value
      if (error instanceof Hang) {
        return {
          ...base,
          outcome: "hang",
          error: "Hang",
          errorRequestId: undefined,
          echoed: undefined
        } satisfies OpRecord
      }
      if (FalError.isFalError(error)) {
        return {
          ...base,
          outcome: "typed",
          error: error._tag,
          errorRequestId: Option.getOrUndefined(FalError.requestId(error)),
          errorOperation: "operation" in error ? String(error.operation) : undefined,
          errorTimeout: error._tag === "TransportError" ? error.timeout : undefined,
          echoed: undefined
        } satisfies OpRecord
      }
      return {
        ...base,
        outcome: "unknown",
        error: String(error).slice(0, 200),
        errorRequestId: undefined,
        echoed: undefined
      } satisfies OpRecord
    }
    return {
      ...base,
      outcome: Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "defect",
      error: describeDefect(exit.cause),
      errorRequestId: undefined,
      echoed: undefined
    } satisfies OpRecord
  })

/** Runs the workload against the platform in context (served over loopback to the `FalClient`). */
export const soak = (
  options: Options
): Effect.Effect<Report, never, FalClient.FalClient | FalPlatform.FalPlatform> =>
  Effect.gen(function*() {
    const seed = options.seed ?? 1
    const faultRate = options.faultRate ?? 0.1
    const lostAnswers = options.lostAnswers ?? false
    const perCall = Duration.decode(options.perCall ?? "2 minutes")
    const platform = yield* FalPlatform.FalPlatform
    // deletion targets are made through the in-memory transport of the same platform, unfaulted
    // (the faults target the echo model, and the api and rest bases only)
    const setup = yield* Effect.provide(HttpClient.HttpClient, FalPlatform.layerHttpClient)
    yield* injectFaults(platform, faultRate, lostAnswers)
    const kindsPlan = plan(options.ops, seed, lostAnswers)
    const records: Array<OpRecord | undefined> = new Array(options.ops).fill(undefined)
    const counters = { done: 0, inFlight: 0, ok: 0, failed: 0 }
    const started = Date.now()
    const progress = (): Progress => ({
      done: counters.done,
      total: options.ops,
      inFlight: counters.inFlight,
      ok: counters.ok,
      failed: counters.failed,
      elapsedMs: Date.now() - started
    })
    const every = options.progressEvery ?? "1 second"
    const onProgress = options.onProgress
    const reporter = onProgress === undefined
      ? undefined
      : yield* Effect.fork(
        Effect.forever(Effect.zipRight(Effect.sleep(every), Effect.suspend(() => onProgress(progress()))))
      )
    const work = Effect.forEach(
      kindsPlan,
      (kind, index) =>
        Effect.suspend(() => {
          counters.inFlight++
          return operation(setup, index, kind, `soak-${seed}-${index}`, perCall)
        }).pipe(
          Effect.tap((record) =>
            Effect.sync(() => {
              records[index] = record
              counters.inFlight--
              counters.done++
              if (record.outcome === "ok") counters.ok++
              else counters.failed++
            })
          )
        ),
      { concurrency: options.concurrency, discard: true }
    )
    const finished = yield* work.pipe(
      Effect.timeout(options.overall ?? "60 minutes"),
      Effect.as(true),
      Effect.catchAll(() => Effect.succeed(false)),
      Effect.withRandom(Random.make(seed))
    )
    const wallMs = Date.now() - started
    if (reporter !== undefined && onProgress !== undefined) {
      yield* Fiber.interrupt(reporter)
      yield* onProgress(progress())
    }
    yield* platform.clearFaults
    const log = yield* platform.httpLog
    const jobs = new Map<string, FalPlatform.JobRecord>()
    for (const entry of log) {
      if (jobs.has(entry.id)) continue
      const job = yield* platform.job(entry.id)
      if (Option.isSome(job)) jobs.set(entry.id, job.value)
    }
    return {
      options: { ops: options.ops, concurrency: options.concurrency, faultRate, seed, lostAnswers },
      records: records.filter((r): r is OpRecord => r !== undefined),
      log,
      jobs,
      wallMs,
      finished
    }
  })

// -----------------------------------------------------------------------------
// the checker
// -----------------------------------------------------------------------------

/**
 * The most HTTP requests one call may make: 1 + the retries of its operation's default schedule
 * (`Retry.defaults`: run, submit, delete 3; status, result 5; the status stream 5 reconnects
 * over the whole stream).
 */
export const maxAttempts = {
  run: 4,
  submit: 4,
  status: 6,
  statusStream: 6,
  result: 6,
  delete: 4,
  deleteLegacy: 4
} as const

export interface Verdict {
  /** Each broken property, with the operation, what happened and the evidence. */
  readonly violations: ReadonlyArray<string>
  readonly figures: {
    readonly ops: number
    readonly httpRequests: number
    readonly wallMs: number
    readonly faults: Readonly<Record<string, number>>
    readonly outcomes: Readonly<Record<Kind, Readonly<Record<string, number>>>>
    /** HTTP requests per logical call, by operation step: attempts -> calls. */
    readonly attempts: Readonly<Record<string, Readonly<Record<number, number>>>>
    /** Subscribes that failed (typed, with their request id) although their job had completed. */
    readonly failedAfterCompletion: number
    /**
     * Lost completed results: subscribes that failed although their job completed on the platform
     * and the client had learned its request id (the submit was answered). With `lostAnswers`,
     * each is a violation.
     */
    readonly lostCompletedResults: number
    /** Operations by outcome class (`ok`, the `FalError` tag, `hang`, `defect`, ...), per kind. */
    readonly classes: Readonly<Record<string, Readonly<Record<Kind, number>>>>
    /** Runs that failed although their job completed (the answer was lost: a reset after it ran). */
    readonly runsLostAfterCompletion: number
    /**
     * Subscribes whose submit created a job whose answer a reset after handling dropped: the
     * caller never learned the request id (fal offers no idempotent submit), the job ran unfollowed.
     */
    readonly orphanedBySubmitReset: number
    /**
     * Subscribes whose submit the client gave up on (a per-attempt timeout) while fal went on
     * and created the job: like a dropped answer, the caller never learned the request id.
     */
    readonly orphanedBySubmitTimeout: number
  }
}

/** Why an attempt was answered by the fault rather than the route, if it was. */
const failedAttempt = (entry: FalPlatform.HttpLogEntry): boolean =>
  entry.fault !== undefined && !Fault.is("Delay")(entry.fault)

/** Whether the route ran (and so could create a job or apply a deletion). */
const reachedRoute = (entry: FalPlatform.HttpLogEntry): boolean =>
  entry.fault === undefined || Fault.is("Delay")(entry.fault) || Fault.is("ResetAfter")(entry.fault) ||
  Fault.is("CutShort")(entry.fault) || Fault.is("CloseStreamAfter")(entry.fault)

/** A fault the caller cannot tell from success reaching fal: a non-idempotent call must not be re-sent. */
const ambiguous = (entry: FalPlatform.HttpLogEntry): boolean =>
  entry.fault !== undefined &&
  (Fault.is("Reset")(entry.fault) || Fault.is("ResetAfter")(entry.fault) || Fault.is("MalformedBody")(entry.fault) ||
    Fault.is("CutShort")(entry.fault))

const bodyToken = (entry: FalPlatform.HttpLogEntry): string | undefined => {
  try {
    return tokenOf(JSON.parse(entry.body))
  } catch {
    return undefined
  }
}

const bump = (record: Record<string | number, number>, key: string | number, by = 1) => {
  record[key] = (record[key] ?? 0) + by
}

const push = <K, V>(map: Map<K, Array<V>>, key: K, value: V) => {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

const requestPath = /^\/[^/]+\/[^/]+\/requests\/([^/]+)(\/status\/stream|\/status|\/cancel|\/response)?$/

export const check = (report: Report): Verdict => {
  const violations: Array<string> = []
  const violate = (text: string) => violations.push(text)
  const seed = report.options.seed
  const reproduce =
    `(reproduce: SOAK_SEED=${seed} SOAK_OPS=${report.options.ops} SOAK_CONCURRENCY=${report.options.concurrency} SOAK_LOST_ANSWERS=${
      report.options.lostAnswers ? 1 : 0
    } pnpm soak)`

  if (!report.finished) {
    violate(`the overall bound ended the run: ${report.records.length} of ${report.options.ops} operations ended`)
  }
  if (report.records.length !== report.options.ops) {
    violate(`${report.options.ops - report.records.length} operations never ended`)
  }

  // the emulator's records, grouped by logical call
  const postsByToken = new Map<string, Array<FalPlatform.HttpLogEntry>>()
  const readsByJob = new Map<string, Map<string, Array<FalPlatform.HttpLogEntry>>>()
  const deletesByJob = new Map<string, Array<FalPlatform.HttpLogEntry>>()
  const faults: Record<string, number> = {}
  for (const entry of report.log) {
    if (entry.fault !== undefined) bump(faults, faultName(entry.fault))
    if (entry.method === "POST" && (entry.base === "run" || entry.base === "queue") && entry.path === `/${echo}`) {
      const token = bodyToken(entry)
      if (token !== undefined) push(postsByToken, `${entry.base}:${token}`, entry)
    } else if (entry.base === "queue" && entry.path.startsWith(`/${echo}/requests/`)) {
      const match = requestPath.exec(entry.path)
      if (match !== null) {
        const step = match[2] === "/status/stream"
          ? "statusStream"
          : match[2] === "/status"
          ? "status"
          : match[2] === "/cancel"
          ? "cancel"
          : "result"
        const steps = readsByJob.get(match[1]) ?? new Map<string, Array<FalPlatform.HttpLogEntry>>()
        readsByJob.set(match[1], steps)
        push(steps, step, entry)
      }
    } else if (entry.base === "api" && entry.method === "DELETE") {
      const id = /^\/models\/requests\/([^/]+)\/payloads$/.exec(entry.path)?.[1]
      if (id !== undefined) push(deletesByJob, `delete:${id}`, entry)
    } else if (entry.base === "rest" && entry.method === "PUT") {
      const id = /^\/requests\/delete_io\/([^/]+)$/.exec(entry.path)?.[1]
      if (id !== undefined) push(deletesByJob, `deleteLegacy:${id}`, entry)
    }
  }
  const jobsByToken = new Map<string, Array<FalPlatform.JobRecord>>()
  for (const job of report.jobs.values()) {
    const token = tokenOf(job.input)
    if (job.modelId === echo && token !== undefined) push(jobsByToken, token, job)
  }

  const outcomes = Object.fromEntries(kinds.map((k) => [k, {} as Record<string, number>])) as Record<
    Kind,
    Record<string, number>
  >
  const attempts: Record<string, Record<number, number>> = {}
  const within = (step: keyof typeof maxAttempts, entries: ReadonlyArray<FalPlatform.HttpLogEntry>, op: OpRecord) => {
    bump(attempts[step] ??= {}, entries.length)
    if (entries.length > maxAttempts[step]) {
      violate(
        `attempts: op ${op.index} (${op.kind}) made ${entries.length} ${step} requests, policy allows ${
          maxAttempts[step]
        }; faults: ${entries.map((e) => e.fault === undefined ? "none" : faultName(e.fault)).join(", ")} ${reproduce}`
      )
    }
  }
  const notResentAfterAmbiguous = (step: string, entries: ReadonlyArray<FalPlatform.HttpLogEntry>, op: OpRecord) => {
    const first = entries.findIndex(ambiguous)
    if (first >= 0 && first < entries.length - 1) {
      violate(
        `attempts: op ${op.index} (${op.kind}) re-sent a ${step} after a fault that may have reached fal (${
          faultName(entries[first].fault!)
        }) ${reproduce}`
      )
    }
  }
  let failedAfterCompletion = 0
  let lostCompletedResults = 0
  const classes: Record<string, Record<Kind, number>> = {}
  let runsLostAfterCompletion = 0
  let orphanedBySubmitReset = 0
  let orphanedBySubmitTimeout = 0

  for (const op of report.records) {
    const outcomeClass = op.outcome === "typed" ? op.error ?? "typed" : op.outcome
    bump(outcomes[op.kind], outcomeClass)
    bump(
      classes[outcomeClass] ??= Object.fromEntries(kinds.map((k) => [k, 0])) as Record<Kind, number>,
      op.kind
    )
    if (op.outcome !== "ok" && op.outcome !== "typed") {
      violate(
        `outcome: op ${op.index} (${op.kind}, token ${op.token}) ended as ${op.outcome}: ${op.error} ${reproduce}`
      )
    }
    if (op.kind === "upload") {
      if (op.outcome === "ok" && op.echoed !== op.token) {
        violate(`lost upload: op ${op.index} (upload) answered a URL whose file does not hold its bytes ${reproduce}`)
      }
      continue
    }
    const jobs = jobsByToken.get(op.token) ?? []
    if (op.kind === "run" || op.kind === "subscribeStream" || op.kind === "subscribePoll") {
      // no lost or misrouted result
      if (op.outcome === "ok" && op.echoed !== op.token) {
        violate(`misrouted: op ${op.index} (${op.kind}) expected token ${op.token}, got ${op.echoed} ${reproduce}`)
      }
      // an error may name the id of the failed HTTP request itself; naming another call's job is misrouting
      const named = op.errorRequestId === undefined ? undefined : report.jobs.get(op.errorRequestId)
      if (named !== undefined && tokenOf(named.input) !== op.token) {
        violate(
          `misrouted: op ${op.index} (${op.kind}) failed naming request ${op.errorRequestId}, not its own job ${reproduce}`
        )
      }
      // no duplicate job
      if (jobs.length > 1) {
        violate(
          `duplicate job: op ${op.index} (${op.kind}) token ${op.token} has ${jobs.length} jobs: ${
            jobs.map((j) => j.id).join(", ")
          } ${reproduce}`
        )
      }
      const completed = jobs.find((j) =>
        j.status === "COMPLETED" && j.completedAt !== undefined && j.completedAt <= op.endedAt &&
        j.result !== undefined && j.result.status === 200
      )
      // the POST that created the job: when its answer was dropped (a reset after handling), the
      // caller never learned the request id; nothing in the api can follow that job
      const creator = completed === undefined
        ? undefined
        : (postsByToken.get(`${op.kind === "run" ? "run" : "queue"}:${op.token}`) ?? []).find((e) =>
          e.id === completed.id
        )
      const answerLost = creator?.fault !== undefined && Fault.is("ResetAfter")(creator.fault)
      if (op.kind !== "run" && completed !== undefined && op.outcome !== "ok") {
        if (op.requestId !== undefined || op.errorRequestId === completed.id) {
          lostCompletedResults++
          if (report.options.lostAnswers) {
            violate(
              `lost completed result: op ${op.index} (${op.kind}) job ${completed.id} completed, the call failed with ${op.error}${
                op.errorOperation === undefined ? "" : ` (in ${op.errorOperation})`
              } ${reproduce}`
            )
          }
        }
        if (op.errorRequestId === completed.id) failedAfterCompletion++
        else if (answerLost && op.requestId === undefined) orphanedBySubmitReset++
        else if (op.requestId === undefined && op.errorOperation === "submit" && op.errorTimeout !== undefined) {
          orphanedBySubmitTimeout++
        } else {
          const where = op.errorOperation === undefined
            ? ""
            : ` (in ${op.errorOperation}${op.errorTimeout === undefined ? "" : `, ${op.errorTimeout} timeout`})`
          violate(
            `lost result: op ${op.index} (${op.kind}) job ${completed.id} completed, the call failed with ${op.error}${where} without its request id ${reproduce}`
          )
        }
      }
      if (op.kind === "run" && completed !== undefined && op.outcome !== "ok") runsLostAfterCompletion++
      // attempts within policy
      const posts = postsByToken.get(`${op.kind === "run" ? "run" : "queue"}:${op.token}`) ?? []
      within(op.kind === "run" ? "run" : "submit", posts, op)
      notResentAfterAmbiguous(op.kind === "run" ? "run" : "submit", posts, op)
      for (const job of jobs) {
        const steps = readsByJob.get(job.id)
        if (steps === undefined) continue
        if (op.kind === "subscribeStream") within("statusStream", steps.get("statusStream") ?? [], op)
        within("result", steps.get("result") ?? [], op)
        if (op.kind !== "subscribePoll") continue
        // polls repeat by design: a retried read is a run of failed attempts, at most the policy's
        const polls = steps.get("status") ?? []
        let run = 0
        let longest = 0
        for (const entry of polls) {
          run = failedAttempt(entry) ? run + 1 : 0
          longest = Math.max(longest, run)
        }
        bump(attempts["status (failed in a row)"] ??= {}, longest)
        if (longest > maxAttempts.status) {
          violate(
            `attempts: op ${op.index} (${op.kind}) had ${longest} failed status reads in a row, policy allows ${maxAttempts.status} ${reproduce}`
          )
        }
      }
    } else {
      const id = op.requestId
      if (id === undefined) continue
      if (op.outcome === "ok" && op.echoed !== op.token) {
        violate(`misrouted: op ${op.index} (${op.kind}) deletion answered for another request ${reproduce}`)
      }
      if (op.failedLinks > 0) {
        violate(
          `delete applied twice: op ${op.index} (${op.kind}) on ${id} reported ${op.failedLinks} links already gone ${reproduce}`
        )
      }
      const entries = deletesByJob.get(`${op.kind}:${id}`) ?? []
      const other = deletesByJob.get(`${op.kind === "delete" ? "deleteLegacy" : "delete"}:${id}`) ?? []
      within(op.kind, entries, op)
      if (op.kind === "deleteLegacy") notResentAfterAmbiguous("legacy deletion", entries, op)
      // applications: v1 routes replay one answer per Idempotency-Key; every legacy call that
      // reaches the route applies the deletion
      const applied = (list: ReadonlyArray<FalPlatform.HttpLogEntry>, v1: boolean) =>
        v1
          ? new Set(list.filter(reachedRoute).map((e) => e.headers["idempotency-key"] ?? e.id)).size
          : list.filter(reachedRoute).length
      const applications = applied(entries, op.kind === "delete") + applied(other, op.kind !== "delete")
      if (applications > 1) {
        violate(
          `delete applied twice: op ${op.index} (${op.kind}) on ${id} was applied ${applications} times ${reproduce}`
        )
      }
    }
  }
  return {
    violations,
    figures: {
      ops: report.records.length,
      httpRequests: report.log.length,
      wallMs: report.wallMs,
      faults,
      outcomes,
      attempts,
      failedAfterCompletion,
      lostCompletedResults,
      classes,
      runsLostAfterCompletion,
      orphanedBySubmitReset,
      orphanedBySubmitTimeout
    }
  }
}
