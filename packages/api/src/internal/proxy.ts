/**
 * The server proxy (SPEC section 13): checks the caller and the target, forwards the request with
 * the `FalClient`'s key, and relays fal's answer, a stream staying a stream.
 *
 * The upstream call does not go through the call pipeline (`Request.execute`/`Request.open`): the
 * proxy is a relay, not a caller. The pipeline turns every non-accepted status into a `FalError`
 * and retries what fal's rules call transient; a relay must hand every status and body back as
 * fal sent them, and must not retry (the caller's client retries, and a second POST from the proxy
 * could start a second job). What it keeps of the pipeline: the `FalClient`'s decorated
 * `HttpClient` (which adds `Authorization` to fal's bases only and has the platform's client span
 * off), a span of its own (`fal.proxy`, without the key or the query), a limit on the wait for the
 * answer's headers, and the client's redactor on every text it writes itself.
 *
 * The URL patterns are matched by a small glob compiler rather than a glob library: the patterns
 * are fal's (`fal.run/**`, an escaped `\?` for a literal question mark), and the only syntax they
 * need is `**`, `*` and `\` escapes; a full glob library would add brace and extglob syntax whose
 * meaning in a URL is surprising, and a dependency to a package that runs in browsers too.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as FalClient from "../FalClient.js"
import type * as FalProxy from "../FalProxy.js"

/** The header naming the real URL of a proxied request. */
export const targetUrlHeader = FalClient.targetUrlHeader

/** A glob over `host/path?query`: `**` any characters, `*` any but `/`, `\x` the character x. */
export const compile = (pattern: string): RegExp => {
  let source = ""
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === "\\" && i + 1 < pattern.length) {
      source += escapeRegExp(pattern[++i])
    } else if (c === "*" && pattern[i + 1] === "*") {
      source += ".*"
      i++
    } else if (c === "*") {
      source += "[^/]*"
    } else {
      source += escapeRegExp(c)
    }
  }
  return new RegExp(`^${source}$`)
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

/** A pattern matching one string exactly. */
const escapeGlob = (text: string) => text.replace(/[*\\?]/g, "\\$&")

/** `host/path` of a base URL, without a trailing slash. */
const hostPath = (base: string): string => {
  const url = new URL(base)
  return `${url.host}${url.pathname.replace(/\/+$/, "")}`
}

/** The patterns fal's proxy allows, for one set of bases. */
export const patternsFor = (bases: FalProxy.Bases, options?: { readonly tokens?: boolean | undefined }) => {
  const storage = escapeGlob(hostPath(bases.storage))
  return [
    `${escapeGlob(hostPath(bases.run))}/**`,
    `${escapeGlob(hostPath(bases.queue))}/**`,
    `${storage}/storage/upload/initiate\\?storage_type=fal-cdn-v3`,
    `${storage}/storage/upload/initiate-multipart\\?storage_type=fal-cdn-v3`,
    `${storage}/storage/upload/complete-multipart\\?storage_type=fal-cdn-v3`,
    ...(options?.tokens === true
      ? [
        `${storage}/tokens/`,
        ...(bases.rest === undefined ? [] : [`${escapeGlob(hostPath(bases.rest))}/tokens/`])
      ]
      : [])
  ]
}

/** The hop-by-hop headers (RFC 9110 section 7.6.1) and those the relay rewrites. */
const dropped = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "content-encoding",
  "set-cookie"
])

/** A refusal: a small JSON body saying why, nothing sent upstream. */
const refuse = (status: number, error: string) => HttpServerResponse.unsafeJson({ error }, { status })

interface Compiled {
  readonly patterns: ReadonlyArray<RegExp>
  readonly endpoints: Option.Option<ReadonlyArray<RegExp>>
  /** `host/path` prefixes under which a POST names a model (run and queue bases). */
  readonly modelBases: ReadonlyArray<string>
  /** `host/path` of the storage and rest bases: their POSTs (uploads, tokens) name no model. */
  readonly storageBases: ReadonlyArray<string>
  readonly maxBodySize: Option.Option<number>
  readonly timeout: Option.Option<Duration.Duration>
}

