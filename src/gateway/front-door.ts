// The first decision for every request, on both runtimes: proxied to Zenzefi, or
// the JSON API. Made on the normalised request-target, so absolute-form targets
// and dot segments take the same route as their plain spelling. Proxied requests
// never pass through the API's middleware (body limit, CORS, access log).

import { PROXY_PREFIX } from '../rewrite/url-mapper'
import { normaliseTarget } from './request-target'

// Served by the API even though they sit under the proxy prefix.
const COOKIE_ENDPOINTS: Record<string, string> = { '/authenticate': 'POST', '/status': 'GET', '/logout': 'DELETE' }

export type Route = { kind: 'api' } | { kind: 'proxy'; path: string; search: string } | { kind: 'invalid' }

export function routeOf(method: string, rawTarget: string): Route {
  const target = normaliseTarget(rawTarget)
  if (!target) return { kind: 'invalid' }
  const { path, search } = target
  if (!path.startsWith(PROXY_PREFIX) || (path.length > PROXY_PREFIX.length && path[PROXY_PREFIX.length] !== '/')) return { kind: 'api' }
  const sub = path.slice(PROXY_PREFIX.length) || '/'
  if (COOKIE_ENDPOINTS[sub] === method) return { kind: 'api' }
  return { kind: 'proxy', path: sub, search }
}

/**
 * True for a request addressed to the account page's origin (ACCOUNT_URL), by its Host: that
 * origin serves the account app alone, never Zenzefi, so no Zenzefi script ever runs beside it.
 */
export function accountHostMatcher(accountUrl: string | null): (host: string | null | undefined) => boolean {
  if (!accountUrl) return () => false
  const { host, protocol } = new URL(accountUrl)
  const defaultPort = protocol === 'https:' ? ':443' : ':80'
  return (given) => {
    if (!given) return false
    const lower = given.toLowerCase()
    return lower === host || (lower.endsWith(defaultPort) && lower.slice(0, -defaultPort.length) === host)
  }
}
