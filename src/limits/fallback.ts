// A shared limiter (Redis, Upstash) with this instance's own counts behind it.
// Everything the shared one records is also recorded here, so when the shared
// one fails or is slow, this instance goes on with per-instance limits (what it
// saw itself) — never with no limits. Like src/cache/tiered.ts does for tokens.

import type { Logger } from '../logger'
import type { Limiter } from './interface'

export interface FallbackOptions {
  /** A shared call slower than this counts as a failure (default 250 ms). */
  timeoutMs?: number
  /** After a failure the shared limiter is left alone this long (default 1 s), so a dead Redis costs no time per request. */
  retryAfterMs?: number
}

export function withLocalFallback(shared: Limiter | null, local: Limiter, log: Logger, opts: FallbackOptions = {}): Limiter {
  if (!shared) return local
  const timeoutMs = opts.timeoutMs ?? 250
  const retryAfterMs = opts.retryAfterMs ?? 1_000
  let downUntil = 0
  let lastComplaint = 0
  // Resets the shared store missed while it was down: made before it is trusted again.
  const pendingResets = new Set<string>()
  const flushResets = async () => {
    if (pendingResets.size === 0) return
    const keys = [...pendingResets]
    await timed(shared.reset(keys))
    for (const k of keys) pendingResets.delete(k)
  }

  const failed = (op: string, err: unknown) => {
    const t = Date.now()
    downUntil = t + retryAfterMs
    // One line per 10 s at most, so a dead Redis doesn't flood the log.
    if (t - lastComplaint < 10_000) return
    lastComplaint = t
    log.warn('rate limit store unavailable, limiting per instance', { op, store: shared.kind, error: String((err as Error)?.message ?? err) })
  }

  const timed = <T>(p: Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('rate limit store timed out')), timeoutMs)
      }),
    ]).finally(() => clearTimeout(timer))
  }

  return {
    kind: shared.kind,
    async apply(charges, mode, now) {
      if (Date.now() >= downUntil) {
        try {
          await flushResets()
          const decision = await timed(shared.apply(charges, mode, now))
          // Mirrored: what the shared store recorded, this instance records too (force: the shared store already decided).
          if (mode === 'force' || (mode === 'take' && decision.allowed)) await local.apply(charges, 'force', now)
          return decision
        } catch (err) {
          failed('apply', err)
        }
      }
      return local.apply(charges, mode, now)
    },
    async reset(keys) {
      await local.reset(keys)
      // Bounded: a long outage forgets the oldest resets (their counts then expire on their own).
      for (const k of keys) if (pendingResets.size < 10_000) pendingResets.add(k)
      if (Date.now() < downUntil) return
      try {
        await flushResets()
      } catch (err) {
        failed('reset', err)
      }
    },
    async close() {
      await Promise.allSettled([shared.close(), local.close()])
    },
  }
}
