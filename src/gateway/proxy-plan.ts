// What to do with a request under /api/v1/proxy/*: answer it ourselves (source
// maps, ?token= redirect, auth failures, preflights) or forward it. Platform-free:
// the Node fast path and the fetch-based path both act on the outcome.

import type { TokenGrant } from '../cache/interface'
import type { Config } from '../config'
import { createUrlMapper, parseLocalUrl, type UrlMapper } from '../rewrite/url-mapper'
import type { TokenService } from '../services/tokens'
import { accessCookie } from './cookie'
import { type TokenSource, tokenFromRequest } from './token-source'

export interface ProxyRequest {
  method: string
  /** The path after /api/v1/proxy, starting with '/'. */
  path: string
  /** The raw query string with its '?', or ''. */
  search: string
  header(name: string): string | null | undefined
}

export type ProxyOutcome =
  | { kind: 'reply'; status: number; headers: string[]; body: string }
  | { kind: 'forward'; url: string; grant: TokenGrant; hash: string; mapper: UrlMapper; source: TokenSource; corsOrigin: string | null }

const JSON_TYPE = ['Content-Type', 'application/json']
const reply = (status: number, detail: string, headers: string[] = []): ProxyOutcome => ({
  kind: 'reply',
  status,
  headers: [...JSON_TYPE, ...headers],
  body: JSON.stringify({ detail }),
})

export const AUTH_REQUIRED = 'Authentication required: provide cookie or X-Access-Token header'
export const INVALID_TOKEN = 'Invalid or expired access token'
export const BAD_GATEWAY = 'Bad Gateway: Unable to reach Zenzefi server'
export const GATEWAY_TIMEOUT = 'Gateway Timeout: Zenzefi server did not respond'

function decodedKey(pair: string): string {
  const key = pair.split('=')[0]!.replace(/\+/g, ' ')
  try {
    return decodeURIComponent(key)
  } catch {
    return key // a broken %-escape can't spell `token`
  }
}

/** The query string without its `token` parameters, other parameters byte for byte. */
export function withoutTokenParam(search: string): string {
  const kept = search
    .slice(1)
    .split('&')
    .filter((pair) => pair !== '' && decodedKey(pair) !== 'token')
  return kept.length ? `?${kept.join('&')}` : ''
}

export function tokenParam(search: string): string | null {
  if (!search.includes('token=')) return null
  return new URLSearchParams(search).get('token')
}

export function createProxyPlanner(deps: { config: Config; tokens: TokenService; now: () => number }) {
  const { config, tokens } = deps
  const target = config.zenzefiTargetUrl
  const direct = createUrlMapper({ upstream: target, backendUrl: config.backendUrl, localUrl: null })
  // Desktop clients send one of a handful of loopback origins: a small memo avoids rebuilding mappers per request.
  const desktop = new Map<string, UrlMapper>()

  const mapperFor = (req: ProxyRequest): UrlMapper => {
    const raw = req.header('x-local-url')
    if (!raw) return direct
    const local = parseLocalUrl(raw)
    if (!local) return direct
    let m = desktop.get(local)
    if (!m) {
      if (desktop.size > 32) desktop.clear()
      m = createUrlMapper({ upstream: target, backendUrl: config.backendUrl, localUrl: local })
      desktop.set(local, m)
    }
    return m
  }

  const corsOriginOf = (req: ProxyRequest) => {
    const origin = req.header('origin')
    return origin && config.corsOrigins.includes(origin) ? origin : null
  }

  return {
    mapperFor,
    corsOriginOf,

    async plan(req: ProxyRequest): Promise<ProxyOutcome> {
      const corsOrigin = corsOriginOf(req)
      if (req.method === 'OPTIONS' && req.header('access-control-request-method')) {
        // Preflights carry no credentials, so we answer them rather than Zenzefi.
        const headers = corsOrigin
          ? [
              'Access-Control-Allow-Origin',
              corsOrigin,
              'Access-Control-Allow-Credentials',
              'true',
              'Access-Control-Allow-Methods',
              'GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD',
              'Access-Control-Allow-Headers',
              req.header('access-control-request-headers') ?? 'Content-Type',
              'Access-Control-Max-Age',
              '600',
              'Vary',
              'Origin',
            ]
          : []
        return { kind: 'reply', status: 204, headers, body: '' }
      }
      if (req.path.endsWith('.map')) return reply(404, 'Source maps not available through proxy')

      const queryToken = tokenParam(req.search)
      if (queryToken !== null) {
        const grant = await tokens.checkStatus(queryToken)
        if (!grant) return reply(401, 'Invalid or expired access token in query parameter')
        const mapper = mapperFor(req)
        const rest = withoutTokenParam(req.search)
        const location = mapper.desktop ? `${mapper.publicBase}${req.path}${rest}` : `${mapper.publicBase}${req.path}${rest}`
        const maxAge = grant.expiresAt === null ? grant.durationHours * 3600 : (grant.expiresAt - deps.now()) / 1000
        return {
          kind: 'reply',
          status: 303,
          headers: ['Location', location, 'Set-Cookie', accessCookie(queryToken, maxAge, config), 'Cache-Control', 'no-store'],
          body: '',
        }
      }

      const presented = tokenFromRequest(req.header)
      if (!presented) return reply(401, AUTH_REQUIRED)
      const auth = await tokens.authorize(presented.token)
      if (!auth) return reply(401, INVALID_TOKEN)
      return {
        kind: 'forward',
        url: target + req.path + req.search,
        grant: auth.grant,
        hash: auth.hash,
        mapper: mapperFor(req),
        source: presented.source,
        corsOrigin,
      }
    },
  }
}

export type ProxyPlanner = ReturnType<typeof createProxyPlanner>
