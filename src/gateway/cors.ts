// CORS on proxied paths: credentials are allowed, so only listed origins are echoed.

import type { Config } from '../config'

export function corsPolicy(config: Pick<Config, 'corsOrigins'>) {
  const allowed = new Set(config.corsOrigins)
  return {
    /** The request's Origin when it may read the answer with credentials, else null. */
    originOf(origin: string | null | undefined): string | null {
      return origin && allowed.has(origin) ? origin : null
    },
    /** The headers of our answer to a preflight (none for a foreign origin: the browser then refuses). */
    preflightHeaders(origin: string | null, requestedHeaders: string | null | undefined): string[] {
      if (!origin) return []
      return [
        'Access-Control-Allow-Origin',
        origin,
        'Access-Control-Allow-Credentials',
        'true',
        'Access-Control-Allow-Methods',
        'GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD',
        'Access-Control-Allow-Headers',
        requestedHeaders ?? 'Content-Type',
        'Access-Control-Max-Age',
        '600',
        'Vary',
        'Origin',
      ]
    },
  }
}
