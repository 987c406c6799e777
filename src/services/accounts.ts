import { eq } from 'drizzle-orm'
import type { TokenCache } from '../cache/interface'
import { dummyHash, MAX_PASSWORD_BYTES, type PasswordHasher, passwordBytes } from '../crypto/password'
import { type Db, pgConstraint, pgErrorCode } from '../db/client'
import { accessTokens, type UserRow, users } from '../db/schema'
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

export function createAccounts(deps: { db: Db; hasher: PasswordHasher; cache: TokenCache; clock: Clock }) {
  const { db, hasher, cache, clock } = deps

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

  const findByUsername = async (username: string) => (await db.select().from(users).where(eq(users.username, username)).limit(1))[0] ?? null

  return {
    findByEmail,

    async getById(id: string): Promise<UserRow | null> {
      return (await db.select().from(users).where(eq(users.id, id)).limit(1))[0] ?? null
    },

    async register(input: NewAccount): Promise<UserRow> {
      const email = normalizeEmail(input.email)
      // Email first, then username: the order the contract's messages promise.
      if (await findByEmail(email)) throw new DomainError('email_taken')
      if (await findByUsername(input.username)) throw new DomainError('username_taken')
      const hashedPassword = await hasher.hash(input.password)
      const now = clock.now()
      try {
        const [row] = await db
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
        return row!
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
      const user = await findByEmail(email)
      const ok = await hasher.verify(password, user?.hashedPassword ?? dummy)
      if (!user || !ok || !user.isActive || passwordBytes(password) > MAX_PASSWORD_BYTES) return null
      return user
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
    async setActive(id: string, active: boolean): Promise<UserRow | null> {
      const [row] = await db.update(users).set({ isActive: active, updatedAt: clock.now() }).where(eq(users.id, id)).returning()
      if (row && !active) {
        const tokens = await db.select({ hash: accessTokens.tokenHash }).from(accessTokens).where(eq(accessTokens.userId, id))
        await cache.invalidate(tokens.map((t) => t.hash))
      }
      return row ?? null
    },
  }
}

export type Accounts = ReturnType<typeof createAccounts>
