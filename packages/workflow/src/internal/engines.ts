/**
 * The workflow engines a `FalJob` runs on. Each is a composition of `@effect/workflow` and
 * `@effect/cluster` layers; nothing here stores or routes anything itself.
 */
import * as ClusterWorkflowEngine from "@effect/cluster/ClusterWorkflowEngine"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SingleRunner from "@effect/cluster/SingleRunner"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as WorkflowEngine from "@effect/workflow/WorkflowEngine"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"

export const layerMemory: Layer.Layer<WorkflowEngine.WorkflowEngine> = WorkflowEngine.layerMemory

/**
 * One process owns the file: the shard locks it leaves behind when killed expire after 5 seconds
 * (the cluster's default, 35 s, is for fleets), so a restarted process resumes its workflows soon.
 * A caller of `Workflow.execute` whose workflow was resumed waits for its reply by polling the
 * storage: every 25 ms instead of 200 ms (one query per interval, only while a caller waits).
 */
const singleRunnerDefaults: Partial<ShardingConfig.ShardingConfig["Type"]> = {
  shardLockRefreshInterval: Duration.seconds(1),
  shardLockExpiration: Duration.seconds(5),
  entityMessagePollInterval: Duration.seconds(1),
  entityReplyPollInterval: Duration.millis(25)
}

/**
 * A fleet's runners share the database: the reply poll (one query per runner per interval while a
 * caller waits) is every 50 ms instead of 200 ms; every other setting is the cluster's default.
 */
const runnerDefaults: Partial<ShardingConfig.ShardingConfig["Type"]> = {
  entityReplyPollInterval: Duration.millis(50)
}

export const layerSqlite = (options: {
  readonly filename: string
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
}): Layer.Layer<WorkflowEngine.WorkflowEngine, ConfigError.ConfigError> =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      SingleRunner.layer({
        runnerStorage: "sql",
        shardingConfig: { ...singleRunnerDefaults, ...options.shardingConfig }
      })
    ),
    Layer.provide(SqliteClient.layer({ filename: options.filename })),
    Layer.map((context) => context)
  )

export interface PgOptions {
  readonly url?: Redacted.Redacted<string> | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** This runner's address, as the other runners reach it. */
  readonly runnerAddress: { readonly host: string; readonly port: number }
  /** Where this runner listens; default its address. */
  readonly runnerListenAddress?: { readonly host: string; readonly port: number } | undefined
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
}

export const layerPg = (options: PgOptions) =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      NodeClusterSocket.layer({
        storage: "sql",
        shardingConfig: {
          runnerAddress: Option.some(RunnerAddress.make(options.runnerAddress.host, options.runnerAddress.port)),
          runnerListenAddress: Option.map(
            Option.fromNullable(options.runnerListenAddress),
            (address) => RunnerAddress.make(address.host, address.port)
          ),
          ...runnerDefaults,
          ...options.shardingConfig
        }
      })
    ),
    Layer.provide(
      PgClient.layer({
        url: options.url,
        host: options.host,
        port: options.port,
        database: options.database,
        username: options.username,
        password: options.password
      })
    )
  )
