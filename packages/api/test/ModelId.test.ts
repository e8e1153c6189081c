import { ModelId } from "@effect-fal/api"
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"

describe("ModelId", () => {
  it("rejects dot segments with InvalidModelId (a URL parser would resolve them to another path)", () => {
    for (const id of ["a/.", "./a", "a/./b", "a/..", "../a", "a/b/.", "a/b/../c"]) {
      const parsed = ModelId.parse(id)
      assert.isTrue(Either.isLeft(parsed), `${id} must be rejected`)
      if (Either.isLeft(parsed)) {
        assert.strictEqual(parsed.left._tag, "InvalidModelId")
        assert.strictEqual(parsed.left.modelId, id)
      }
    }
  })

  it("keeps dots inside a segment", () => {
    for (const id of ["a/b.c", "fal-ai/flux-1.1/dev", "a/.b", "a/b./c"]) {
      assert.isTrue(Either.isRight(ModelId.parse(id)), `${id} must be accepted`)
    }
  })
})
