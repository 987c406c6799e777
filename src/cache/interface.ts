// The token cache port. Only grants that are currently valid are cached
// (token not revoked, owner active); expiry is checked by the caller against its clock.

export interface TokenGrant {
  tokenId: string
  userId: string
  durationHours: number
  /** epoch milliseconds, null until first use */
  activatedAt: number | null
  expiresAt: number | null
  /** An operator's lock on the token or its owner (the strongest, if several): requests get 403 with the message until it lapses. */
  lock?: GrantLock
}

export interface GrantLock {
  message: string
  /** epoch milliseconds; null: until lifted */
  expiresAt: number | null
}

/** A shared store every instance sees (Redis, Upstash). Failures are thrown; the tiered cache turns them into misses. */
export interface SharedTokenStore {
  readonly kind: 'redis' | 'upstash'
  get(hash: string): Promise<TokenGrant | null>
  set(hash: string, grant: TokenGrant, ttlSeconds: number): Promise<void>
  delete(hashes: string[]): Promise<void>
  /** Tell every other instance to forget these hashes now. */
  publishInvalidation(hashes: string[]): Promise<void>
  /** Deliver invalidations published by any instance (including this one). */
  onInvalidation(listener: (hashes: string[]) => void): Promise<void>
  ping(): Promise<void>
  close(): Promise<void>
}

export interface TokenCache {
  readonly kind: 'memory' | 'redis' | 'upstash'
  /** An in-process hit (or a miss with no shared store) answers synchronously: no promise on the proxy's hot path. */
  get(hash: string): TokenGrant | null | Promise<TokenGrant | null>
  set(hash: string, grant: TokenGrant, ttlSeconds: number): Promise<void>
  /** Forget these hashes in every tier on every instance before resolving. */
  invalidate(hashes: string[]): Promise<void>
  /** Called for every invalidation this instance learns of, its own or another instance's (to close open streams). */
  onInvalidate(listener: (hashes: string[]) => void): void
  ping(): Promise<void>
  close(): Promise<void>
}
