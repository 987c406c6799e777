// Proxy traffic per access token: PROXY_RATE_PER_SECOND with burst
// PROXY_RATE_BURST (HTTP requests and WebSocket upgrades alike), decided by
// this instance's own token bucket — synced to Redis in the background, never
// waited on — and at most PROXY_MAX_IN_FLIGHT HTTP requests open at once per
// token on this instance. The in-flight place is held from here until the
// transport's live session for the request ends (ProxyOutcome.release).
import type { Config } from '../../config'
import { LIMIT_KEY_PREFIX, type Limiter } from '../../limits/interface'
import { createLocalBuckets, type LocalBuckets } from '../../limits/local-buckets'
import { retryAfterSeconds, tooManyInFlight, tooManyRequests } from '../../limits/messages'
import type { Counter } from '../../metrics/interface'
import { limitReply } from '../answers'
import type { Step } from '../pipeline'

/** Redis key of a token's shared proxy bucket (by its lookup hash, never the token). */
export const proxyBucketKey = (hash: string): string => `${LIMIT_KEY_PREFIX}proxy:${hash}`

export interface ProxyLimits {
  /** null: no rate limit. */
  buckets: LocalBuckets | null
  ratePerSecond: number
  /** 0: no cap on requests at once. */
  maxInFlight: number
  /** HTTP requests open per token hash on this instance. */
  inFlight: Map<string, number>
  /** zenzefi_rate_limited_total{policy="proxy_rate"|"proxy_in_flight"}, bound once. */
  refused?: { rate: Counter; inFlight: Counter }
}

/** The proxy's limits from the configuration, or null when RATE_LIMITS=off. */
export function createProxyLimits(
  config: Config,
  shared: Limiter | null,
  metrics?: { rateLimited: { proxy_rate: Counter; proxy_in_flight: Counter } },
): ProxyLimits | null {
  if (!config.rateLimits) return null
  const { proxyRatePerSecond: rate, proxyRateBurst: burst, proxyMaxInFlight } = config.limits
  const buckets = rate > 0 ? createLocalBuckets({ rule: { intervalMs: 1000 / rate, burst }, shared, keyOf: proxyBucketKey }) : null
  const refused = metrics ? { rate: metrics.rateLimited.proxy_rate, inFlight: metrics.rateLimited.proxy_in_flight } : undefined
  return { buckets, ratePerSecond: rate, maxInFlight: proxyMaxInFlight, inFlight: new Map(), refused }
}

export function rateLimit(limits: ProxyLimits | null, now: () => number): Step {
  return {
    name: 'rate-limit',
    run(state) {
      if (!limits) return
      const hash = state.auth!.hash
      const held = state.req.kind === 'http' && limits.maxInFlight > 0
      // Checked before the bucket: a request refused for this doesn't spend the token's rate.
      if (held && (limits.inFlight.get(hash) ?? 0) >= limits.maxInFlight) {
        limits.refused?.inFlight.inc()
        return limitReply(tooManyInFlight(1), limits.maxInFlight, 0, 1)
      }
      if (limits.buckets) {
        const d = limits.buckets.take(hash, now())
        if (!d.allowed) {
          const seconds = retryAfterSeconds(d.retryAfterMs)
          limits.refused?.rate.inc()
          return limitReply(tooManyRequests(seconds), limits.ratePerSecond, 1, seconds)
        }
      }
      if (!held) return
      limits.inFlight.set(hash, (limits.inFlight.get(hash) ?? 0) + 1)
      let holding = true
      state.release = () => {
        if (!holding) return
        holding = false
        const n = (limits.inFlight.get(hash) ?? 1) - 1
        if (n > 0) limits.inFlight.set(hash, n)
        else limits.inFlight.delete(hash)
      }
    },
  }
}
