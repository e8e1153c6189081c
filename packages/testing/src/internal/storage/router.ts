import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import { collectBytes, join } from "../http.js"
import { CdnFiles, type Decision, type InitialAcl, lazily } from "./files.js"

/** Where the routes are reachable from a client, and who may initiate uploads. */
export interface StorageConfigService {
  /** Absolute URL under which the upload routes (`/upload/...`) are served, without a trailing slash. */
  readonly uploadBase: string
  /** Absolute URL under which the CDN route (`/files/...`) is served: file URLs start with it. */
  readonly cdnBase: string
  /** Whether an initiate request's `Authorization` header is a valid key. */
  readonly authorize: (authorization: string | undefined) => Effect.Effect<boolean>
  /**
   * When a file initiated without a lifecycle header expires (the account's setting), given the
   * time it was stored; default `"never"`.
   */
  readonly defaultExpiresAt?: ((storedAt: number) => number | "never") | undefined
}

/**
 * The request body when something before the routes already read it (the emulator's gateway
 * logs every body); without it the routes read the request's stream.
 */
export class RequestBody extends Context.Tag("@effect-fal/testing/StorageEmulator/RequestBody")<
  RequestBody,
  Uint8Array
>() {}

export class StorageConfig extends Context.Tag("@effect-fal/testing/StorageEmulator/StorageConfig")<
  StorageConfig,
  StorageConfigService
>() {}

export const lifecycleHeader = "x-fal-object-lifecycle"

interface Session {
  readonly id: string
  readonly token: string
  readonly multipart: boolean
  readonly contentType: string
  readonly fileUrl: string
  /** `undefined`: no lifecycle header (the account's default applies); `null`: never. */
  readonly expirationSeconds: number | null | undefined
  readonly initialAcl: InitialAcl | undefined
  readonly parts: Map<number, { readonly bytes: Uint8Array; readonly etag: string }>
  /**
   * The parts a completed multipart upload was made of (`partNumber:etag`, in order): a repeated
   * complete listing them answers as the first did. `undefined` until completed.
   */
  completedParts: string | undefined
}

const detail = (status: number, text: string) => HttpServerResponse.unsafeJson({ detail: text }, { status })

const decisions: ReadonlySet<string> = new Set<Decision>(["hide", "forbid", "allow"])
const isDecision = (u: unknown): u is Decision => typeof u === "string" && decisions.has(u)

/** Reads the lifecycle header of SPEC sections 7 and 8; a malformed value is the reason it is rejected. */
export const parseLifecycle = (
  value: string | undefined
): { readonly expirationSeconds: number | null | undefined; readonly initialAcl: InitialAcl | undefined } | string => {
  if (value === undefined) return { expirationSeconds: undefined, initialAcl: undefined }
  let json: unknown
  try {
    json = JSON.parse(value)
  } catch {
    return "X-Fal-Object-Lifecycle is not JSON"
  }
  if (!Predicate.isRecord(json)) return "X-Fal-Object-Lifecycle must be a JSON object"
  const seconds = json.expiration_duration_seconds
  if (seconds !== undefined && seconds !== null && !(Number.isSafeInteger(seconds) && Number(seconds) >= 0)) {
    return "expiration_duration_seconds must be a whole number of seconds (0 or more), or null"
  }
  const acl = json.initial_acl
  let initialAcl: InitialAcl | undefined
  if (acl !== undefined) {
    if (!Predicate.isRecord(acl)) return "initial_acl must be an object"
    if (acl.default !== undefined && !isDecision(acl.default)) {
      return "initial_acl.default must be hide, forbid or allow"
    }
    const rules: Array<{ user: string; decision: Decision }> = []
    if (acl.rules !== undefined) {
      if (!Array.isArray(acl.rules)) return "initial_acl.rules must be an array"
      for (const rule of acl.rules) {
        if (!Predicate.isRecord(rule) || typeof rule.user !== "string" || rule.user.length === 0) {
          return "each initial_acl rule needs a user"
        }
        if (!isDecision(rule.decision)) return "each initial_acl rule's decision must be hide, forbid or allow"
        rules.push({ user: rule.user, decision: rule.decision })
      }
    }
    initialAcl = {
      ...(acl.default === undefined ? {} : { default: acl.default }),
      ...(acl.rules === undefined ? {} : { rules })
    }
  }
  return {
    expirationSeconds: seconds === undefined ? undefined : typeof seconds === "number" ? seconds : null,
    initialAcl
  }
}

