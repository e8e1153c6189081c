/** fal's default bases and the default keys. */
export const defaultBases = {
  run: "https://fal.run",
  queue: "https://queue.fal.run",
  api: "https://api.fal.ai/v1",
  rest: "https://rest.alpha.fal.ai",
  cdn: "https://v3.fal.media"
} as const

export const defaultKeys = {
  user: "fal-test-user-key",
  admin: "fal-test-admin-key"
} as const
