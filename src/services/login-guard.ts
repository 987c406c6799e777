// Failed-login regulation (CONTRACT.md "Abuse controls"), in front of the password check:
//
// - (email, address): LOGIN_LOCK_AFTER failures (5 in 10 minutes) lock the pair for
//   LOGIN_LOCK_SECONDS (15 minutes), doubling with each repeat lock up to
//   LOGIN_LOCK_MAX_SECONDS (24 h); each day after a lock ends forgets one doubling.
//   A successful login clears the pair's failures.
// - per account (any address): LOGIN_FAILURES_PER_ACCOUNT; per address (any email):
//   LOGIN_FAILURES_PER_ADDRESS — they stop guessing spread over many addresses or emails.
// - per address, every attempt: LOGIN_RATE_PER_ADDRESS (each one costs a bcrypt check).
//
// While any of them refuses, the password is not checked (no bcrypt) and the answer
// is a 429 that depends only on the counts, never on whether the email exists. An
// attempt is counted as a failure before the check and given back if it succeeds,
// so a burst sent in parallel gets exactly as many checks as the limits allow.
// Counters live in the limiter: Redis when configured (every instance shares them),
// else this process.

import type { LimitsConfig } from '../config'
import type { Charge, Limiter, RatePolicy, Rule } from '../limits/interface'
import { ruleOf } from '../limits/interface'
import { subjectKey } from '../limits/keys'
import { retryAfterSeconds, tooManyFailedLogins, tooManyRequests } from '../limits/messages'
import type { GatewayMetrics, RatePolicyName } from '../metrics/gateway'
import { normalizeEmail } from './accounts'
import type { Clock } from './clock'
import { DomainError } from './errors'

/** How long after a lock ends it still counts towards the next one's doubling (one level per this). */
const LOCK_MEMORY_MS = 24 * 3_600_000
/** Doubling stops mattering long before this (2^20 × any first lock is past the longest). */
const MAX_DOUBLINGS = 20

export interface LoginGuard {
  /**
   * Runs `check` (the password check: the user, or null) unless a limit refuses first, in which case it
   * throws a 429 DomainError without calling it. Counts the outcome.
   */
  attempt<T>(email: string, address: string, check: () => Promise<T | null>): Promise<T | null>
}

