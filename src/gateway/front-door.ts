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
