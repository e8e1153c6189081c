/**
 * A fal request as a durable step of an `@effect/workflow` workflow. The submit is an `Activity`
 * (its request id is journaled: a resumed workflow never submits again once it is recorded), the
 * completion is a `DurableDeferred` that {@link webhookHandler} completes, raced with a durable poll
 * (`DurableClock` + a status `Activity`) so a lost webhook never strands a job, and the result is
 * one more `Activity`, decoded with the caller's Schema. Interrupting the workflow cancels the
 * request upstream. Failures are the `FalError` union, carried across the journal by
 * {@link FalErrorSchema}.
 *
 * The crash window: a process that dies after fal accepted the submit but before the journal
 * recorded it resubmits on restart. The submit carries a key derived from the execution and the
 * step (`Idempotency-Key`), so where fal honours it the resubmit gets the same request back. Where
 * it does not, the first of the step's requests to finish wins (the step races the first delivery
 * against its poll of the recorded request; the journal keeps the winner) and every other one is
 * cancelled: the recorded one by the step (an `Activity`), an earlier one by
 * {@link webhookHandler} when its delivery comes (it has finished by then: the cancel answers
 * "already completed").
 *
 * @since 0.1.0
 */
import type * as Fal from "@effect-fal/api/Fal"
import type { FalClient } from "@effect-fal/api/FalClient"
import type { FalError } from "@effect-fal/api/FalError"
import type { WebhookKeys } from "@effect-fal/api/WebhookKeys"
import type * as RequestOptions from "@effect-fal/headers/RequestOptions"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import type * as HttpApp from "@effect/platform/HttpApp"
import type { SocketServerError } from "@effect/platform/SocketServer"
import type { SqlError } from "@effect/sql/SqlError"
import type { WorkflowEngine, WorkflowInstance } from "@effect/workflow/WorkflowEngine"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as engines from "./internal/engines.js"
import * as internal from "./internal/falJob.js"

/**
 * The Schema of the `FalError` union: how a step's failure is stored in the journal and comes back
 * as the same tagged error (`catchTag` works on it after a restart).
 *
 * @since 0.1.0
 * @category schemas
 */
export const FalErrorSchema: Schema.Schema<FalError, Schema.Schema.Encoded<typeof internal.FalErrorSchema>> =
  internal.FalErrorSchema

/**
 * What every step of the process uses: the public URL at which {@link webhookHandler} is served
 * (none: the step polls only) and the default poll interval (5 seconds).
 *
 * @since 0.1.0
 * @category configuration
 */
export interface Settings {
  readonly webhookUrl: Option.Option<string>
  readonly pollInterval: Duration.Duration
}

/**
 * The settings of the steps. Provide it to the workflow's layer (`Workflow.toLayer`), not to the
 * call that starts a workflow: a workflow resumed by a webhook or a restart runs in the context
 * it was registered with.
 *
 * @since 0.1.0
 * @category configuration
 */
export const Config: typeof internal.Config = internal.Config

/**
 * @since 0.1.0
 * @category configuration
 */
export type Config = internal.Config

/**
 * Provides the settings: `webhookUrl` is where fal reaches {@link webhookHandler} (every runner of a
 * cluster can serve it).
 *
 * @since 0.1.0
 * @category configuration
 */
export const layerConfig: (options: {
  readonly webhookUrl?: string | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
}) => Layer.Layer<Config> = internal.layerConfig

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<A, I, Id extends Fal.ModelIdInput = string> {
  /** The step's name, unique within its workflow: it names the journal entries. */
  readonly name: string
  readonly modelId: Id
  /**
   * The input: the endpoint's input type for a typed model id, else any JSON value (it is
   * submitted as it is: upload files in an activity first).
   */
  readonly input: Fal.Input<Id>
  /** Decodes the result; the journal stores it encoded. */
  readonly output: Schema.Schema<A, I>
  /** Request options (start timeout, priority, ...); the webhook URL and the key are set by the step. */
  readonly options?: RequestOptions.RequestOptions | undefined
  /** The poll fallback's interval; default the configured one. */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Result<A> {
  readonly requestId: string
  readonly data: A
}

/**
 * Runs a fal request as a durable step of the current workflow: submit (journaled), wait (webhook
 * or poll), result (journaled).
 *
 * @since 0.1.0
 * @category steps
 */
export const run: <A, I, Id extends Fal.ModelIdInput = string>(
  options: Options<A, I, Id>
) => Effect.Effect<Result<A>, FalError, FalClient | Config | WorkflowEngine | WorkflowInstance> = internal.run

/**
 * A shared limit on submits: at most `limit` per `window` for `key` (default `fal:<modelId>`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimit {
  readonly limit: number
  readonly window: Duration.DurationInput
  readonly key?: string | undefined
  /** Default `"fixed-window"`. */
  readonly algorithm?: "fixed-window" | "token-bucket" | undefined
}

