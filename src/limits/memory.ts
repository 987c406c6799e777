// The in-process limiter: the same GCRA as the Redis script, in one Map. It is
// the limiter when there is no Redis, and every instance's own copy of the
// counts for when Redis is down (fallback.ts): per-instance limits, never none.

import { gcraStep, intervalUs, keyResult } from './gcra'
import type { Charge, Decision, KeyResult, Limiter, Mode } from './interface'

export interface MemoryLimiterOptions {
  /** Keys kept at most; past it the emptiest buckets go first (default 100,000). */
  maxKeys?: number
}

export function createMemoryLimiter(opts: MemoryLimiterOptions = {}): Limiter {
  const maxKeys = opts.maxKeys ?? 100_000
  /** key → TAT in µs; a key is worth keeping only while its TAT is in the future. */
  const tats = new Map<string, number>()
  let writes = 0

  const sweep = (nowUs: number) => {
    for (const [k, tat] of tats) if (tat <= nowUs) tats.delete(k)
    // Still too many live keys (a flood of distinct keys): drop the oldest written.
    for (const k of tats.keys()) {
      if (tats.size <= maxKeys) break
      tats.delete(k)
    }
  }

  return {
    kind: 'memory',
    async apply(charges: Charge[], mode: Mode, now: number): Promise<Decision> {
      const nowUs = Math.round(now) * 1000
      const steps = charges.map((c) => {
        const interval = intervalUs(c.rule.intervalMs)
        return { interval, burst: c.rule.burst, cost: c.cost ?? 1, ...gcraStep(tats.get(c.key) ?? null, nowUs, interval, c.rule.burst, c.cost ?? 1) }
      })
      const refused = steps.findIndex((s) => !s.allowed)
      const write = mode === 'force' || (mode === 'take' && refused < 0)
      const results: KeyResult[] = steps.map((s, i) => {
        let stored = s.tat
        if (write && s.cost !== 0) {
          stored = s.next
          const key = charges[i]!.key
          // Re-inserted, so Map order is oldest write first.
          tats.delete(key)
          if (stored > nowUs) tats.set(key, stored)
        }
        return keyResult(stored, s.next, s.allowed, nowUs, s.interval, s.burst)
      })
      if (write && (++writes % 1024 === 0 || tats.size > maxKeys)) sweep(nowUs)
      return { allowed: refused < 0, refused, results }
    },
    async reset(keys) {
      for (const k of keys) tats.delete(k)
    },
    async close() {
      tats.clear()
    },
  }
}
