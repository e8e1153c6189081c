// Not part of the repository's type check (tsconfig.scripts.json excludes it): here @fal-ai/client is installed.
// Checked without `skipLibCheck`, in a project without `@fal-ai/client`: the published declarations
// compile, and no model id is typed (inputs and outputs are `unknown`, never `any`).
import type { Fal } from "@effect-fal/api"

type NoTypedIds = [keyof Fal.EndpointMap] extends [never] ? true : false
export const noTypedIds: NoTypedIds = true
export const anyInput: Fal.Input<"fal-ai/flux/dev"> = 42
// @ts-expect-error: the output of an untyped id is `unknown`, not `any`
export const output: string = null as unknown as Fal.Output<"fal-ai/flux/dev">
