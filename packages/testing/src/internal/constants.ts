/** fal's default base URLs and the default keys. */
export const defaultUrls = {
  run: "https://fal.run",
  queue: "https://queue.fal.run",
  api: "https://api.fal.ai/v1",
  rest: "https://rest.alpha.fal.ai",
  cdn: "https://v3.fal.media",
  storage: "https://rest.fal.ai",
  upload: "https://upload.fal.media"
} as const

export const defaultKeys = {
  user: "fal-test-user-key",
  admin: "fal-test-admin-key"
} as const
