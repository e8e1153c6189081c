/**
 * The result records a request completes with: success, model failure, the start-timeout 504,
 * the cancellation 499; each with fal's response headers.
 */
import { ResponseMeta } from "@effect-fal/headers"
import * as Duration from "effect/Duration"
import type * as FalPlatform from "../FalPlatform.js"
import type { Job } from "./jobs.js"

const jsonHeaders = { "content-type": "application/json" }

export const success = (job: Job, runnerId: string, body: string, units: number): FalPlatform.ResultRecord => ({
  status: 200,
  headers: {
    ...jsonHeaders,
    ...ResponseMeta.toHeaders({
      requestId: job.id,
      billableUnits: units,
      servedFrom: runnerId,
      runnerHints: [runnerId]
    })
  },
  body,
  error: undefined,
  errorType: undefined
})

export const failure = (
  job: Job,
  options: {
    readonly status: number
    readonly detail: unknown
    readonly errorType?: string | undefined
    readonly servedFrom?: string | undefined
    readonly retryable?: boolean | undefined
    readonly userTimeout?: boolean
  }
): FalPlatform.ResultRecord => {
  const body: Record<string, unknown> = { detail: options.detail }
  if (options.errorType !== undefined) body.error_type = options.errorType
  return {
    status: options.status,
    headers: {
      ...jsonHeaders,
      ...ResponseMeta.toHeaders({
        requestId: job.id,
        billableUnits: 0,
        ...(options.servedFrom !== undefined ? { servedFrom: options.servedFrom } : {}),
        ...(options.errorType !== undefined ? { errorType: options.errorType } : {}),
        ...(options.retryable !== undefined ? { retryable: options.retryable } : {}),
        ...(options.userTimeout === true ? { timeoutType: "user" as const } : {})
      })
    },
    body: JSON.stringify(body),
    error: typeof options.detail === "string" ? options.detail : `Request failed with status ${options.status}`,
    errorType: options.errorType
  }
}

/** The 504 of an expired start timeout (`X-Fal-Request-Timeout-Type: user`). */
export const userTimeout = (job: Job): FalPlatform.ResultRecord =>
  failure(job, {
    status: 504,
    detail: `Request did not start within its start timeout of ${
      job.options.startTimeout === undefined ? "?" : Duration.toSeconds(Duration.decode(job.options.startTimeout))
    } seconds`,
    errorType: "request_timeout",
    userTimeout: true
  })

export const cancelled = (job: Job): FalPlatform.ResultRecord =>
  failure(job, { status: 499, detail: "Request cancelled by the client", errorType: "client_cancelled" })