const InitiateBody = Schema.Struct({ content_type: Schema.String, file_name: Schema.String })
const CompleteBody = Schema.Struct({
  parts: Schema.Array(Schema.Struct({ partNumber: Schema.Number, etag: Schema.String }))
})

/**
 * The request body, read chunk by chunk and joined once: the platform's `arrayBuffer` re-copies
 * the whole buffer on every chunk, quadratic on a 90 MB upload.
 */
const body = Effect.flatMap(
  Effect.serviceOption(RequestBody),
  (read) =>
    Option.isSome(read) ? Effect.succeed(read.value) : Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) => collectBytes(request.stream)
    )
)

/** The body as JSON decoded with `schema`; `None` when it is not. */
const bodyJson = <A, I>(schema: Schema.Schema<A, I>) =>
  Effect.map(body, (bytes) => {
    try {
      return Schema.decodeUnknownOption(schema)(JSON.parse(new TextDecoder().decode(bytes)))
    } catch {
      return Option.none<A>()
    }
  })

const etagOf = (bytes: Uint8Array) => `"${Crypto.createHash("sha256").update(bytes).digest("hex").slice(0, 32)}"`

/** A safe path segment for the file name in the file URL. */
const segment = (fileName: string): string => {
  const cleaned = fileName.split(/[\\/]/).pop() ?? ""
  return encodeURIComponent(cleaned.length > 0 ? cleaned : "file")
}

/**
 * The storage routes of SPEC section 8, three routers sharing their upload sessions:
 * `storage` (`POST /storage/upload/initiate` and `/initiate-multipart`, authorized by key),
 * `upload` (the pre-signed origin: `PUT /upload/:id`, `PUT /upload/:id/:part`,
 * `POST /upload/:id/complete`, each checking the URL's token and refusing `Authorization`), and
 * `cdn` (`GET /files/:id/:name` from `CdnFiles`).
 *
 * Repeated requests, as a client retrying after a lost answer makes them: a single `PUT` to the
 * same signed URL stores the bytes again (idempotent, the session outlives the upload); a part
 * `PUT` stores the part again (same bytes, same etag); a complete listing the same parts once
 * completed answers `200` with the same `file_url`, one listing other parts `409`; a part `PUT`
 * after completion `404`.
 */
