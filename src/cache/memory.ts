import type { TokenGrant } from './interface'

/** Bounded in-process LRU with per-entry TTL: the first tier, a few seconds deep. */
export class MemoryLru {
  private readonly entries = new Map<string, { grant: TokenGrant; until: number; used: number }>()

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(hash: string): TokenGrant | null {
    const e = this.entries.get(hash)
    if (!e) return null
    const t = this.now()
    if (e.until <= t) {
      this.entries.delete(hash)
      return null
    }
    // Re-inserted to mark it most recently used (Map keeps insertion order), at most once a second:
    // a delete and set per request would churn the Map's table and keep each request's key string
    // alive into the old generation.
    if (t - e.used >= 1000) {
      e.used = t
      this.entries.delete(hash)
      this.entries.set(hash, e)
    }
    return e.grant
  }

  set(hash: string, grant: TokenGrant, ttlMs: number): void {
    if (ttlMs <= 0) return
    this.entries.delete(hash)
    const t = this.now()
    this.entries.set(hash, { grant, until: t + ttlMs, used: t })
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
  }

  delete(hashes: string[]): void {
    for (const h of hashes) this.entries.delete(h)
  }

  get size(): number {
    return this.entries.size
  }
}
