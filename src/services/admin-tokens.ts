// Operators' view of access tokens, revocation without refund, and tokens given free of charge.
// Listings carry a 6-character prefix, never the token; a granted token is shown once.

import { and, count, desc, eq, gt, isNotNull, isNull, lte, type SQL } from 'drizzle-orm'
import type { TokenCache } from '../cache/interface'
import { generateAccessToken, hashAccessToken, type TokenCipher } from '../crypto/access-token'
import type { Db } from '../db/client'
import { type AccessTokenRow, accessTokens, users } from '../db/schema'
import { tokenPrefix } from './admin-users'
import type { Audit, AuditContext } from './audit'
import type { Clock } from './clock'
import { DomainError } from './errors'
import { balanceOf } from './ledger'
import { ALLOWED_DURATIONS } from './tokens'

export const TOKEN_STATUSES = ['active', 'ready', 'expired', 'revoked', 'all'] as const
export type TokenStatus = (typeof TOKEN_STATUSES)[number]

export interface AdminTokenView {
  id: string
  userId: string
  userEmail: string
  tokenPrefix: string | null
  durationHours: number
  status: Exclude<TokenStatus, 'all'>
  costMinor: number
  createdAt: Date
  activatedAt: Date | null
  expiresAt: Date | null
  revokedAt: Date | null
}

export interface Granted {
  row: AccessTokenRow
  /** The token itself: shown once, to the operator who granted it. */
  token: string
  newBalance: number
}

export function statusOf(row: Pick<AccessTokenRow, 'isActive' | 'activatedAt' | 'expiresAt'>, now: Date): Exclude<TokenStatus, 'all'> {
  if (!row.isActive) return 'revoked'
  if (row.activatedAt === null) return 'ready'
  return row.expiresAt! > now ? 'active' : 'expired'
}

export function createAdminTokens(deps: {
  db: Db
  cache: TokenCache
  cipher: TokenCipher
  clock: Clock
  audit: Audit
  hashToken?: (token: string) => string | Promise<string>
}) {
  const { db, cache, cipher, clock, audit } = deps
  const hashToken = deps.hashToken ?? hashAccessToken

  const statusWhere = (status: TokenStatus, now: Date): SQL | undefined => {
    const live = eq(accessTokens.isActive, true)
    switch (status) {
      case 'active':
        return and(live, isNotNull(accessTokens.activatedAt), gt(accessTokens.expiresAt, now))
      case 'ready':
        return and(live, isNull(accessTokens.activatedAt))
      case 'expired':
        return and(live, lte(accessTokens.expiresAt, now))
      case 'revoked':
        return eq(accessTokens.isActive, false)
      case 'all':
        return undefined
    }
  }

  return {
    async list(q: { userId?: string; status: TokenStatus; limit: number; offset: number }): Promise<{ items: AdminTokenView[]; total: number }> {
      const now = clock.now()
      const where = and(q.userId ? eq(accessTokens.userId, q.userId) : undefined, statusWhere(q.status, now))
      const [rows, [total]] = await Promise.all([
        db
          .select({ token: accessTokens, email: users.email })
          .from(accessTokens)
          .innerJoin(users, eq(users.id, accessTokens.userId))
          .where(where)
          .orderBy(desc(accessTokens.createdAt), desc(accessTokens.id))
          .limit(q.limit)
          .offset(q.offset),
        db.select({ n: count() }).from(accessTokens).where(where),
      ])
      const items = await Promise.all(
        rows.map(async ({ token: t, email }) => ({
          id: t.id,
          userId: t.userId,
          userEmail: email,
          tokenPrefix: await tokenPrefix(cipher, t.tokenCiphertext),
          durationHours: t.durationHours,
          status: statusOf(t, now),
          costMinor: t.costMinor,
          createdAt: t.createdAt,
          activatedAt: t.activatedAt,
          expiresAt: t.expiresAt,
          revokedAt: t.revokedAt,
        })),
      )
      return { items, total: Number(total?.n ?? 0) }
    },

    /** Revokes any user's token, never refunding; refused everywhere (open sockets and streams closed) before this resolves. */
    async revoke(tokenId: string, ctx: AuditContext): Promise<void> {
      const now = clock.now()
      // The row lock orders this against the owner's own revocation and against first use.
      const hash = await db.transaction(async (t) => {
        const tx = t as unknown as Db
        const [current] = await tx.select().from(accessTokens).where(eq(accessTokens.id, tokenId)).for('update')
        if (!current) throw new DomainError('token_not_found')
        if (!current.isActive) throw new DomainError('token_already_revoked')
        await tx.update(accessTokens).set({ isActive: false, revokedAt: now }).where(eq(accessTokens.id, tokenId))
        await audit.record(tx, {
          action: 'token.revoke',
          ...ctx,
          subjectUserId: current.userId,
          resourceType: 'token',
          resourceId: tokenId,
          details: { by: 'admin', refund_znc: '0.00' },
        })
        return current.tokenHash
      })
      await cache.invalidate([hash])
    },

    /** A token given free of charge (cost 0, no ledger transaction), with the reason in the audit log. */
    async grant(input: { userId: string; durationHours: number; reason: string }, ctx: AuditContext): Promise<Granted> {
      if (!(ALLOWED_DURATIONS as readonly number[]).includes(input.durationHours)) {
        throw new DomainError('invalid_duration', `Invalid duration. Must be one of: [${ALLOWED_DURATIONS.join(', ')}]`, { allowed: ALLOWED_DURATIONS })
      }
      const token = generateAccessToken()
      const [tokenHash, tokenCiphertext] = await Promise.all([hashToken(token), cipher.encrypt(token)])
      const now = clock.now()
      return db.transaction(async (t) => {
        const tx = t as unknown as Db
        const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, input.userId))
        if (!user) throw new DomainError('user_not_found_admin')
        const [row] = await tx
          .insert(accessTokens)
          .values({ userId: input.userId, tokenHash, tokenCiphertext, durationHours: input.durationHours, createdAt: now, costMinor: 0 })
          .returning()
        await audit.record(tx, {
          action: 'token.grant',
          ...ctx,
          subjectUserId: input.userId,
          resourceType: 'token',
          resourceId: row!.id,
          details: { duration_hours: input.durationHours, reason: input.reason },
        })
        return { row: row!, token, newBalance: await balanceOf(tx, input.userId) }
      })
    },
  }
}

export type AdminTokens = ReturnType<typeof createAdminTokens>
