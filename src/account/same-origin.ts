// Every unsafe request to the account page must come from the page itself: the browser says so in
// Sec-Fetch-Site (or, for a browser that sends no Fetch Metadata, in a matching Origin). A form
// or fetch from any other origin — a Zenzefi page above all — is refused before anything runs.

import { createMiddleware } from 'hono/factory'
import { ApiError } from '../http/errors'
import type { AppEnv } from '../http/router'

export const CROSS_ORIGIN_REFUSED = 'Cross-origin request refused'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/** True when the request says it comes from `origin` itself. */
export function fromSameOrigin(headers: { get(name: string): string | null | undefined }, origin: string): boolean {
  const site = headers.get('sec-fetch-site')
  if (site) return site === 'same-origin'
  return headers.get('origin') === origin
}

/** Refuses unsafe methods from anywhere but `origin` (403). */
export function sameOriginOnly(origin: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!SAFE.has(c.req.method) && !fromSameOrigin(c.req.raw.headers, origin)) throw new ApiError(403, CROSS_ORIGIN_REFUSED)
    await next()
  })
}

/** For safe requests that still answer with something private (state, a token): same-origin fetches only. */
export const sameOriginRead = (origin: string) =>
  createMiddleware<AppEnv>(async (c, next) => {
    if (!fromSameOrigin(c.req.raw.headers, origin)) throw new ApiError(403, CROSS_ORIGIN_REFUSED)
    await next()
  })
