// The shared store's wire format, in one place for every client of it (node-redis
// on Node, Upstash REST on Workers): both runtimes read and write the same Redis,
// so key names, the invalidation channel and the value encoding must never differ.
import type { TokenGrant } from './interface'

/** A grant lives under the token's SHA-256 hash, never the token itself. */
export const tokenKey = (hash: string): string => `zenzefi:token:${hash}`

/** Pub/sub channel carrying invalidations; the message is the hashes joined by commas (hex hashes contain none). */
export const INVALIDATION_CHANNEL = 'zenzefi:token-invalidate'

export const encodeInvalidation = (hashes: string[]): string => hashes.join(',')

export const decodeInvalidation = (message: string): string[] => message.split(',').filter(Boolean)

export const encodeGrant = (grant: TokenGrant): string => JSON.stringify(grant)

/**
 * A missing key is null; a value that isn't JSON throws (the tiered cache treats that as a miss).
 * `lock` is optional (entries written before locks existed have none); a malformed one throws
 * too, so a lock is re-read from the database rather than ever dropped.
 */
export const decodeGrant = (raw: string | null | undefined): TokenGrant | null => {
  if (!raw) return null
  const grant = JSON.parse(raw) as TokenGrant
  const lock = grant.lock as unknown
  if (lock !== undefined) {
    const l = lock as { message?: unknown; expiresAt?: unknown } | null
    if (!l || typeof l.message !== 'string' || (l.expiresAt !== null && typeof l.expiresAt !== 'number')) throw new Error('malformed lock in a cached grant')
  }
  return grant
}

/** Redis EX takes whole seconds ≥ 1: round up, so a sub-second TTL is never 0 (which SET rejects). */
export const expirySeconds = (ttlSeconds: number): number => Math.max(1, Math.ceil(ttlSeconds))
