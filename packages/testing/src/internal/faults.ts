/**
 * Fault injection: pending faults, matched against each request (or runner attempt) and
 * consumed one use at a time, and the fault that hit the request being served.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as Fault from "../Fault.js"
import type { ActiveFault, Env } from "./state.js"

export interface Subject {
  readonly endpoint: Fault.Target["endpoint"]
  /** The model id (submit, run, runner) or `owner/app` (status, result, cancel) concerned. */
  readonly modelId?: string | undefined
  readonly method?: string | undefined
  readonly path?: string | undefined
}

const sameModel = (wanted: string, actual: string | undefined): boolean =>
  actual !== undefined && (wanted === actual || wanted.startsWith(`${actual}/`) || actual.startsWith(`${wanted}/`))

/** The operation a request on a base is, from its method and path (relative to the base). */
export const operationOf = (subject: Subject): Fault.Operation | undefined => {
  const method = subject.method?.toUpperCase()
  const path = subject.path ?? ""
  switch (subject.endpoint) {
    case "run":
      return "run"
    case "queue": {
      if (method === "POST") return "submit"
      if (!path.includes("/requests/")) return undefined
      if (method === "PUT") return path.endsWith("/cancel") ? "cancel" : undefined
      if (path.endsWith("/status/stream")) return "statusStream"
      if (path.endsWith("/status")) return "status"
      return "result"
    }
    case "storage":
      return path.startsWith("/storage/upload/initiate-multipart")
        ? "multipartInitiate"
        : path.startsWith("/storage/upload/initiate")
        ? "uploadInitiate"
        : undefined
    case "upload": {
      const parts = path.split("/").filter((part) => part.length > 0)
      if (method === "POST") return parts[2] === "complete" ? "multipartComplete" : undefined
      return parts.length === 2 ? "uploadPut" : parts.length === 3 ? "partPut" : undefined
    }
    case "cdn":
      return "cdnGet"
    case "api":
      return method === "DELETE"
        ? "payloadsDelete"
        : path.startsWith("/models/requests/by-endpoint")
        ? "history"
        : undefined
    case "rest":
      return path.startsWith("/requests/delete_io/") ? "payloadsDeleteLegacy" : undefined
    case "runner":
      return undefined
  }
}

const matches = (target: Fault.Target, subject: Subject): boolean =>
  target.endpoint === subject.endpoint &&
  (target.modelId === undefined || sameModel(target.modelId, subject.modelId)) &&
  (target.method === undefined || target.method.toUpperCase() === subject.method?.toUpperCase()) &&
  (target.pathPrefix === undefined || (subject.path ?? "").startsWith(target.pathPrefix)) &&
  (target.operation === undefined || target.operation === operationOf(subject))

export const inject = (env: Env, injection: Fault.Injection): Effect.Effect<void> =>
  Ref.update(env.faults, (faults) => [
    ...faults,
    { id: faults.length === 0 ? 0 : faults[faults.length - 1].id + 1, injection, remaining: injection.times ?? 1 }
  ])

export const clear = (env: Env): Effect.Effect<void> => Ref.set(env.faults, [])

/** Whether a pending fault hits this request: always, or with its probability. */
const rolls = (fault: ActiveFault): Effect.Effect<boolean> => {
  const probability = fault.injection.probability
  if (probability === undefined || probability >= 1) return Effect.succeed(true)
  return Effect.map(Random.next, (draw) => draw < probability)
}

/**
 * Takes one use of the first pending fault matching the subject that hits it (a fault with a
 * probability is drawn for, in order; one that misses is passed over and keeps its uses).
 */
export const take = (env: Env, subject: Subject): Effect.Effect<Option.Option<Fault.Fault>> =>
  Effect.flatMap(Ref.get(env.faults), (pending) =>
    // no fault pending (the usual case): nothing to match
    pending.length === 0 ? Effect.succeedNone : takeFrom(env, pending, subject))

const takeFrom = (
  env: Env,
  pending: ReadonlyArray<ActiveFault>,
  subject: Subject
): Effect.Effect<Option.Option<Fault.Fault>> =>
  Effect.gen(function*() {
    const candidates = pending.filter((f) => f.remaining > 0 && matches(f.injection, subject))
    for (const candidate of candidates) {
      if (!(yield* rolls(candidate))) continue
      // another request may have spent the last use since the read: take it only if still there
      const taken = yield* Ref.modify(env.faults, (faults): [boolean, ReadonlyArray<ActiveFault>] => {
        const current = faults.find((f) => f.id === candidate.id)
        if (current === undefined || current.remaining <= 0) return [false, faults]
        return [
          true,
          faults
            .map((f) => (f.id === candidate.id ? { ...f, remaining: f.remaining - 1 } : f))
            .filter((f) => f.remaining > 0)
        ]
      })
      if (taken) return Option.some(candidate.injection.fault)
    }
    return Option.none()
  })

/**
 * The fault that hit a request, and, for a reset after handling, the request id the route
 * answered: set by the faults middleware, read by the request log (the call's `fired`).
 */
export interface Fired {
  readonly fault: Fault.Fault
  readonly answeredId?: string | undefined
}

/** A body stream's end by a cut connection: the transport renders the failure (see `transport/`). */
const cut: Stream.Stream<never, Fault.ConnectionReset> = Stream.fail(new Fault.ConnectionReset())

/**
 * A {@link Fault.cutShort} answer: the same status and headers, the first `bytes` of the body
 * (default half, at least one byte short of the whole), then a failing body stream, which the
 * loopback server renders by destroying the socket and the in-memory client as a body it cannot
 * read.
 */
export const cutShort = (
  response: HttpServerResponse.HttpServerResponse,
  bytes: number | undefined
): HttpServerResponse.HttpServerResponse => {
  const body = response.body
  const options = {
    status: response.status,
    headers: response.headers,
    ...(body.contentType === undefined ? {} : { contentType: body.contentType })
  }
  const whole = body._tag === "Uint8Array"
    ? body.body
    : body._tag === "Raw" && typeof body.body === "string"
    ? new TextEncoder().encode(body.body)
    : undefined
  if (whole === undefined) {
    // a streamed body: its first chunk, then the cut
    const stream = body._tag === "Stream" ? Stream.take(body.stream, 1) : Stream.empty
    return HttpServerResponse.stream(Stream.concat(stream, cut), options)
  }
  const kept = Math.max(0, Math.min(bytes ?? Math.floor(whole.byteLength / 2), whole.byteLength - 1))
  return HttpServerResponse.stream(Stream.concat(Stream.succeed(whole.subarray(0, kept)), cut), {
    ...options,
    // the length of the whole answer: the client knows the body it gets is short
    contentLength: whole.byteLength
  })
}

/**
 * A {@link Fault.closeStreamAfter} answer: a streamed body ends `duration` after it began (on the
 * Clock of the fiber streaming it), or, `abrupt`, fails as a cut connection then; another body
 * is left as it is.
 */
export const closeStreamAfter = (
  response: HttpServerResponse.HttpServerResponse,
  fault: Fault.Fault & { readonly _tag: "CloseStreamAfter" }
): HttpServerResponse.HttpServerResponse => {
  const body = response.body
  if (body._tag !== "Stream") return response
  const closing = fault.abrupt
    ? Effect.zipRight(Effect.sleep(fault.duration), Effect.fail(new Fault.ConnectionReset()))
    : Effect.sleep(fault.duration)
  return HttpServerResponse.stream(Stream.interruptWhen(body.stream, closing), {
    status: response.status,
    headers: response.headers,
    ...(body.contentType === undefined ? {} : { contentType: body.contentType })
  })
}