/** Checks the options once; an unusable one is a message the proxy answers with (500). */
const compileOptions = <R>(options: FalProxy.Options<R>): Compiled | string => {
  const maxBodySize = options.maxBodySize
  if (maxBodySize !== undefined && !(Number.isInteger(maxBodySize) && maxBodySize >= 0)) {
    return "maxBodySize is not an integer >= 0"
  }
  let timeout = Option.none<Duration.Duration>()
  if (options.timeout !== undefined) {
    const decoded = Duration.decodeUnknown(options.timeout)
    if (Option.isNone(decoded) || !Duration.greaterThan(decoded.value, Duration.zero)) {
      return "timeout is not a positive duration"
    }
    timeout = decoded
  }
  const bases: ReadonlyArray<FalProxy.Bases> = [FalClient.defaultUrls, ...(options.allowedBases ?? [])]
  const patterns: Array<string> = []
  const modelBases: Array<string> = []
  const storageBases: Array<string> = []
  for (const base of bases) {
    for (const url of [base.run, base.queue, base.storage, ...(base.rest === undefined ? [] : [base.rest])]) {
      if (!URL.canParse(url)) return `allowedBases: ${JSON.stringify(url)} is not an absolute URL`
    }
    modelBases.push(hostPath(base.run), hostPath(base.queue))
    storageBases.push(hostPath(base.storage), ...(base.rest === undefined ? [] : [hostPath(base.rest)]))
  }
  patterns.push(
    ...(options.allowedUrlPatterns ?? patternsFor(FalClient.defaultUrls, { tokens: options.allowTokens })),
    ...(options.allowedBases ?? []).flatMap((base) => patternsFor(base, { tokens: options.allowTokens }))
  )
  return {
    patterns: patterns.map(compile),
    endpoints: options.allowedEndpoints === undefined
      ? Option.none()
      : Option.some(options.allowedEndpoints.map(compile)),
    modelBases,
    storageBases,
    maxBodySize: Option.fromNullable(maxBodySize),
    timeout
  }
}

/** The model id a POST names: its path under a run or queue base, else its path. */
const endpointOf = (compiled: Compiled, target: URL): string => {
  const location = `${target.host}${target.pathname}`
  for (const base of compiled.modelBases) {
    if (location.startsWith(`${base}/`)) return location.slice(base.length + 1)
  }
  return target.pathname.replace(/^\/+/, "")
}

type Checked = { readonly _tag: "Refused"; readonly response: HttpServerResponse.HttpServerResponse } | {
  readonly _tag: "Allowed"
  readonly target: URL
}

const checkTarget = (
  compiled: Compiled,
  client: FalClient.Service,
  method: string,
  header: string | undefined
): Checked => {
  const refused = (error: string): Checked => ({ _tag: "Refused", response: refuse(400, error) })
  if (header === undefined || header === "") return refused(`the ${targetUrlHeader} header is missing`)
  if (!URL.canParse(header)) return refused(`${targetUrlHeader} is not an absolute URL`)
  const target = new URL(header)
  if (target.protocol !== "https:" && target.protocol !== "http:") {
    return refused(`${targetUrlHeader} is not an http(s) URL`)
  }
  if (target.username !== "" || target.password !== "") {
    return refused(`${targetUrlHeader} carries credentials`)
  }
  const location = `${target.host}${target.pathname}${target.search}`
  if (!compiled.patterns.some((pattern) => pattern.test(location))) {
    return refused(`the target ${target.host}${target.pathname} is not allowed by this proxy`)
  }
  if (!client.isFalUrl(target.href)) {
    return refused(`the target ${target.host}${target.pathname} is not under the FalClient's bases`)
  }
  if (method === "POST" && Option.isSome(compiled.endpoints)) {
    const endpoint = endpointOf(compiled, target)
    const location = `${target.host}${target.pathname}`
    const storage = compiled.storageBases.some((base) => location.startsWith(`${base}/`))
    if (!storage && !compiled.endpoints.value.some((pattern) => pattern.test(endpoint))) {
      return refused(`the endpoint ${endpoint} is not allowed by this proxy`)
    }
  }
  return { _tag: "Allowed", target }
}

/** The request's `x-fal-*` headers (but the target), its content type and accept. */
const forwardedHeaders = (headers: Headers.Headers): Headers.Headers => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith("x-fal-") && name !== targetUrlHeader) out[name] = value
  }
  if (headers.accept !== undefined) out.accept = headers.accept
  return Headers.fromInput(out)
}

class TooLarge {
  readonly _tag = "TooLarge"
}

class Unreadable {
  readonly _tag = "Unreadable"
}

/**
 * How much of a body over the limit is still read (and dropped) before answering 413: a client
 * is still sending, and a server that answers without reading the rest closes the connection
 * under it, so the client sees a reset instead of the 413. Past this much it is reset.
 */
const drainAllowance = 1024 * 1024

/** Reads and drops the rest of a body (up to `bound` bytes in all). */
const drain = (request: HttpServerRequest.HttpServerRequest, bound: number) =>
  Stream.runFoldWhile(request.stream, 0, (total) => total <= bound, (total, chunk) => total + chunk.length).pipe(
    Effect.ignore
  )

/**
 * The body to send on, or a 413: streamed when its length is declared, else read whole (up to
 * the limit) so that a body over the limit sends nothing.
 */
