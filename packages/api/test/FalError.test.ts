import { FalError } from "@effect-fal/api"
import { assert, describe, it } from "@effect/vitest"
import * as Option from "effect/Option"

describe("FalError.isFalError", () => {
  it("recognises every member of the union by its TypeId", () => {
    const members: ReadonlyArray<FalError.FalError> = [
      new FalError.InvalidModelId({ modelId: "x", reason: "r" }),
      new FalError.InvalidRequestId({ requestId: "x", reason: "r" }),
      new FalError.StartTimeout({}),
      new FalError.QueueFull({}),
      new FalError.RateLimited({ retryAfter: Option.none() }),
      new FalError.Unauthorized({}),
      new FalError.Forbidden({}),
      new FalError.NotFound({}),
      new FalError.ValidationError({ issues: [] }),
      new FalError.Cancelled({})
    ]
    for (const error of members) assert.isTrue(FalError.isFalError(error), error._tag)
  })

  it("refuses what is not one", () => {
    assert.isFalse(FalError.isFalError(new Error("ValidationError")))
    assert.isFalse(FalError.isFalError({ _tag: "ValidationError", issues: [] }))
    assert.isFalse(FalError.isFalError(new FalError.InvalidConfiguration({ option: "o", reason: "r" })))
  })
})
