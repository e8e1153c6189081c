/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as DisableFallback from "./DisableFallback.js"

/**
 * @since 0.1.0
 */
export * as ErrorType from "./ErrorType.js"

/**
 * @since 0.1.0
 */
export * as HeaderCodec from "./HeaderCodec.js"

/**
 * @since 0.1.0
 */
export * as IdempotencyKey from "./IdempotencyKey.js"

/**
 * @since 0.1.0
 */
export * as InvalidRequestOptions from "./InvalidRequestOptions.js"

/**
 * @since 0.1.0
 */
export * as MaxQueueLength from "./MaxQueueLength.js"

/**
 * @since 0.1.0
 */
export * as NoRetry from "./NoRetry.js"

/**
 * @since 0.1.0
 */
export * as ObjectLifecycle from "./ObjectLifecycle.js"

/**
 * @since 0.1.0
 */
export * as QueuePriority from "./QueuePriority.js"

/**
 * @since 0.1.0
 */
export * as RequestOptions from "./RequestOptions.js"

/**
 * @since 0.1.0
 */
export * as ResponseMeta from "./ResponseMeta.js"

/**
 * @since 0.1.0
 */
export * as RunnerHint from "./RunnerHint.js"

/**
 * @since 0.1.0
 */
export * as StartTimeout from "./StartTimeout.js"

/**
 * @since 0.1.0
 */
export * as StoreIO from "./StoreIO.js"

/**
 * @since 0.1.0
 */
export * as Webhook from "./Webhook.js"