const forwardedBody = (
  request: HttpServerRequest.HttpServerRequest,
  max: number,
  exceeded: Ref.Ref<boolean>
): Effect.Effect<HttpBody.HttpBody | TooLarge | Unreadable> => {
  if (request.method === "GET" || request.method === "HEAD") return Effect.succeed(HttpBody.empty)
  const contentType = request.headers["content-type"]
  const declared = request.headers["content-length"]
  if (declared !== undefined) {
    const length = Number(declared)
    if (!Number.isSafeInteger(length) || length < 0) return Effect.succeed(new Unreadable())
    if (length > max) {
      return length <= max + drainAllowance
        ? Effect.as(drain(request, length), new TooLarge())
        : Effect.succeed(new TooLarge())
    }
    if (length === 0) return Effect.succeed(HttpBody.empty)
    // Counted even when declared: a body longer than it said is cut off, never relayed.
    const counted = Stream.mapAccumEffect(request.stream, 0, (total, chunk) => {
      const next = total + chunk.length
      return next > max
        ? Effect.zipRight(Ref.set(exceeded, true), Effect.fail(new TooLarge()))
        : Effect.succeed([next, chunk] as const)
    })
    return Effect.succeed(HttpBody.stream(counted, contentType, length))
  }
  // Kept until the limit is passed, then only counted (and dropped) up to the drain allowance.
  return Stream.runFoldWhile(
    request.stream,
    { chunks: [] as Array<Uint8Array>, total: 0 },
    (state) => state.total <= max + drainAllowance,
    (state, chunk) => {
      const total = state.total + chunk.length
      if (total > max) return { chunks: [], total }
      state.chunks.push(chunk)
      return { chunks: state.chunks, total }
    }
  ).pipe(
    Effect.map(({ chunks, total }): HttpBody.HttpBody | TooLarge | Unreadable => {
      if (total > max) return new TooLarge()
      if (total === 0) return HttpBody.empty
      const bytes = new Uint8Array(total)
      let offset = 0
      for (const chunk of chunks) {
        bytes.set(chunk, offset)
        offset += chunk.length
      }
      return HttpBody.uint8Array(bytes, contentType)
    }),
    Effect.orElseSucceed(() => new Unreadable())
  )
}

/** fal's answer, relayed: the status, the headers but {@link dropped}, the body as a stream. */
const relay = (
  client: FalClient.Service,
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(response.headers)) {
    if (!dropped.has(name)) headers[name] = client.redact(value)
  }
  const contentType = response.headers["content-type"]
  // An error answer is short and may quote the request: read it and redact the key from it.
  // Any other answer (SSE, binary, model outputs) streams through as it arrives.
  if (response.status >= 400) {
    return response.text.pipe(
      Effect.orElseSucceed(() => ""),
      Effect.map((text) =>
        HttpServerResponse.text(client.redact(text), {
          status: response.status,
          headers: Headers.fromInput(headers),
          ...(contentType === undefined ? {} : { contentType })
        })
      )
    )
  }
  return Effect.succeed(HttpServerResponse.stream(response.stream, {
    status: response.status,
    headers: Headers.fromInput(headers),
    ...(contentType === undefined ? {} : { contentType })
  }))
}

/** `FalProxy.httpApp`. */
export const httpApp = <R = never>(
  options: FalProxy.Options<R>
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  HttpServerRequest.HttpServerRequest | FalClient.FalClient | R
> => {
  const compiled = compileOptions(options)
  const authenticate = options.authenticate
  return Effect.gen(function*() {
    if (typeof compiled === "string") return refuse(500, `the proxy is misconfigured: ${compiled}`)
    const request = yield* HttpServerRequest.HttpServerRequest
    const client = yield* FalClient.FalClient
    const authenticated = authenticate === undefined
      ? false
      : yield* authenticate(request).pipe(Effect.catchAllCause(() => Effect.succeed(false)))
    if (!authenticated) {
      return refuse(
        401,
        authenticate === undefined
          ? "unauthenticated: this proxy has no authenticate option, so it refuses every caller"
          : "unauthenticated"
      )
    }
    const checked = checkTarget(compiled, client, request.method, request.headers[targetUrlHeader])
    if (checked._tag === "Refused") return checked.response
    const exceeded = yield* Ref.make(false)
    const max = Option.getOrElse(compiled.maxBodySize, () => client.maxInputSize)
    const tooLarge = () => refuse(413, `the request body is larger than this proxy's limit of ${max} bytes`)
    const body = yield* forwardedBody(request, max, exceeded)
    if (body instanceof TooLarge) return tooLarge()
    if (body instanceof Unreadable) return refuse(400, "the request body could not be read")
    const upstream = HttpClientRequest.modify(HttpClientRequest.get(checked.target.href), {
      method: request.method,
      headers: forwardedHeaders(request.headers),
      body
    })
    const timeout = Option.getOrElse(compiled.timeout, () => client.timeouts.run.headers)
    return yield* client.httpClient.execute(upstream).pipe(
      Effect.timeoutFail({ duration: timeout, onTimeout: () => "timeout" as const }),
      Effect.flatMap((response) =>
        Effect.zipRight(
          Effect.annotateCurrentSpan("http.response.status_code", response.status),
          relay(client, response)
        )
      ),
      Effect.catchAll((error) =>
        Effect.map(Ref.get(exceeded), (over) =>
          over
            ? tooLarge()
            : error === "timeout"
            ? refuse(504, `fal did not answer within ${Duration.format(timeout)}`)
            : refuse(502, `fal could not be reached: ${client.redact(error.message)}`))
      ),
      Effect.withSpan("fal.proxy", {
        kind: "server",
        attributes: {
          "http.request.method": request.method,
          "server.address": checked.target.host,
          "url.path": checked.target.pathname
        }
      })
    )
  })
}
