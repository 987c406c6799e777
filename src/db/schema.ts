import { sql } from 'drizzle-orm'
import { boolean, char, check, index, integer, pgTable, text, timestamp, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core'

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow()

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    // Stored lower-cased so "A@x.io" and "a@x.io" are one account.
    email: varchar('email', { length: 255 }).notNull(),
    username: varchar('username', { length: 50 }).notNull(),
    hashedPassword: varchar('hashed_password', { length: 255 }).notNull(),
    fullName: varchar('full_name', { length: 255 }),
    isActive: boolean('is_active').notNull().default(true),
    isSuperuser: boolean('is_superuser').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('users_email_key').on(t.email), uniqueIndex('users_username_key').on(t.username)],
)

export const accessTokens = pgTable(
  'access_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    // SHA-256 (hex) of the token: what requests are looked up by. The token itself is never stored in clear.
    tokenHash: char('token_hash', { length: 64 }).notNull(),
    // AES-GCM ciphertext of the token under a key derived from SECRET_KEY, so `my-tokens` can show it again.
    tokenCiphertext: text('token_ciphertext').notNull(),
    durationHours: integer('duration_hours').notNull(),
    isActive: boolean('is_active').notNull().default(true),
    createdAt: createdAt(),
    activatedAt: timestamp('activated_at', { withTimezone: true }),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('access_tokens_token_hash_key').on(t.tokenHash),
    index('access_tokens_user_created_idx').on(t.userId, t.createdAt.desc()),
    check('access_tokens_duration_check', sql`${t.durationHours} in (1, 12, 24, 168, 720)`),
    check('access_tokens_expiry_check', sql`(${t.activatedAt} is null) = (${t.expiresAt} is null)`),
  ],
)

export type UserRow = typeof users.$inferSelect
export type AccessTokenRow = typeof accessTokens.$inferSelect
