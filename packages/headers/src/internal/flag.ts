import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as HeaderCodec from "../HeaderCodec.js"
import { parseFlag } from "./text.js"

/** A boolean header: encoded with the given spellings, decoded from 1/0, true/false, yes/no in any case. */
export const make = (name: string, spelling: { readonly true: string; readonly false: string }) =>
  HeaderCodec.make<boolean>({
    name,
    location: "header",
    expected: "a boolean",
    type: Schema.Boolean,
    validate: (flag) => typeof flag === "boolean" ? undefined : "must be a boolean",
    parse: (wire) => {
      const flag = parseFlag(wire)
      return flag === undefined ? Either.left("must be one of 1, true, yes, 0, false, no") : Either.right(flag)
    },
    print: (flag) => flag ? spelling.true : spelling.false,
    show: String,
    arbitrary: (fc) => fc.boolean()
  })
