/**
 * The purge checkpoint's lock (issue 23): a file checkpoint holds `<checkpoint>.lock` (created
 * exclusively, with its pid and host) while open; a second purge on it fails with
 * `CheckpointLocked` naming the lock file and the pid, or waits with `waitForLock`; a lock left
 * by a process no longer alive is taken over; the lock goes when the scope closes, whether the
 * purge succeeded, failed or was interrupted.
 */
import { Purge } from "@effect-fal/api"
import { NodeFileSystem } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Os from "node:os"

/** A pid above Linux's highest (2^22): no process has it. */
const deadPid = 4_194_305

const Owner = Schema.parseJson(Schema.Struct({ pid: Schema.Number, host: Schema.String }))

/** A fresh checkpoint path in a temporary directory of the test's scope. */
const checkpointPath = Effect.map(
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped()),
  (dir) => `${dir}/purge.jsonl`
)

const lockOwner = (path: string) =>
  Effect.flatMap(
    FileSystem.FileSystem,
    (fs) => Effect.flatMap(fs.readFileString(`${path}.lock`), Schema.decodeUnknown(Owner))
  )

const lockExists = (path: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(`${path}.lock`))

/** Lets the file system's callbacks run (its work is off the fiber). */
const ioTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** Moves the TestClock on in 100 ms steps, letting I/O finish between them, until the fiber ends. */
const driveUntilDone = <A, E>(fiber: Fiber.Fiber<A, E>, steps: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < steps; i++) {
      if ((yield* Fiber.poll(fiber))._tag === "Some") break
      for (let j = 0; j < 5; j++) yield* ioTurn
      yield* TestClock.adjust("100 millis")
    }
    return yield* Fiber.await(fiber)
  })

describe("Purge checkpoint lock", () => {
  it.scoped("a second purge on a held checkpoint fails with CheckpointLocked naming the lock file and the pid", () =>
    Effect.gen(function*() {
      const path = yield* checkpointPath
      yield* Purge.file(path)
      const owner = yield* lockOwner(path)
      assert.strictEqual(owner.pid, process.pid)
      assert.strictEqual(owner.host, Os.hostname())
      const second = yield* Effect.flip(Effect.scoped(Purge.file(path)))
      assert.strictEqual(second._tag, "CheckpointLocked")
      if (second._tag !== "CheckpointLocked") return
      assert.strictEqual(second.lockFile, `${path}.lock`)
      assert.strictEqual(second.pid, process.pid)
      assert.include(second.message, `${path}.lock`)
      assert.include(second.message, `process ${process.pid}`)
      // the same through the layer
      const layered = yield* Effect.flip(Effect.scoped(Effect.asVoid(Effect.provide(
        Purge.PurgeCheckpoint,
        Purge.layerFile(path)
      ))))
      assert.strictEqual(layered._tag, "CheckpointLocked")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("a stale lock (its pid not alive on this host) is taken over", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* checkpointPath
      yield* fs.writeFileString(
        `${path}.lock`,
        JSON.stringify({ pid: deadPid, host: Os.hostname(), since: "2026-01-01T00:00:00.000Z" })
      )
      const checkpoint = yield* Purge.file(path)
      yield* checkpoint.record({ _tag: "Completed", endpoint: "fal-ai/echo" })
      assert.strictEqual((yield* lockOwner(path)).pid, process.pid)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("a lock of another host, or unreadable, is not taken over", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* checkpointPath
      yield* fs.writeFileString(
        `${path}.lock`,
        JSON.stringify({ pid: deadPid, host: `not-${Os.hostname()}`, since: "2026-01-01T00:00:00.000Z" })
      )
      const other = yield* Effect.flip(Effect.scoped(Purge.file(path)))
      assert.isTrue(other._tag === "CheckpointLocked" && other.pid === deadPid && other.host === `not-${Os.hostname()}`)
      yield* fs.writeFileString(`${path}.lock`, "")
      const unreadable = yield* Effect.flip(Effect.scoped(Purge.file(path)))
      assert.isTrue(unreadable._tag === "CheckpointLocked" && unreadable.pid === undefined)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("the lock is released when the scope closes: after success, after failure, after interruption", () =>
    Effect.gen(function*() {
      const path = yield* checkpointPath
      yield* Effect.scoped(Purge.file(path))
      assert.isFalse(yield* lockExists(path), "released after success")

      const failed = yield* Effect.exit(Effect.scoped(Effect.zipRight(Purge.file(path), Effect.fail("boom"))))
      assert.isTrue(Exit.isFailure(failed))
      assert.isFalse(yield* lockExists(path), "released after failure")

      const opened = yield* Effect.makeLatch()
      const fiber = yield* Effect.fork(
        Effect.scoped(Effect.zipRight(Purge.file(path), Effect.zipRight(opened.open, Effect.never)))
      )
      yield* opened.await
      assert.isTrue(yield* lockExists(path), "held while the purge runs")
      yield* Fiber.interrupt(fiber)
      assert.isFalse(yield* lockExists(path), "released after interruption")
      // and it can be taken again
      yield* Effect.scoped(Purge.file(path))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("a closed scope never removes another process's lock", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* checkpointPath
      const scope = yield* Scope.make()
      yield* Scope.extend(Purge.file(path), scope)
      // the lock was replaced meanwhile (by hand, or a takeover)
      const foreign = JSON.stringify({ pid: deadPid, host: "elsewhere", since: "2026-01-01T00:00:00.000Z" })
      yield* fs.writeFileString(`${path}.lock`, foreign)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* fs.readFileString(`${path}.lock`), foreign)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("waitForLock: waits while the lock is held, takes it once released", () =>
    Effect.gen(function*() {
      const path = yield* checkpointPath
      const first = yield* Scope.make()
      yield* Scope.extend(Purge.file(path), first)
      const second = yield* Effect.fork(Effect.scoped(Purge.file(path, { waitForLock: "10 seconds" })))
      for (let i = 0; i < 10; i++) {
        for (let j = 0; j < 5; j++) yield* ioTurn
        yield* TestClock.adjust("100 millis")
      }
      assert.isTrue((yield* Fiber.poll(second))._tag === "None", "still waiting while the lock is held")
      yield* Scope.close(first, Exit.void)
      const exit = yield* driveUntilDone(second, 100)
      assert.isTrue(Exit.isSuccess(exit), String(exit))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("waitForLock: fails with CheckpointLocked once the wait has passed", () =>
    Effect.gen(function*() {
      const path = yield* checkpointPath
      yield* Purge.file(path)
      const second = yield* Effect.fork(Effect.scoped(Purge.file(path, { waitForLock: "1 second" })))
      const exit = yield* driveUntilDone(second, 100)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = yield* Effect.flip(exit)
        assert.strictEqual(error._tag, "CheckpointLocked")
      }
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
