// Operator locks on a user or a token (CONTRACT.md "Operating it"). A lock travels inside the
// token grant, so enforcing it costs nothing per request: creating or lifting one invalidates
// the affected grants everywhere, which also closes their open sockets and streams.

import { and, eq, isNull } from 'drizzle-orm'
import type { GrantLock, TokenCache, TokenGrant } from '../cache/interface'
import type { Db } from '../db/client'
import { accessLocks, accessTokens, users } from '../db/schema'
import type { Audit, AuditContext } from './audit'
import type { Clock } from './clock'
import { DomainError } from './errors'

export type LockTargetType = 'user' | 'token'

export interface LockTarget {
  type: LockTargetType
  id: string
}

export interface LockView {
  id: string
  targetType: LockTargetType
  targetId: string
  message: string
  createdBy: string | null
  createdAt: Date
  expiresAt: Date | null
}

/** The grant's lock if it is still in force at `nowMs`; a lapsed lock lets requests through. */
export function lockInForce(grant: Pick<TokenGrant, 'lock'>, nowMs: number): GrantLock | null {
  const lock = grant.lock
  return lock && (lock.expiresAt === null || lock.expiresAt > nowMs) ? lock : null
}

export function createLocks(deps: { db: Db; cache: TokenCache; clock: Clock; audit: Audit }) {
  const { db, cache, clock, audit } = deps

  /** The user a target belongs to and the token hashes it covers (live tokens only: revoked ones are refused anyway). */
  async function resolve(tx: Db, target: LockTarget): Promise<{ userId: string; hashes: string[] }> {
    if (target.type === 'user') {
      const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, target.id))
      if (!user) throw new DomainError('user_not_found_admin')
      const rows = await tx
        .select({ hash: accessTokens.tokenHash })
        .from(accessTokens)
        .where(and(eq(accessTokens.userId, target.id), eq(accessTokens.isActive, true)))
      return { userId: user.id, hashes: rows.map((r) => r.hash) }
    }
    const [token] = await tx.select({ userId: accessTokens.userId, hash: accessTokens.tokenHash }).from(accessTokens).where(eq(accessTokens.id, target.id))
    if (!token) throw new DomainError('token_not_found')
    return { userId: token.userId, hashes: [token.hash] }
  }

  const unlifted = (target: LockTarget) => and(eq(accessLocks.targetType, target.type), eq(accessLocks.targetId, target.id), isNull(accessLocks.liftedAt))

  return {
    /** Locks a user or a token; a lock already on it is replaced (the latest decision wins). */
    async lock(target: LockTarget, input: { message: string; expiresAt: Date | null }, ctx: AuditContext): Promise<LockView> {
      const now = clock.now()
      if (input.expiresAt && input.expiresAt <= now) throw new DomainError('lock_expiry_past')
      const { row, hashes } = await db.transaction(async (t) => {
        const tx = t as unknown as Db
        const { userId, hashes } = await resolve(tx, target)
        await tx.update(accessLocks).set({ liftedAt: now }).where(unlifted(target))
        const [row] = await tx
          .insert(accessLocks)
          .values({
            targetType: target.type,
            targetId: target.id,
            message: input.message,
            createdBy: ctx.actorId ?? null,
            createdAt: now,
            expiresAt: input.expiresAt,
          })
          .returning()
        await audit.record(tx, {
          action: 'lock.create',
          ...ctx,
          subjectUserId: userId,
          resourceType: target.type,
          resourceId: target.id,
          details: { target_type: target.type, message: input.message, expires_at: input.expiresAt?.toISOString() ?? null },
        })
        return { row: row!, hashes }
      })
      // After the commit: the next request on any instance re-reads the grant, now with the lock.
      await cache.invalidate(hashes)
      return {
        id: row.id,
        targetType: row.targetType as LockTargetType,
        targetId: row.targetId,
        message: row.message,
        createdBy: row.createdBy,
        createdAt: row.createdAt,
        expiresAt: row.expiresAt,
      }
    },

    /** Lifts the lock on a user or a token; 404 when none is in force. */
    async lift(target: LockTarget, ctx: AuditContext): Promise<void> {
      const now = clock.now()
      const hashes = await db.transaction(async (t) => {
        const tx = t as unknown as Db
        const { userId, hashes } = await resolve(tx, target)
        const lifted = await tx.update(accessLocks).set({ liftedAt: now }).where(unlifted(target)).returning({ expiresAt: accessLocks.expiresAt })
        if (!lifted.some((l) => l.expiresAt === null || l.expiresAt > now)) throw new DomainError('lock_not_found')
        await audit.record(tx, {
          action: 'lock.lift',
          ...ctx,
          subjectUserId: userId,
          resourceType: target.type,
          resourceId: target.id,
          details: { target_type: target.type },
        })
        return hashes
      })
      await cache.invalidate(hashes)
    },
  }
}

export type Locks = ReturnType<typeof createLocks>
