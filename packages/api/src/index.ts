/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Fal from "./Fal.js"

/**
 * @since 0.1.0
 */
export * as FalClient from "./FalClient.js"

/**
 * @since 0.1.0
 */
export * as FalError from "./FalError.js"

/**
 * @since 0.1.0
 */
export * as ModelId from "./ModelId.js"

/**
 * @since 0.1.0
 */
export * as Payloads from "./Payloads.js"

/**
 * @since 0.1.0
 */
export * as Purge from "./Purge.js"

/**
 * @since 0.1.0
 */
export * as Queue from "./Queue.js"

/**
 * @since 0.1.0
 */
export * as Requests from "./Requests.js"

/**
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

/**
 * @since 0.1.0
 */
export * as WebhookKeys from "./WebhookKeys.js"

/**
 * @since 0.1.0
 */
export * as Webhooks from "./Webhooks.js"

/**
 * @since 0.2.0
 */
export * as Storage from "./Storage.js"

/**
 * @since 0.2.0
 */
export * as Tokens from "./Tokens.js"

/**
 * @since 0.2.0
 */
export * as TokenProvider from "./TokenProvider.js"

/**
 * @since 0.2.0
 */
export * as FalStream from "./FalStream.js"

/**
 * @since 0.2.0
 */
export * as Realtime from "./Realtime.js"

/**
 * The server proxy (SPEC section 13): a route of your application that browsers call instead of
 * fal, so the key stays on the server.
 *
 * @since 0.2.0
 */
export * as FalProxy from "./FalProxy.js"
