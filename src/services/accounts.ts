import { eq } from 'drizzle-orm'
import type { TokenCache } from '../cache/interface'
import { dummyHash, MAX_PASSWORD_BYTES, type PasswordHasher, passwordBytes } from '../crypto/password'
import { type Db, pgConstraint, pgErrorCode } from '../db/client'
import { accessTokens, type UserRow, users } from '../db/schema'
import type { Audit, AuditContext } from './audit'
import type { Clock } from './clock'
import { DomainError } from './errors'

export interface NewAccount {
  email: string
  username: string
  password: string
  fullName?: string | null
  isSuperuser?: boolean
}

export interface AccountChanges {
  fullName?: string | null
  password?: string
}

export const normalizeEmail = (email: string) => email.trim().toLowerCase()

/** Why a login failed, for the audit log only: the answer is the same whatever the reason. */
export type LoginFailure = 'unknown_email' | 'bad_password' | 'inactive' | 'locked' | 'rate_limited'

export type Checked = { user: UserRow; failure: null } | { user: UserRow | null; failure: LoginFailure }

export interface RegisterOptions {
  /** Who registered it and from where; an anonymous caller when absent. */
  ctx?: AuditContext
  /** More work in the registration's own transaction (the CLI's own event). */
  within?: (tx: Db, user: UserRow) => Promise<void>
}

export function createAccounts(deps: { db: Db; hasher: PasswordHasher; cache: TokenCache; clock: Clock; audit?: Audit }) {
  const { db, hasher, cache, clock, audit } = deps

  // Unknown emails are checked against a constant hash at the configured cost, so every
  // failed login costs one bcrypt verify, and nothing is shared between requests.
  const dummy = dummyHash(hasher.rounds)

  const findByEmail = async (email: string) =>
    (
      await db
        .select()
        .from(users)
        .where(eq(users.email, normalizeEmail(email)))
        .limit(1)
    )[0] ?? null

  /** Exactly one bcrypt verify whatever the outcome, so the reason never shows in the timing. */
  const check = async (email: string, password: string): Promise<Checked> => {
    const user = await findByEmail(email)
    const ok = await hasher.verify(password, user?.hashedPassword ?? dummy)
    if (!user) return { user: null, failure: 'unknown_email' }
    if (!ok || passwordBytes(password) > MAX_PASSWORD_BYTES) return { user, failure: 'bad_password' }
    if (!user.isActive) return { user, failure: 'inactive' }
    return { user, failure: null }
  }

  const findByUsername = async (username: string) => (await db.select().from(users).where(eq(users.username, username)).limit(1))[0] ?? null

  return {
    findByEmail,

    async getById(id: string): Promise<UserRow | null> {
      return (await db.select().from(users).where(eq(users.id, id)).limit(1))[0] ?? null
    },

    async register(input: NewAccount, opts: RegisterOptions = {}): Promise<UserRow> {
      const email = normalizeEmail(input.email)
      // Email first, then username: the order the contract's messages promise.
      if (await findByEmail(email)) throw new DomainError('email_taken')
      if (await findByUsername(input.username)) throw new DomainError('username_taken')
      const hashedPassword = await hasher.hash(input.password)
      const now = clock.now()
      const ctx = opts.ctx ?? { actorType: 'anonymous' }
      try {
        // The user and its audit event commit together, or neither does.
        return await db.transaction(async (t) => {
          const tx = t as unknown as Db
          const [row] = await tx
            .insert(users)
            .values({
              email,
              username: input.username,
              hashedPassword,
              fullName: input.fullName ?? null,
              isSuperuser: input.isSuperuser ?? false,
              createdAt: now,
              updatedAt: now,
            })
            .returning()
          await audit?.record(tx, { action: 'auth.register', ...ctx, subjectUserId: row!.id, resourceType: 'user', resourceId: row!.id })
          await opts.within?.(tx, row!)
          return row!
        })
      } catch (err) {
        // Two registrations racing past the checks above: the unique index decides.
        if (pgErrorCode(err) === '23505') {
          throw new DomainError(pgConstraint(err) === 'users_username_key' ? 'username_taken' : 'email_taken')
        }
        throw err
      }
    },

    /** The user for these credentials, or null — after exactly one bcrypt verify whatever the reason. */
    async authenticate(email: string, password: string): Promise<UserRow | null> {
      const checked = await check(email, password)
      return checked.failure ? null : checked.user
    },

    /** authenticate, also saying why it failed (for the audit log; never for the answer). */
    check,

    /** One auth.login event in a transaction of its own (a login changes nothing else). */
    async recordLogin(ctx: Omit<AuditContext, 'actorType' | 'actorId'>, outcome: { user: UserRow | null; failure: LoginFailure | null }): Promise<void> {
      if (!audit) return
      const { user, failure } = outcome
      await db.transaction((tx) =>
        audit.record(tx as unknown as Db, {
          action: 'auth.login',
          outcome: failure ? 'failure' : 'success',
          ...ctx,
          actorType: failure ? 'anonymous' : 'user',
          actorId: failure ? null : user!.id,
          subjectUserId: user?.id ?? null,
          details: failure ? { reason: failure } : {},
        }),
      )
    },

    async update(id: string, changes: AccountChanges): Promise<UserRow> {
      const set: Partial<typeof users.$inferInsert> = { updatedAt: clock.now() }
      if (changes.fullName !== undefined) set.fullName = changes.fullName
      if (changes.password !== undefined) set.hashedPassword = await hasher.hash(changes.password)
      const [row] = await db.update(users).set(set).where(eq(users.id, id)).returning()
      if (!row) throw new DomainError('user_not_found')
      return row
    },

    /** Deactivating a user refuses all of their tokens on the next request, on every instance. */
    async setActive(id: string, active: boolean, opts: { within?: (tx: Db, user: UserRow) => Promise<void> } = {}): Promise<UserRow | null> {
      const change = (q: Db) => q.update(users).set({ isActive: active, updatedAt: clock.now() }).where(eq(users.id, id)).returning()
      const { within } = opts
      // With more work (an audit event), the change and that work commit together.
      const [row] = within
        ? await db.transaction(async (t) => {
            const rows = await change(t as unknown as Db)
            if (rows[0]) await within(t as unknown as Db, rows[0])
            return rows
          })
        : await change(db)
      if (row && !active) {
        const tokens = await db.select({ hash: accessTokens.tokenHash }).from(accessTokens).where(eq(accessTokens.userId, id))
        await cache.invalidate(tokens.map((t) => t.hash))
      }
      return row ?? null
    },
  }
}

export type Accounts = ReturnType<typeof createAccounts>
