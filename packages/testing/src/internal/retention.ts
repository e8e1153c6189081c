/**
 * Retention, as one namespace: the payload store (`payloads.ts`), the CDN (`cdn.ts`) and the
 * result window of completed requests (`resultWindow.ts`). The `Idempotency-Key` cache is
 * `idempotency.ts`.
 */
export * from "./cdn.js"
export * from "./payloads.js"
export * from "./resultWindow.js"
