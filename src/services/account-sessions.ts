// Sign-ins on the account page (ACCOUNT_URL). The browser holds a random secret in its
// `__Host-` cookie; the database holds only the secret's SHA-256, so a dump signs no one in.
// A session ends at logout, "log out everywhere", after ACCOUNT_SESSION_IDLE_MINUTES without a
// request, at ACCOUNT_SESSION_MAX_HOURS however busy, and the moment its user is deactivated
// (checked on every request, not cached).

import { eq, lt, or } from 'drizzle-orm'
import { generateAccessToken, hashAccessToken, TOKEN_PATTERN } from '../crypto/access-token'
import type { Db } from '../db/client'
import { accountSessions, type UserRow, users } from '../db/schema'
import type { Audit, AuditContext } from './audit'
import type { Clock } from './clock'

/** last_seen_at is written at most this often: a page and its refreshes cost one read, not a write each. */
const TOUCH_EVERY_MS = 60_000

export interface SignedIn {
  user: UserRow
  sessionId: string
}

export function createAccountSessions(deps: { db: Db; clock: Clock; audit: Audit; idleMinutes: number; maxHours: number }) {
  const { db, clock, audit } = deps
  const idleMs = deps.idleMinutes * 60_000

  return {
    /** Seconds the cookie should live: the absolute timeout (the idle one is enforced here). */
    cookieMaxAge: deps.maxHours * 3600,

    /** A new sign-in for `user`: the cookie's value (never stored). */
    async start(user: UserRow, ctx: AuditContext): Promise<string> {
      const secret = generateAccessToken()
      const now = clock.now()
      await db.insert(accountSessions).values({
        userId: user.id,
        secretHash: await hashAccessToken(secret),
        createdAt: now,
        lastSeenAt: now,
        expiresAt: new Date(now.getTime() + deps.maxHours * 3_600_000),
        ip: ctx.ip?.slice(0, 64) ?? null,
        userAgent: ctx.userAgent?.slice(0, 512) ?? null,
      })
      return secret
    },

    /** The active user behind a cookie value, or null (unknown, ended, idle, past its end, user deactivated). */
    async resolve(secret: string | undefined): Promise<SignedIn | null> {
      if (!secret || !TOKEN_PATTERN.test(secret)) return null
      const [row] = await db
        .select({ session: accountSessions, user: users })
        .from(accountSessions)
        .innerJoin(users, eq(users.id, accountSessions.userId))
        .where(eq(accountSessions.secretHash, await hashAccessToken(secret)))
      if (!row) return null
      const now = clock.now().getTime()
      const { session, user } = row
      if (!user.isActive || session.expiresAt.getTime() <= now || session.lastSeenAt.getTime() + idleMs <= now) {
        await db.delete(accountSessions).where(eq(accountSessions.id, session.id))
        return null
      }
      if (now - session.lastSeenAt.getTime() >= TOUCH_EVERY_MS)
        await db
          .update(accountSessions)
          .set({ lastSeenAt: new Date(now) })
          .where(eq(accountSessions.id, session.id))
      return { user, sessionId: session.id }
    },

    /** Logout: this browser's session, or every session of the user ("log out everywhere"). */
    async end(signedIn: SignedIn, everywhere: boolean, ctx: AuditContext): Promise<void> {
      await db.transaction(async (tx) => {
        await tx.delete(accountSessions).where(everywhere ? eq(accountSessions.userId, signedIn.user.id) : eq(accountSessions.id, signedIn.sessionId))
        await audit.record(tx, { action: 'account.logout', ...ctx, subjectUserId: signedIn.user.id, details: { everywhere } })
      })
    },

    /** Every sign-in of a user ends (deactivation, a password change elsewhere). */
    async endAllFor(userId: string): Promise<void> {
      await db.delete(accountSessions).where(eq(accountSessions.userId, userId))
    },

    /** Sessions past either timeout are deleted (the sweeper calls it; resolve refuses them anyway). */
    async prune(): Promise<number> {
      const now = clock.now()
      const gone = await db
        .delete(accountSessions)
        .where(or(lt(accountSessions.expiresAt, now), lt(accountSessions.lastSeenAt, new Date(now.getTime() - idleMs))))
        .returning({ id: accountSessions.id })
      return gone.length
    },

    /** How many browsers are signed in as this user (shown on the page). */
    async countFor(userId: string): Promise<number> {
      const rows = await db.select({ id: accountSessions.id }).from(accountSessions).where(eq(accountSessions.userId, userId))
      return rows.length
    },
  }
}

export type AccountSessions = ReturnType<typeof createAccountSessions>
