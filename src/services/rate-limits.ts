// Request limits of the API beside the login guard: registrations per client
// address (REGISTER_RATE_PER_ADDRESS), token purchases per account and per
// address (PURCHASE_RATE_PER_ACCOUNT, PURCHASE_RATE_PER_ADDRESS). Over one → a
// 429 DomainError with the limit that was hit. An unknown address ('') has no
// per-address limit; the per-account one still applies.

import type { LimitsConfig } from '../config'
import type { Charge, Limiter, RatePolicy } from '../limits/interface'
import { ruleOf } from '../limits/interface'
import { subjectKey } from '../limits/keys'
import { retryAfterSeconds, tooManyRequests } from '../limits/messages'
import type { GatewayMetrics, RatePolicyName } from '../metrics/gateway'
import type { Clock } from './clock'
import { DomainError } from './errors'

export interface RateLimits {
  register(address: string): Promise<void>
  purchase(userId: string, address: string): Promise<void>
}

export function createRateLimits(deps: {
  limiter: Limiter
  clock: Clock
  limits: LimitsConfig | null
  /** zenzefi_rate_limited_total, by the policy that refused. */
  metrics?: Pick<GatewayMetrics, 'rateLimited'>
}): RateLimits {
  const { limiter, clock, limits } = deps
  if (!limits) return { register: async () => {}, purchase: async () => {} }

  /** Counts one event under each policy that applies, all or none; throws for the first that refuses. */
  const take = async (wanted: [RatePolicy | null, string, string, RatePolicyName][]) => {
    const policies: RatePolicy[] = []
    const names: RatePolicyName[] = []
    const charges: Charge[] = []
    for (const [policy, name, subject, label] of wanted) {
      if (!policy || subject === '') continue
      policies.push(policy)
      names.push(label)
      charges.push({ key: await subjectKey(name, subject), rule: ruleOf(policy) })
    }
    if (charges.length === 0) return
    const d = await limiter.apply(charges, 'take', clock.now().getTime())
    if (d.allowed) return
    const policy = policies[d.refused]!
    deps.metrics?.rateLimited[names[d.refused]!].inc()
    const seconds = retryAfterSeconds(d.results[d.refused]!.retryAfterMs)
    throw new DomainError('rate_limited', tooManyRequests(seconds), { limit: policy.limit, window: policy.windowSeconds, retry_after: seconds })
  }

  return {
    register: (address) => take([[limits.registerPerAddress, 'register:address', address, 'register_address']]),
    purchase: (userId, address) =>
      take([
        [limits.purchasePerAccount, 'purchase:account', userId, 'purchase_account'],
        [limits.purchasePerAddress, 'purchase:address', address, 'purchase_address'],
      ]),
  }
}
