/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as FalEmulator from "./FalEmulator.js"

/**
 * @since 0.1.0
 */
export * as FalPlatform from "./FalPlatform.js"

/**
 * @since 0.1.0
 */
export * as Fault from "./Fault.js"

/**
 * @since 0.2.0
 */
export * as Gateway from "./Gateway.js"

/**
 * @since 0.2.0
 */
export * as Link from "./Link.js"

/**
 * @since 0.1.0
 */
export * as Model from "./Model.js"

/**
 * @since 0.1.0
 */
export * as WebhookSigner from "./WebhookSigner.js"

/**
 * @since 0.2.0
 */
export * as StorageEmulator from "./StorageEmulator.js"

/**
 * @since 0.1.0
 */
export * as RequestHistory from "./RequestHistory.js"