/**
 * {@link run} behind `@effect/workflow`'s `DurableRateLimiter`: the step first takes a token from
 * the `RateLimiter` in context (`@effect/experimental`; give every runner of a fleet the same
 * store, e.g. `RateLimiter.layerStoreRedis`, so the fleet keeps to one number of submits per window
 * for the endpoint) and waits, on a durable clock, when the window is spent. The token is
 * journaled: a resumed step does not take another.
 *
 * @since 0.1.0
 * @category steps
 */
export const runRateLimited: <A, I, Id extends Fal.ModelIdInput = string>(
  options: Options<A, I, Id> & { readonly rateLimit: RateLimit }
) => Effect.Effect<
  Result<A>,
  FalError | RateLimiter.RateLimitStoreError,
  FalClient | Config | WorkflowEngine | WorkflowInstance | RateLimiter.RateLimiter
> = internal.runRateLimited

/**
 * The name of the query parameter of the webhook URL that carries the step's token.
 *
 * @since 0.1.0
 * @category webhook
 */
export const tokenParameter: string = internal.tokenParameter

/**
 * An `HttpApp` receiving fal's deliveries for durable steps: verifies the delivery
 * (`Webhooks.verify`, so `WebhookKeys` is required), then completes the step's `DurableDeferred`
 * named by the token in the URL. Any runner can serve it: the engine routes the completion to the
 * workflow wherever it runs. When the step already took another of its requests (a delivery of a
 * request submitted before a crash, see the crash window), it cancels the delivered request with
 * `Queue.cancel` (hence `FalClient`). Answers 200 once done, 400 on a URL without a valid token,
 * the verification's status on a rejected delivery, and 503 while the step's winner is not
 * recorded yet (it waits up to 10 seconds for the runner owning the execution to record it) or
 * the cancel failed (fal delivers again).
 *
 * The winner is read from the execution addressed by the workflow's name in the default shard
 * group: a workflow annotated with another `ShardGroup` is not supported by this check.
 *
 * @since 0.1.0
 * @category webhook
 */
export const webhookHandler: HttpApp.Default<never, WorkflowEngine | WebhookKeys | FalClient> = internal.webhookHandler

// --- engines --------------------------------------------------------------------------------------

/**
 * The in-memory engine (`WorkflowEngine.layerMemory`): for tests and scripts. Nothing survives the
 * process.
 *
 * @since 0.1.0
 * @category engines
 */
export const layerMemory: Layer.Layer<WorkflowEngine> = engines.layerMemory

/**
 * One machine, durable: an `@effect/cluster` single runner whose messages (workflow executions,
 * activity results, deferred completions, clocks) are stored in a SQLite file
 * (`@effect/sql-sqlite-node`). A process restarted on the same file resumes every unfinished
 * workflow where its journal stopped.
 *
 * Its `ShardingConfig` defaults differ from the cluster's where one process owns the file: shard
 * locks refreshed every second and expiring after 5 seconds (a killed process's workflows resume
 * 5 seconds after its restart), storage polled every second, and a caller of `Workflow.execute`
 * whose workflow was resumed polls for its reply every 25 ms (the cluster's: 200 ms). Any of them
 * can be overridden with `shardingConfig`.
 *
 * @since 0.1.0
 * @category engines
 */
export const layerSqlite: (options: {
  /** The database file; created if missing. */
  readonly filename: string
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
}) => Layer.Layer<WorkflowEngine, ConfigError.ConfigError> = engines.layerSqlite

/**
 * @since 0.1.0
 * @category engines
 */
export type PgOptions = engines.PgOptions

/**
 * Many machines: an `@effect/cluster` runner (socket transport) with its message and runner
 * storage in PostgreSQL (`@effect/sql-pg`). Each runner of the fleet takes this layer with its own
 * address; shards (and the workflows on them) are spread over the live runners and move when one
 * goes away. Serve {@link webhookHandler} on every runner.
 *
 * Its `ShardingConfig` is the cluster's default but for the reply poll of a caller of
 * `Workflow.execute` whose workflow was resumed: every 50 ms (the cluster's: 200 ms); override any
 * setting with `shardingConfig`.
 *
 * @since 0.1.0
 * @category engines
 */
export const layerPg: (
  options: PgOptions
) => Layer.Layer<WorkflowEngine, ConfigError.ConfigError | SqlError | SocketServerError> = engines.layerPg