export const make = Effect.gen(function*() {
  const sessions = yield* Ref.make(new Map<string, Session>())

  /** Stores the file of `parts` (one for a single PUT; the parts of a multipart upload joined when first read). */
  const store = (session: Session, parts: ReadonlyArray<Uint8Array>) =>
    Effect.gen(function*() {
      const files = yield* CdnFiles
      const config = yield* StorageConfig
      const now = yield* Clock.currentTimeMillis
      yield* files.put(lazily(
        {
          url: session.fileUrl,
          contentType: session.contentType,
          expiresAt: session.expirationSeconds === undefined
            ? config.defaultExpiresAt?.(now) ?? "never"
            : session.expirationSeconds === null
            ? "never"
            : now + session.expirationSeconds * 1000,
          initialAcl: session.initialAcl,
          kind: "input" as const
        },
        "bytes",
        () => join(parts)
      ))
      // The session stays: a pre-signed URL is valid until it expires, so a PUT repeated after
      // its answer was lost stores the bytes again and succeeds, as on S3-style storage.
    })

  const initiate = (multipart: boolean) =>
    Effect.gen(function*() {
      const config = yield* StorageConfig
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!(yield* config.authorize(request.headers.authorization))) return detail(401, "Unauthorized")
      const query = yield* HttpServerRequest.ParsedSearchParams
      if (query.storage_type !== "fal-cdn-v3") return detail(400, "storage_type must be fal-cdn-v3")
      const lifecycle = parseLifecycle(request.headers[lifecycleHeader])
      if (typeof lifecycle === "string") return detail(400, lifecycle)
      const initiated = yield* bodyJson(InitiateBody)
      if (Option.isNone(initiated)) return detail(422, "the body must be JSON {\"content_type\", \"file_name\"}")
      const id = Crypto.randomUUID()
      const token = Crypto.randomBytes(16).toString("hex")
      const session: Session = {
        id,
        token,
        multipart,
        contentType: initiated.value.content_type,
        fileUrl: `${config.cdnBase}/files/${id}/${segment(initiated.value.file_name)}`,
        expirationSeconds: lifecycle.expirationSeconds,
        initialAcl: lifecycle.initialAcl,
        parts: new Map(),
        completedParts: undefined
      }
      yield* Ref.update(sessions, (map) => new Map(map).set(id, session))
      return HttpServerResponse.unsafeJson({
        upload_url: `${config.uploadBase}/upload/${id}?token=${token}`,
        file_url: session.fileUrl
      })
    })

  /** The session a pre-signed request addresses, or the answer refusing it. */
  const presigned = (multipart: boolean) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const params = yield* HttpRouter.params
      const query = yield* HttpServerRequest.ParsedSearchParams
      if (request.headers.authorization !== undefined) {
        return detail(400, "a pre-signed upload URL takes no Authorization header")
      }
      const session = (yield* Ref.get(sessions)).get(params.id ?? "")
      if (session === undefined || session.multipart !== multipart) return detail(404, "no such upload")
      if (query.token !== session.token) return detail(403, "bad upload token")
      return session
    })

  const storage = HttpRouter.empty.pipe(
    HttpRouter.post("/storage/upload/initiate", initiate(false)),
    HttpRouter.post("/storage/upload/initiate-multipart", initiate(true))
  )

  const upload = HttpRouter.empty.pipe(
    HttpRouter.put(
      "/upload/:id",
      Effect.gen(function*() {
        const session = yield* presigned(false)
        if (HttpServerResponse.isServerResponse(session)) return session
        yield* store(session, [yield* body])
        return HttpServerResponse.empty({ status: 200 })
      })
    ),
    HttpRouter.put(
      "/upload/:id/:part",
      Effect.gen(function*() {
        const session = yield* presigned(true)
        if (HttpServerResponse.isServerResponse(session)) return session
        // as on S3, the parts of a completed upload are gone (NoSuchUpload)
        if (session.completedParts !== undefined) return detail(404, "the upload was completed")
        const params = yield* HttpRouter.params
        const partNumber = Number(params.part)
        if (!Number.isSafeInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
          return detail(400, "the part number must be 1 to 10000")
        }
        const bytes = yield* body
        const etag = etagOf(bytes)
        session.parts.set(partNumber, { bytes, etag })
        return HttpServerResponse.unsafeJson({ partNumber, etag }, { headers: { etag } })
      })
    ),
    HttpRouter.post(
      "/upload/:id/complete",
      Effect.gen(function*() {
        const session = yield* presigned(true)
        if (HttpServerResponse.isServerResponse(session)) return session
        const completed = yield* bodyJson(CompleteBody)
        if (Option.isNone(completed) || completed.value.parts.length === 0) {
          return detail(400, "the body must be JSON {\"parts\": [{\"partNumber\", \"etag\"}, ...]}")
        }
        const listed = completed.value.parts.map((part) => `${part.partNumber}:${part.etag}`).join(",")
        if (session.completedParts !== undefined) {
          // a complete repeated after its answer was lost answers as the first one did
          return session.completedParts === listed
            ? HttpServerResponse.unsafeJson({ file_url: session.fileUrl })
            : detail(409, "the upload was completed with other parts")
        }
        const chunks: Array<Uint8Array> = []
        let previous = 0
        for (const part of completed.value.parts) {
          const stored = session.parts.get(part.partNumber)
          if (part.partNumber <= previous) return detail(400, "parts must be listed in ascending order")
          if (stored === undefined || stored.etag !== part.etag) {
            return detail(400, `part ${part.partNumber} was not uploaded with that etag`)
          }
          previous = part.partNumber
          chunks.push(stored.bytes)
        }
        yield* store(session, chunks)
        session.completedParts = listed
        // the file holds the bytes now: the parts are not kept twice
        session.parts.clear()
        return HttpServerResponse.unsafeJson({ file_url: session.fileUrl })
      })
    )
  )

  const cdn = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/files/:id/:name",
      Effect.gen(function*() {
        const config = yield* StorageConfig
        const files = yield* CdnFiles
        const params = yield* HttpRouter.params
        // The router hands the name decoded; file URLs carry it encoded as `segment` wrote it.
        const url = `${config.cdnBase}/files/${params.id ?? ""}/${encodeURIComponent(params.name ?? "")}`
        const file = yield* files.get(url)
        if (Option.isNone(file)) return detail(404, "File not found")
        return HttpServerResponse.uint8Array(file.value.bytes, { contentType: file.value.contentType })
      })
    )
  )

  return { storage, upload, cdn } as const
})
