// Operators' view and changes of accounts (CONTRACT.md "Operating it"). Every change is one
// audit event in its own transaction; deactivation refuses the user's tokens everywhere.

import { and, asc, count, desc, eq, gt, ilike, isNull, or, sql } from 'drizzle-orm'
import type { TokenCache } from '../cache/interface'
import type { TokenCipher } from '../crypto/access-token'
import type { Db } from '../db/client'
import { accessTokens, ledgerAccounts, type ProxySessionRow, proxySessions, type UserRow, users } from '../db/schema'
import type { Audit, AuditContext } from './audit'
import type { Clock } from './clock'
import { DomainError } from './errors'
import { balanceOf } from './ledger'

export interface UserWithBalance {
  user: UserRow
  /** ZNC minor units. */
  balance: number
}

export interface TokenSummary {
  id: string
  /** The token's first 6 characters, enough to tell it apart; null if it can no longer be decrypted. */
  tokenPrefix: string | null
  durationHours: number
  createdAt: Date
  activatedAt: Date | null
  expiresAt: Date | null
  costMinor: number
}

export interface UserDetail extends UserWithBalance {
  tokens: TokenSummary[]
  sessions: ProxySessionRow[]
}

export interface UserChanges {
  isActive?: boolean
  isSuperuser?: boolean
  fullName?: string | null
}

export const TOKEN_PREFIX_LENGTH = 6

/** A LIKE pattern matching `text` literally anywhere: `\`, `%` and `_` lose their meaning. */
export const containsPattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/** Just enough of a token to recognise it, from its stored ciphertext. */
export async function tokenPrefix(cipher: TokenCipher, ciphertext: string): Promise<string | null> {
  return (await cipher.decrypt(ciphertext))?.slice(0, TOKEN_PREFIX_LENGTH) ?? null
}

export function createAdminUsers(deps: { db: Db; cache: TokenCache; cipher: TokenCipher; clock: Clock; audit: Audit }) {
  const { db, cache, cipher, clock, audit } = deps
  const balance = sql<number>`coalesce(${ledgerAccounts.balance}, 0)`.mapWith(Number)

  return {
    async list(q: { search?: string; isActive?: boolean; limit: number; offset: number }): Promise<{ items: UserWithBalance[]; total: number }> {
      const pattern = q.search ? containsPattern(q.search) : null
      const where = and(
        pattern ? or(ilike(users.email, pattern), ilike(users.username, pattern)) : undefined,
        q.isActive === undefined ? undefined : eq(users.isActive, q.isActive),
      )
      const [rows, [total]] = await Promise.all([
        db
          .select({ user: users, balance })
          .from(users)
          .leftJoin(ledgerAccounts, eq(ledgerAccounts.userId, users.id))
          .where(where)
          .orderBy(desc(users.createdAt), desc(users.id))
          .limit(q.limit)
          .offset(q.offset),
        db.select({ n: count() }).from(users).where(where),
      ])
      return { items: rows, total: Number(total?.n ?? 0) }
    },

    /** The user, balance, live tokens (prefix only) and open proxy sessions; null if there is no such user. */
    async get(id: string): Promise<UserDetail | null> {
      const now = clock.now()
      const [found] = await db
        .select({ user: users, balance })
        .from(users)
        .leftJoin(ledgerAccounts, eq(ledgerAccounts.userId, users.id))
        .where(eq(users.id, id))
      if (!found) return null
      const [tokenRows, sessions] = await Promise.all([
        db
          .select()
          .from(accessTokens)
          .where(and(eq(accessTokens.userId, id), eq(accessTokens.isActive, true), or(isNull(accessTokens.expiresAt), gt(accessTokens.expiresAt, now))))
          .orderBy(desc(accessTokens.createdAt), desc(accessTokens.id)),
        db
          .select()
          .from(proxySessions)
          .where(and(eq(proxySessions.userId, id), isNull(proxySessions.endedAt)))
          .orderBy(desc(proxySessions.startedAt)),
      ])
      const tokens = await Promise.all(
        tokenRows.map(async (t) => ({
          id: t.id,
          tokenPrefix: await tokenPrefix(cipher, t.tokenCiphertext),
          durationHours: t.durationHours,
          createdAt: t.createdAt,
          activatedAt: t.activatedAt,
          expiresAt: t.expiresAt,
          costMinor: t.costMinor,
        })),
      )
      return { ...found, tokens, sessions }
    },

    /**
     * Changes activity, superuser status or name. Removing an active superuser (deactivating or
     * demoting) first locks every active superuser row, so two operators removing each other at
     * once are decided one after the other: the second sees only one left and is refused.
     */
    async update(id: string, changes: UserChanges, ctx: AuditContext): Promise<UserWithBalance> {
      const removing = changes.isActive === false || changes.isSuperuser === false
      const { row, deactivated } = await db.transaction(async (t) => {
        const tx = t as unknown as Db
        // Always the superusers before the target, in one order: no two updates can deadlock.
        const supers = removing
          ? await tx
              .select({ id: users.id })
              .from(users)
              .where(and(eq(users.isSuperuser, true), eq(users.isActive, true)))
              .orderBy(asc(users.id))
              .for('update')
          : []
        const [current] = await tx.select().from(users).where(eq(users.id, id)).for('update')
        if (!current) throw new DomainError('user_not_found_admin')
        const set: Partial<typeof users.$inferInsert> = {}
        if (changes.isActive !== undefined && changes.isActive !== current.isActive) set.isActive = changes.isActive
        if (changes.isSuperuser !== undefined && changes.isSuperuser !== current.isSuperuser) set.isSuperuser = changes.isSuperuser
        if (changes.fullName !== undefined && changes.fullName !== current.fullName) set.fullName = changes.fullName
        const fields = Object.keys(set)
        if (fields.length === 0) return { row: current, deactivated: false }
        const wasActiveSuper = current.isActive && current.isSuperuser
        const staysActiveSuper = (set.isActive ?? current.isActive) && (set.isSuperuser ?? current.isSuperuser)
        if (wasActiveSuper && !staysActiveSuper && !supers.some((s) => s.id !== current.id)) throw new DomainError('last_superuser')
        const [row] = await tx
          .update(users)
          .set({ ...set, updatedAt: clock.now() })
          .where(eq(users.id, id))
          .returning()
        const names = { isActive: 'is_active', isSuperuser: 'is_superuser', fullName: 'full_name' } as Record<string, string>
        await audit.record(tx, {
          action: 'user.update',
          ...ctx,
          subjectUserId: id,
          resourceType: 'user',
          resourceId: id,
          details: {
            fields: fields.map((f) => names[f]).join(','),
            ...(set.isActive === undefined ? {} : { is_active: set.isActive }),
            ...(set.isSuperuser === undefined ? {} : { is_superuser: set.isSuperuser }),
          },
        })
        return { row: row!, deactivated: set.isActive === false }
      })
      // As accounts.setActive: every tier on every instance forgets the user's tokens, which closes their streams and sockets.
      if (deactivated) {
        const tokens = await db.select({ hash: accessTokens.tokenHash }).from(accessTokens).where(eq(accessTokens.userId, id))
        await cache.invalidate(tokens.map((t) => t.hash))
      }
      return { user: row, balance: await balanceOf(db, id) }
    },
  }
}

export type AdminUsers = ReturnType<typeof createAdminUsers>
