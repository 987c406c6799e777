// Every metric the gateway exports, by fixed name, and its series bound once per Metrics instance
// (a WeakMap), so the hot paths only index arrays: no label lookups, no strings built per request.
// README "Metrics" lists the same set.

import type { Counter, Gauge, Histogram, Metrics } from './interface'

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const
/** 0…4 for 1xx…5xx; anything out of range counts as 5xx. */
export const statusClassIndex = (status: number): number => {
  const i = ((status / 100) | 0) - 1
  return i >= 0 && i <= 4 ? i : 4
}

export const PROXY_MODES = ['direct', 'desktop', 'websocket'] as const
export type ProxyMode = (typeof PROXY_MODES)[number]
export const UPSTREAM_ERRORS = ['timeout', 'refused', 'tls', 'reset', 'other'] as const
export type UpstreamError = (typeof UPSTREAM_ERRORS)[number]
export const WS_CLOSE_REASONS = ['client', 'upstream', 'revoked', 'expired', 'shutdown', 'too_big'] as const
export type WsCloseReason = (typeof WS_CLOSE_REASONS)[number]
export const TOKEN_TIERS = ['memory', 'redis', 'postgres'] as const
export type TokenTier = (typeof TOKEN_TIERS)[number]
export const TOKEN_RESULTS = ['hit', 'miss', 'invalid'] as const
export type TokenResult = (typeof TOKEN_RESULTS)[number]
export const LOGIN_RESULTS = ['success', 'failure', 'locked'] as const
export type LoginResult = (typeof LOGIN_RESULTS)[number]
export const RATE_POLICIES = [
  'login_address',
  'login_lock',
  'login_failures_account',
  'login_failures_address',
  'register_address',
  'purchase_account',
  'purchase_address',
  'proxy_rate',
  'proxy_in_flight',
] as const
export type RatePolicyName = (typeof RATE_POLICIES)[number]
export const DEPENDENCIES = ['database', 'redis', 'zenzefi'] as const
export type Dependency = (typeof DEPENDENCIES)[number]
/** API methods as labels; any other method is `OTHER`. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'] as const
/** The route label of API requests no route matched (404s, refusals before routing). */
export const UNMATCHED_ROUTE = 'unmatched'

type Keyed<K extends string, T> = Record<K, T>
const bind = <K extends string, T>(keys: readonly K[], f: (k: K) => T): Keyed<K, T> => Object.fromEntries(keys.map((k) => [k, f(k)])) as Keyed<K, T>

