import type { Logger } from '../logger'
import type { GatewayMetrics } from '../metrics/gateway'
import type { SharedTokenStore, TokenCache, TokenGrant } from './interface'
import { MemoryLru } from './memory'

export interface TieredOptions {
  /** How long the in-process tier may answer on its own. Revocations are broadcast, so this only bounds staleness when the shared store is down. */
  localTtlMs?: number
  maxLocalEntries?: number
  now?: () => number
  /** zenzefi_token_checks_total for the memory and shared (`redis`) tiers; a shared-store failure is a redis miss. */
  metrics?: Pick<GatewayMetrics, 'tokenChecks'>
}

/**
 * In-process LRU in front of an optional shared store. A shared-store failure is
 * a miss (the caller falls through to Postgres), never an outage.
 */
export async function createTieredCache(shared: SharedTokenStore | null, log: Logger, opts: TieredOptions = {}): Promise<TokenCache> {
  const localTtlMs = opts.localTtlMs ?? 5_000
  const local = new MemoryLru(opts.maxLocalEntries ?? 10_000, opts.now)
  const checks = opts.metrics?.tokenChecks
  let lastComplaint = 0
  const complain = (op: string, err: unknown) => {
    // One line per 10 s at most, so a dead Redis doesn't flood the log.
    const t = Date.now()
    if (t - lastComplaint < 10_000) return
    lastComplaint = t
    log.warn('token cache unavailable, falling back to the database', { op, cache: shared?.kind, error: String((err as Error)?.message ?? err) })
  }

  // Invalidations the shared store missed while it was down: retried before it is trusted again.
  const pending = new Set<string>()
  const flushPending = async () => {
    if (!shared || pending.size === 0) return
    const hashes = [...pending]
    await shared.delete(hashes)
    await shared.publishInvalidation(hashes)
    for (const h of hashes) pending.delete(h)
  }

  const listeners: ((hashes: string[]) => void)[] = []
  const forget = (hashes: string[]) => {
    local.delete(hashes)
    for (const l of listeners) l(hashes)
  }

  if (shared) {
    try {
      await shared.onInvalidation(forget)
    } catch (err) {
      complain('subscribe', err)
    }
  }

  const sharedGet = async (store: SharedTokenStore, hash: string): Promise<TokenGrant | null> => {
    try {
      await flushPending()
      const grant = await store.get(hash)
      checks?.redis[grant ? 'hit' : 'miss'].inc()
      if (grant) local.set(hash, grant, localTtlMs)
      return grant
    } catch (err) {
      checks?.redis.miss.inc()
      complain('get', err)
      return null
    }
  }

  return {
    kind: shared?.kind ?? 'memory',
    get(hash) {
      const hit = local.get(hash)
      checks?.memory[hit ? 'hit' : 'miss'].inc()
      if (hit || !shared) return hit
      return sharedGet(shared, hash)
    },
    async set(hash, grant: TokenGrant, ttlSeconds) {
      local.set(hash, grant, Math.min(localTtlMs, ttlSeconds * 1000))
      if (!shared) return
      try {
        await flushPending()
        await shared.set(hash, grant, ttlSeconds)
      } catch (err) {
        complain('set', err)
      }
    },
    async invalidate(hashes) {
      if (hashes.length === 0) return
      // Queued before the listeners run: whatever they do, the shared store still hears of it.
      if (shared) for (const h of hashes) pending.add(h)
      forget(hashes)
      if (!shared) return
      try {
        await flushPending()
      } catch (err) {
        complain('invalidate', err)
      }
    },
    onInvalidate(listener) {
      listeners.push(listener)
    },
    async ping() {
      if (shared) await shared.ping()
    },
    async close() {
      await shared?.close()
    },
  }
}
