import { Fal, Queue } from "@effect-fal/api"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, HashSet, Inspectable, Logger, LogLevel, TestClock } from "effect"
import * as Fake from "./utils/fake.js"

describe("security", () => {
  it.effect("no error shows the key: Cause.pretty, logs, JSON.stringify, toString", () =>
    Effect.gen(function*() {
      const answers = [
        () => Fake.json(401, { detail: "bad key" }),
        () => Fake.json(403, {}),
        () => Fake.json(404, {}),
        () => Fake.json(422, { detail: [{ loc: ["body"], msg: "x", type: "y" }] }),
        () => Fake.json(429, {}, { "retry-after": "999" }),
        () => Fake.json(500, {}),
        () => Fake.json(503, { error_type: "runner_disconnected" }),
        () => Fake.json(504, {}, { "x-fal-request-timeout-type": "user" }),
        () => new Response("not json", { status: 200 }),
        () => "reset" as const
      ]
      const logs: Array<string> = []
      const logger = Logger.make(({ cause, message }) => {
        logs.push(`${Inspectable.toStringUnknown(message)} ${Cause.pretty(cause)}`)
      })
      for (const answer of answers) {
        const fake = yield* Fake.layer(answer, { adminKey: true })
        const fiber = yield* Fal.run("a/b", {}).pipe(Effect.provide(fake.layer), Effect.fork)
        yield* TestClock.adjust("10 minutes")
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          yield* Effect.logError("call failed", exit.cause).pipe(
            Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
            Logger.withMinimumLogLevel(LogLevel.All)
          )
          const texts = [
            Cause.pretty(exit.cause),
            JSON.stringify(Cause.squash(exit.cause)),
            String(Cause.squash(exit.cause)),
            Inspectable.toStringUnknown(exit.cause),
            ...logs
          ]
          for (const text of texts) {
            assert.notInclude(text, Fake.KEY)
            assert.notInclude(text, Fake.ADMIN_KEY)
            assert.notInclude(text, "fake-key-secret")
          }
        }
      }
      assert.isTrue(logs.length === answers.length)
      assert.isTrue(HashSet.size(HashSet.fromIterable(logs)) > 1)
    }))

  it.effect("a server that echoes the key in an error body does not get it into the error", () =>
    Effect.gen(function*() {
      const echoes = [
        () => Fake.json(401, { detail: `Invalid key: Key ${Fake.KEY}` }),
        () =>
          Fake.json(403, { error: { type: "authorization_error", message: `${Fake.ADMIN_KEY} lacks ADMIN scope` } }),
        () => Fake.json(422, { detail: `bad input near ${Fake.KEY}` })
      ]
      for (const answer of echoes) {
        const fake = yield* Fake.layer(answer, { adminKey: true })
        const error = yield* Effect.flip(Fal.run("a/b", {}).pipe(Effect.provide(fake.layer)))
        const rendered = [JSON.stringify(error), error.message, String(error)]
        for (const text of rendered) {
          assert.notInclude(text, Fake.KEY)
          assert.notInclude(text, Fake.ADMIN_KEY)
          assert.include(text, "<redacted>")
        }
      }
      const cancel = yield* Fake.layer(() => Fake.json(400, { status: "ERROR", detail: `no such key ${Fake.KEY}` }))
      const cancelled = yield* Effect.flip(
        Queue.cancel({ modelId: "fal-ai/x", requestId: "00000000-0000-4000-8000-000000000001" }).pipe(
          Effect.provide(cancel.layer)
        )
      )
      assert.notInclude(JSON.stringify(cancelled), Fake.KEY)
      assert.include(cancelled.message, "<redacted>")
    }))

  it.effect("an invalid status request id sends nothing", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.layer(() => Fake.json(200, {}))
      const errors = yield* Effect.all(
        ["", "a b", "x?y", "x#y", ".."].map((requestId) =>
          Effect.flip(Queue.result({ modelId: "fal-ai/x", requestId }))
        )
      ).pipe(Effect.provide(fake.layer))
      assert.isTrue(errors.every((e) => e._tag === "InvalidRequestId"))
    }))
})