function build(m: Metrics) {
  const httpRequests = m.counter({
    name: 'zenzefi_http_requests_total',
    help: 'API requests answered, by route template, method and status class.',
    labels: ['route', 'method', 'status_class'],
  })
  const httpDuration = m.histogram({
    name: 'zenzefi_http_request_duration_seconds',
    help: 'API request duration until the answer is ready, by route template and method.',
    labels: ['route', 'method'],
    buckets: LATENCY_BUCKETS,
  })
  const proxyRequests = m.counter({
    name: 'zenzefi_proxy_requests_total',
    help: 'Proxied requests and WebSocket upgrades answered, by mode and status class.',
    labels: ['mode', 'status_class'],
  })
  const upstreamDuration = m.histogram({
    name: 'zenzefi_upstream_duration_seconds',
    help: "Time until Zenzefi's response headers (or WebSocket 101) arrived.",
    labels: [],
    buckets: LATENCY_BUCKETS,
  })
  const upstreamErrors = m.counter({ name: 'zenzefi_upstream_errors_total', help: 'Failed requests to Zenzefi, by reason.', labels: ['reason'] })
  const proxyBytes = m.counter({
    name: 'zenzefi_proxy_bytes_total',
    help: 'Proxied bytes: in = from clients, out = to clients (after rewriting; WebSockets: the whole relayed stream).',
    labels: ['direction'],
  })
  const wsOpen = m.gauge({ name: 'zenzefi_websockets_open', help: 'Relayed WebSockets open now.', labels: [] })
  const wsClosed = m.counter({ name: 'zenzefi_websocket_closed_total', help: 'Relayed WebSockets ended, by why.', labels: ['reason'] })
  const tokenChecks = m.counter({
    name: 'zenzefi_token_checks_total',
    help: 'Access token lookups per tier: hit or miss; invalid = refused by its shape before any tier (tier memory).',
    labels: ['tier', 'result'],
  })
  const logins = m.counter({
    name: 'zenzefi_logins_total',
    help: 'Login attempts by result (locked: refused before the password was checked).',
    labels: ['result'],
  })
  const purchases = m.counter({ name: 'zenzefi_token_purchases_total', help: 'Access tokens bought.', labels: [] })
  const rateLimited = m.counter({ name: 'zenzefi_rate_limited_total', help: 'Requests refused with 429, by the limit that refused them.', labels: ['policy'] })
  const dependencyUp = m.gauge({
    name: 'zenzefi_dependency_up',
    help: '1 if the last health check reached the dependency, else 0.',
    labels: ['dependency'],
  })

  const byClass = <T>(f: (cls: string) => T): T[] => STATUS_CLASSES.map(f)
  return {
    /** API series by route template; bound the first time a route is seen (routes are a fixed set). */
    api(route: string, method: string): { requests: Counter[]; duration: Histogram } {
      const label = (HTTP_METHODS as readonly string[]).includes(method) ? method : 'OTHER'
      return { requests: byClass((cls) => httpRequests.labels(route, label, cls)), duration: httpDuration.labels(route, label) }
    },
    proxyRequests: bind(PROXY_MODES, (mode) => byClass((cls) => proxyRequests.labels(mode, cls))),
    upstreamDuration: upstreamDuration.labels(),
    upstreamErrors: bind(UPSTREAM_ERRORS, (r) => upstreamErrors.labels(r)),
    bytesIn: proxyBytes.labels('in'),
    bytesOut: proxyBytes.labels('out'),
    wsOpen: wsOpen.labels() as Gauge,
    wsClosed: bind(WS_CLOSE_REASONS, (r) => wsClosed.labels(r)),
    tokenChecks: bind(TOKEN_TIERS, (tier) => bind(TOKEN_RESULTS, (result) => tokenChecks.labels(tier, result))),
    logins: bind(LOGIN_RESULTS, (r) => logins.labels(r)),
    purchases: purchases.labels(),
    rateLimited: bind(RATE_POLICIES, (p) => rateLimited.labels(p)),
    dependencyUp: bind(DEPENDENCIES, (d) => dependencyUp.labels(d)),
  }
}

export type GatewayMetrics = ReturnType<typeof build> & {
  /** One proxied request (or upgrade) ended: its count and bytes. */
  proxied(mode: ProxyMode, status: number, bytesIn: number | null | undefined, bytesOut: number | null | undefined): void
}

const built = new WeakMap<Metrics, GatewayMetrics>()

/** The gateway's series on this Metrics, bound once (a registry refuses a name registered twice). */
export function gatewayMetrics(m: Metrics): GatewayMetrics {
  let g = built.get(m)
  if (g) return g
  const b = build(m)
  g = Object.assign(b, {
    proxied(mode: ProxyMode, status: number, bytesIn: number | null | undefined, bytesOut: number | null | undefined) {
      b.proxyRequests[mode][statusClassIndex(status)]!.inc()
      if (bytesIn) b.bytesIn.inc(bytesIn)
      if (bytesOut) b.bytesOut.inc(bytesOut)
    },
  })
  built.set(m, g)
  return g
}

/** A route template in the label's form: `/api/v1/tokens/:token_id` → `/api/v1/tokens/{token_id}`. */
export const routeTemplate = (honoPath: string): string => honoPath.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}')
