/**
 * The queue, as one namespace: the scheduler's pure transitions (`scheduler.ts`), the result
 * records (`results.ts`) and a request's lifecycle (`lifecycle.ts`: admission, dispatch,
 * attempts, retries, cancellation, completion).
 */
export { cancel, type CancelOutcome, complete, markPayloadsDeleted, submit, type SubmitParams } from "./lifecycle.js"
export { userTimeout } from "./results.js"
export { runnerIds } from "./scheduler.js"