export function createLoginGuard(deps: {
  limiter: Limiter
  clock: Clock
  limits: LimitsConfig | null
  /** zenzefi_rate_limited_total, by the policy that refused. */
  metrics?: Pick<GatewayMetrics, 'rateLimited'>
}): LoginGuard {
  const { limiter, clock, limits } = deps
  if (!limits) return { attempt: (_email, _address, check) => check() }
  const lockAfter = limits.loginLockAfter
  // Each failure is remembered for the whole window (one per window drains): any `limit` failures within one window lock.
  const failureRule: Rule | null = lockAfter ? { intervalMs: lockAfter.windowSeconds * 1000, burst: lockAfter.limit } : null
  const baseLockMs = limits.loginLockSeconds * 1000
  const maxLockMs = limits.loginLockMaxSeconds * 1000
  // The first level whose lock is the longest: counting further would only make forgetting slower.
  const topLevel = Math.min(MAX_DOUBLINGS, 1 + Math.max(0, Math.ceil(Math.log2(maxLockMs / baseLockMs))))
  const now = () => clock.now().getTime()

  const locked = (policy: RatePolicy, retryAfterMs: number) => {
    const seconds = retryAfterSeconds(retryAfterMs)
    return new DomainError('login_locked', tooManyFailedLogins(seconds), { limit: policy.limit, window: policy.windowSeconds, retry_after: seconds })
  }

  /**
   * Locks the pair for 15 min, 30 min, 1 h, … by how many locks came before: the pair's lock memory holds
   * (lock end + level × 24 h) as its TAT, so its level is forgotten one step per day after a lock ends.
   */
  const lock = async (lockKey: string, locksKey: string, failKey: string) => {
    const at = now()
    const memory = await limiter.apply([{ key: locksKey, rule: { intervalMs: LOCK_MEMORY_MS, burst: MAX_DOUBLINGS }, cost: 0 }], 'check', at)
    const level = Math.min(topLevel, Math.ceil(memory.results[0]!.resetMs / LOCK_MEMORY_MS) + 1)
    const lockMs = Math.min(maxLockMs, baseLockMs * 2 ** (level - 1))
    // The failures that made this lock are spent: after it, the next lock takes as many again.
    await limiter.reset([failKey, locksKey])
    await limiter.apply(
      [
        { key: lockKey, rule: { intervalMs: lockMs, burst: 0 } },
        { key: locksKey, rule: { intervalMs: 1, burst: 0 }, cost: lockMs + level * LOCK_MEMORY_MS },
      ],
      'force',
      at,
    )
  }

  return {
    async attempt(email, address, check) {
      const who = normalizeEmail(email)
      const [lockKey, locksKey, failKey, accountKey, addressFailKey, addressKey] = await Promise.all([
        subjectKey('login:lock', who, address),
        subjectKey('login:locks', who, address),
        subjectKey('login:fail', who, address),
        subjectKey('login:fail-account', who),
        subjectKey('login:fail-address', address),
        subjectKey('login:address', address),
      ])
      // In order: the first that refuses is the one reported. An unknown address ('') has no per-address limits.
      const charges: { charge: Charge; refusal: (retryAfterMs: number) => DomainError; failure: boolean; policy: RatePolicyName }[] = []
      if (failureRule && lockAfter) {
        // Cost 0 under burst 0: only asks whether the pair's lock is over.
        charges.push({
          charge: { key: lockKey, rule: { intervalMs: 1000, burst: 0 }, cost: 0 },
          refusal: (ms) => locked(lockAfter, ms),
          failure: false,
          policy: 'login_lock',
        })
        charges.push({ charge: { key: failKey, rule: failureRule }, refusal: (ms) => locked(lockAfter, ms), failure: true, policy: 'login_lock' })
      }
      const perAccount = limits.loginFailuresPerAccount
      if (perAccount)
        charges.push({
          charge: { key: accountKey, rule: ruleOf(perAccount) },
          refusal: (ms) => locked(perAccount, ms),
          failure: true,
          policy: 'login_failures_account',
        })
      const perAddress = address ? limits.loginFailuresPerAddress : null
      if (perAddress)
        charges.push({
          charge: { key: addressFailKey, rule: ruleOf(perAddress) },
          refusal: (ms) => locked(perAddress, ms),
          failure: true,
          policy: 'login_failures_address',
        })
      const attempts = address ? limits.loginPerAddress : null
      if (attempts) {
        const refusal = (ms: number) => {
          const seconds = retryAfterSeconds(ms)
          return new DomainError('rate_limited', tooManyRequests(seconds), { limit: attempts.limit, window: attempts.windowSeconds, retry_after: seconds })
        }
        charges.push({ charge: { key: addressKey, rule: ruleOf(attempts) }, refusal, failure: false, policy: 'login_address' })
      }
      if (charges.length === 0) return check()

      const decision = await limiter.apply(
        charges.map((c) => c.charge),
        'take',
        now(),
      )
      if (!decision.allowed) {
        const refused = charges[decision.refused]!
        deps.metrics?.rateLimited[refused.policy].inc()
        throw refused.refusal(decision.results[decision.refused]!.retryAfterMs)
      }

      const user = await check()
      if (user) {
        // Not a failure after all: the pair starts afresh, the caps get theirs back.
        const refunds = charges.filter((c) => c.failure && c.charge.key !== failKey).map((c) => ({ ...c.charge, cost: -1 }))
        await Promise.all([failureRule ? limiter.reset([failKey]) : null, refunds.length ? limiter.apply(refunds, 'force', now()) : null])
        return user
      }
      const pair = failureRule ? decision.results[charges.findIndex((c) => c.charge.key === failKey)]! : null
      if (pair && pair.remaining === 0) await lock(lockKey, locksKey, failKey)
      return null
    },
  }
}
