import type { FalPlatform } from "@effect-fal/testing"
import { createFalClient, type FalClient } from "@fal-ai/client"

/** fal's official client, unmodified, with fal's hosts rewritten to the emulator's bases. */
export const officialClient = (urls: FalPlatform.Urls, key: string): FalClient =>
  createFalClient({
    credentials: key,
    requestMiddleware: async (request) => ({ ...request, url: rewrite(urls, request.url) })
  })

export const rewrite = (urls: FalPlatform.Urls, url: string): string =>
  url.startsWith("https://queue.fal.run")
    ? urls.queue + url.slice("https://queue.fal.run".length)
    : url.startsWith("https://fal.run")
    ? urls.run + url.slice("https://fal.run".length)
    : url.startsWith("https://rest.fal.ai/")
    ? urls.storage + url.slice("https://rest.fal.ai".length)
    : url
