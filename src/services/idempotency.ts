// Idempotency-Key (CONTRACT.md "Credits"): the first answer to a key is kept byte for byte
// and given again to every retry, and the money moves once. Where the money moves in one
// database transaction (token purchase, revoke, adjustment) the key is written in that same
// transaction: a concurrent retry waits on the row and then replays, and a request that
// failed leaves no key behind. A top-up calls the provider between two transactions, so its
// key is claimed first (in progress) and completed after. Stored answers are encrypted
// like tokens are: a purchase's answer holds the token, and a database dump must not.

import { and, eq, isNull, lt, lte, or } from 'drizzle-orm'
import type { TokenCipher } from '../crypto/access-token'
import type { Db } from '../db/client'
import { idempotencyKeys } from '../db/schema'
import { DomainError } from './errors'
import { moneyTransaction } from './ledger'

export interface Answer {
  status: number
  /** The JSON body exactly as sent. */
  body: string
}

export interface Replayable extends Answer {
  replayed: boolean
}

export interface KeyScope {
  userId: string
  key: string
  /** SHA-256 of what the request asks (method, route, canonical body). */
  requestHash: string
}

/** Keys are kept a day; a retry after that is a new request. */
export const KEY_RETENTION_MS = 24 * 3_600_000
/** How long a claimed top-up key blocks retries if its request died half-way. */
const CLAIM_MS = 60_000

const PRINTABLE = /^[\x21-\x7e]{1,255}$/

/** The header's key, or null when none was sent; an empty or over-long one is a 400. */
export function keyFromHeader(value: string | undefined): string | null {
  if (value === undefined) return null
  const key = value.trim()
  if (!PRINTABLE.test(key)) throw new DomainError('idempotency_key_invalid')
  return key
}

export async function requestHash(...parts: string[]): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(parts.join('\n')))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

const keyWhere = (s: KeyScope) => and(eq(idempotencyKeys.userId, s.userId), eq(idempotencyKeys.key, s.key))

export function createIdempotency(deps: { db: Db; cipher: TokenCipher }) {
  const { db, cipher } = deps

  const existing = async (tx: Db, scope: KeyScope, now: Date): Promise<Replayable | 'stale'> => {
    const [row] = await tx.select().from(idempotencyKeys).where(keyWhere(scope))
    if (!row) return 'stale'
    if (row.requestHash !== scope.requestHash) throw new DomainError('idempotency_mismatch')
    if (row.statusCode !== null && row.responseBody !== null) {
      const body = await cipher.decrypt(row.responseBody)
      // Unreadable only if SECRET_KEY changed since: the key can't be honoured, nor reused.
      if (body === null) throw new DomainError('idempotency_mismatch')
      return { status: row.statusCode, body, replayed: true }
    }
    if (row.lockedUntil && row.lockedUntil > now) throw new DomainError('idempotency_in_progress')
    return 'stale'
  }

  const record = async (tx: Db, scope: KeyScope, answer: Answer) =>
    void (await tx
      .update(idempotencyKeys)
      .set({ statusCode: answer.status, responseBody: await cipher.encrypt(answer.body), lockedUntil: null })
      .where(keyWhere(scope)))

  return {
    /**
     * One money operation in one transaction, at most once per key. Without a key it simply
     * runs. A refusal (402, 404…) rolls back with the key, so a retry is decided afresh.
     */
    async runOnce(scope: KeyScope | null, now: Date, work: (tx: Db) => Promise<Answer>): Promise<Replayable> {
      try {
        return await moneyTransaction(db, async (tx) => {
          if (!scope) return { ...(await work(tx)), replayed: false }
          // Waits here while another transaction holds the same key, then sees its committed answer.
          const [claimed] = await tx
            .insert(idempotencyKeys)
            .values({ userId: scope.userId, key: scope.key, requestHash: scope.requestHash, createdAt: now })
            .onConflictDoNothing()
            .returning({ key: idempotencyKeys.key })
          if (!claimed) {
            const found = await existing(tx, scope, now)
            if (found === 'stale') throw new DomainError('idempotency_in_progress')
            return found
          }
          const answer = await work(tx)
          await record(tx, scope, answer)
          return { ...answer, replayed: false }
        })
      } catch (err) {
        // The lock wait on another request's key ran out: that request is still at work.
        if (scope && err instanceof DomainError && err.code === 'money_busy') throw new DomainError('idempotency_in_progress')
        throw err
      }
    },

    /**
     * For a top-up: claims the key before the provider is called. `replay` when the key already
     * has an answer; `claimed` when this request may go ahead (also when an earlier holder died).
     */
    claim: (scope: KeyScope, now: Date): Promise<{ replay: Replayable } | { claimed: true }> =>
      moneyTransaction(db, async (tx) => {
        const until = new Date(now.getTime() + CLAIM_MS)
        const [claimed] = await tx
          .insert(idempotencyKeys)
          .values({ userId: scope.userId, key: scope.key, requestHash: scope.requestHash, lockedUntil: until, createdAt: now })
          .onConflictDoNothing()
          .returning({ key: idempotencyKeys.key })
        if (claimed) return { claimed: true as const }
        const found = await existing(tx, scope, now)
        if (found !== 'stale') return { replay: found }
        // The holder died mid-way: take the key over (only one taker wins the compare-and-set).
        const [taken] = await tx
          .update(idempotencyKeys)
          .set({ lockedUntil: until })
          .where(and(keyWhere(scope), isNull(idempotencyKeys.statusCode), or(isNull(idempotencyKeys.lockedUntil), lte(idempotencyKeys.lockedUntil, now))))
          .returning({ key: idempotencyKeys.key })
        if (!taken) throw new DomainError('idempotency_in_progress')
        return { claimed: true as const }
      }),

    /** Records the answer of a claimed key, inside the transaction that moved (or recorded) the money. */
    complete: record,

    /** Lets go of a claimed key whose request failed before any answer (a 503): the retry starts afresh. */
    async release(scope: KeyScope): Promise<void> {
      await db.delete(idempotencyKeys).where(and(keyWhere(scope), isNull(idempotencyKeys.statusCode)))
    },

    /** Drops keys older than a day. */
    async prune(now: Date): Promise<number> {
      const gone = await db
        .delete(idempotencyKeys)
        .where(lt(idempotencyKeys.createdAt, new Date(now.getTime() - KEY_RETENTION_MS)))
        .returning({ key: idempotencyKeys.key })
      return gone.length
    },
  }
}

export type Idempotency = ReturnType<typeof createIdempotency>
