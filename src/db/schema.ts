import { sql } from 'drizzle-orm'
import { bigint, boolean, char, check, index, integer, pgTable, text, timestamp, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core'

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
    // What the buyer paid, in ZNC minor units (1 ZNC = 100): the refund is this, never the current price.
    costMinor: bigint('cost_minor', { mode: 'number' }).notNull().default(0),
  },
  (t) => [
    check('access_tokens_cost_check', sql`${t.costMinor} >= 0`),
    uniqueIndex('access_tokens_token_hash_key').on(t.tokenHash),
    index('access_tokens_user_created_idx').on(t.userId, t.createdAt.desc()),
    check('access_tokens_duration_check', sql`${t.durationHours} in (1, 12, 24, 168, 720)`),
    check('access_tokens_expiry_check', sql`(${t.activatedAt} is null) = (${t.expiresAt} is null)`),
  ],
)

// ---- Credits (ZNC): a double-entry ledger. The rules live in the database too (drizzle/0001_ledger.sql
// triggers): entries and transactions are append-only, each transaction sums to zero, a wallet's balance
// moves only through its entries and never below zero.

export const LEDGER_ACCOUNT_KINDS = ['wallet', 'provider_clearing', 'revenue', 'adjustments', 'opening_balances'] as const
export type LedgerAccountKind = (typeof LEDGER_ACCOUNT_KINDS)[number]
export const LEDGER_TRANSACTION_KINDS = ['deposit', 'purchase', 'refund', 'adjustment', 'opening'] as const
export type LedgerTransactionKind = (typeof LEDGER_TRANSACTION_KINDS)[number]

const inList = (values: readonly string[]) => sql.raw(values.map((v) => `'${v}'`).join(', '))

export const ledgerAccounts = pgTable(
  'ledger_accounts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: varchar('kind', { length: 32 }).notNull(),
    // A wallet's owner; system accounts (clearing, revenue…) have none.
    userId: uuid('user_id').references(() => users.id, { onDelete: 'restrict' }),
    // Kept by the entry trigger for wallets only: system accounts are summed when asked, so no
    // purchase ever waits on a shared revenue row.
    balance: bigint('balance', { mode: 'number' }).notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('ledger_accounts_user_key').on(t.userId),
    uniqueIndex('ledger_accounts_system_key').on(t.kind).where(sql`${t.userId} is null`),
    check('ledger_accounts_kind_check', sql`${t.kind} in (${inList(LEDGER_ACCOUNT_KINDS)})`),
    check('ledger_accounts_owner_check', sql`(${t.kind} = 'wallet') = (${t.userId} is not null)`),
    check('ledger_accounts_balance_check', sql`${t.balance} >= 0`),
  ],
)

export const PAYMENT_STATUSES = ['creating', 'pending', 'waiting_for_capture', 'succeeded', 'canceled', 'review'] as const
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number]

export const payments = pgTable(
  'payments',
  {
    // Our id: what the API calls payment_id, and the provider's Idempotence-Key.
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    provider: varchar('provider', { length: 16 }).notNull(),
    // null until the provider has answered the creation.
    providerPaymentId: varchar('provider_payment_id', { length: 64 }),
    status: varchar('status', { length: 24 }).notNull().default('creating'),
    amountMinor: bigint('amount_minor', { mode: 'number' }).notNull(),
    // What the provider charges, in its currency's minor units (kopecks).
    chargeMinor: bigint('charge_minor', { mode: 'number' }).notNull(),
    currency: varchar('currency', { length: 3 }).notNull(),
    paymentUrl: text('payment_url'),
    returnUrl: text('return_url'),
    idempotencyKey: varchar('idempotency_key', { length: 255 }),
    // Why a payment is held for an operator instead of credited (amount or currency mismatch).
    reviewReason: text('review_reason'),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    succeededAt: timestamp('succeeded_at', { withTimezone: true }),
    creditedAt: timestamp('credited_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('payments_provider_id_key').on(t.provider, t.providerPaymentId),
    uniqueIndex('payments_user_idempotency_key').on(t.userId, t.idempotencyKey),
    index('payments_user_created_idx').on(t.userId, t.createdAt.desc()),
    index('payments_open_idx').on(t.createdAt).where(sql`${t.status} in ('creating', 'pending', 'waiting_for_capture')`),
    check('payments_status_check', sql`${t.status} in (${inList(PAYMENT_STATUSES)})`),
    check('payments_amount_check', sql`${t.amountMinor} > 0 and ${t.chargeMinor} > 0`),
  ],
)

export const ledgerTransactions = pgTable(
  'ledger_transactions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: varchar('kind', { length: 16 }).notNull(),
    // The business event this is the one effect of: a payment id, a token id, an idempotency key.
    reference: varchar('reference', { length: 300 }).notNull(),
    // The wallet owner whose history shows it.
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    description: text('description').notNull(),
    paymentId: uuid('payment_id').references(() => payments.id, { onDelete: 'restrict' }),
    tokenId: uuid('token_id').references(() => accessTokens.id, { onDelete: 'restrict' }),
    // Who made an adjustment (an operator); null for the user's own actions and the system's.
    actorId: uuid('actor_id').references(() => users.id, { onDelete: 'restrict' }),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('ledger_transactions_reference_key').on(t.kind, t.reference),
    index('ledger_transactions_token_idx').on(t.tokenId),
    check('ledger_transactions_kind_check', sql`${t.kind} in (${inList(LEDGER_TRANSACTION_KINDS)})`),
  ],
)

export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    transactionId: uuid('transaction_id')
      .notNull()
      .references(() => ledgerTransactions.id, { onDelete: 'restrict' }),
    accountId: uuid('account_id')
      .notNull()
      .references(() => ledgerAccounts.id, { onDelete: 'restrict' }),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    // The wallet's balance after this entry, set by the trigger; null on system accounts.
    balanceAfter: bigint('balance_after', { mode: 'number' }),
    createdAt: createdAt(),
  },
  (t) => [
    index('ledger_entries_account_idx').on(t.accountId, t.id.desc()),
    index('ledger_entries_transaction_idx').on(t.transactionId),
    check('ledger_entries_amount_check', sql`${t.amount} <> 0`),
  ],
)

/** Every provider notification as delivered, before anything is decided from it. */
export const paymentNotifications = pgTable(
  'payment_notifications',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    provider: varchar('provider', { length: 16 }).notNull(),
    providerPaymentId: varchar('provider_payment_id', { length: 64 }),
    event: varchar('event', { length: 64 }),
    sourceAddress: varchar('source_address', { length: 64 }).notNull(),
    requestId: varchar('request_id', { length: 128 }),
    body: text('body').notNull(),
    // What came of it: credited, already_credited, not_paid, held_for_review, unknown_payment, malformed, provider_unavailable.
    outcome: varchar('outcome', { length: 32 }),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('payment_notifications_payment_idx').on(t.provider, t.providerPaymentId)],
)

/** Idempotency-Key records: the first answer kept byte for byte, written in the same transaction as the money it moved. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    key: varchar('key', { length: 255 }).notNull(),
    // SHA-256 of method, route and canonical body: the same key with another request is refused.
    requestHash: char('request_hash', { length: 64 }).notNull(),
    // null while the first request is still at work (top-ups, which call the provider between transactions).
    statusCode: integer('status_code'),
    responseBody: text('response_body'),
    // A request that died mid-way stops holding its key after this.
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('idempotency_keys_pkey_idx').on(t.userId, t.key), index('idempotency_keys_created_idx').on(t.createdAt)],
)

/** The development provider's own state (PAYMENT_PROVIDER=fake): what a real provider keeps on its side. */
export const fakeProviderPayments = pgTable('fake_provider_payments', {
  id: varchar('id', { length: 64 }).primaryKey(),
  idempotenceKey: varchar('idempotence_key', { length: 255 }).notNull().unique(),
  status: varchar('status', { length: 24 }).notNull().default('pending'),
  amountMinor: bigint('amount_minor', { mode: 'number' }).notNull(),
  currency: varchar('currency', { length: 3 }).notNull(),
  description: text('description').notNull(),
  returnUrl: text('return_url').notNull(),
  metadata: text('metadata').notNull(),
  createdAt: createdAt(),
})

export type UserRow = typeof users.$inferSelect
export type AccessTokenRow = typeof accessTokens.$inferSelect
export type LedgerAccountRow = typeof ledgerAccounts.$inferSelect
export type PaymentRow = typeof payments.$inferSelect

// ---- Operating it: audit log, proxy sessions, locks.

/**
 * One event per thing that happened (CONTRACT.md "Operating it"), written in the transaction of the
 * change. Rows are chained: `hmac` = HMAC(key from SECRET_KEY, prev_hmac + the row's fields), so an
 * edited or deleted row breaks the chain (`cli audit-verify`). `details` is text, not jsonb: jsonb
 * reorders keys and the HMAC covers the exact bytes.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull().defaultNow(),
    action: varchar('action', { length: 64 }).notNull(),
    outcome: varchar('outcome', { length: 16 }).notNull(),
    actorType: varchar('actor_type', { length: 16 }).notNull(),
    actorId: uuid('actor_id'),
    subjectUserId: uuid('subject_user_id'),
    resourceType: varchar('resource_type', { length: 32 }),
    resourceId: varchar('resource_id', { length: 64 }),
    ip: varchar('ip', { length: 64 }),
    userAgent: varchar('user_agent', { length: 512 }),
    requestId: varchar('request_id', { length: 128 }),
    details: text('details').notNull().default('{}'),
    prevHmac: char('prev_hmac', { length: 64 }).notNull(),
    hmac: char('hmac', { length: 64 }).notNull(),
  },
  (t) => [
    index('audit_events_occurred_idx').on(t.occurredAt),
    index('audit_events_subject_idx').on(t.subjectUserId, t.occurredAt),
    index('audit_events_action_idx').on(t.action, t.occurredAt),
    check('audit_events_outcome_check', sql`${t.outcome} in ('success', 'failure', 'denied')`),
    check('audit_events_actor_check', sql`${t.actorType} in ('user', 'admin', 'system', 'cli', 'anonymous')`),
  ],
)

/**
 * The audit chain's two ends, one row: the last event (locked by each audited transaction while it
 * appends) and the anchor, the HMAC the oldest kept event must follow (moved only by retention pruning).
 */
export const auditChainHead = pgTable('audit_chain_head', {
  id: integer('id').primaryKey(),
  lastId: bigint('last_id', { mode: 'number' }),
  lastHmac: char('last_hmac', { length: 64 }).notNull(),
  anchorHmac: char('anchor_hmac', { length: 64 }).notNull(),
})

export const SESSION_END_REASONS = ['idle', 'revoked', 'expired', 'terminated', 'locked', 'deactivated', 'shutdown'] as const
export type SessionEndReason = (typeof SESSION_END_REASONS)[number]

/** One device's use of one access token. Counters are flushed from memory in batches, never per request. */
export const proxySessions = pgTable(
  'proxy_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tokenId: uuid('token_id')
      .notNull()
      .references(() => accessTokens.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    // SHA-256 of the device's identity (X-Device-ID, the zenzefi_device cookie, or address + browser): never the raw value.
    deviceKey: char('device_key', { length: 64 }).notNull(),
    // How the device was told apart: header, cookie or address.
    deviceSource: varchar('device_source', { length: 16 }).notNull(),
    firstIp: varchar('first_ip', { length: 64 }),
    lastIp: varchar('last_ip', { length: 64 }),
    userAgent: varchar('user_agent', { length: 512 }),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    endReason: varchar('end_reason', { length: 16 }),
    requests: bigint('requests', { mode: 'number' }).notNull().default(0),
    bytesIn: bigint('bytes_in', { mode: 'number' }).notNull().default(0),
    bytesOut: bigint('bytes_out', { mode: 'number' }).notNull().default(0),
    websocketsOpen: integer('websockets_open').notNull().default(0),
  },
  (t) => [
    uniqueIndex('proxy_sessions_open_device_key').on(t.tokenId, t.deviceKey).where(sql`${t.endedAt} is null`),
    index('proxy_sessions_user_idx').on(t.userId, t.startedAt.desc()),
    index('proxy_sessions_open_idx').on(t.lastSeenAt).where(sql`${t.endedAt} is null`),
    check('proxy_sessions_end_check', sql`(${t.endedAt} is null) = (${t.endReason} is null)`),
  ],
)

/** An operator's lock on a user or a token: new requests get 403 with `message` until it lapses or is lifted. */
export const accessLocks = pgTable(
  'access_locks',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    targetType: varchar('target_type', { length: 8 }).notNull(),
    targetId: uuid('target_id').notNull(),
    message: text('message').notNull(),
    createdBy: uuid('created_by'),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    liftedAt: timestamp('lifted_at', { withTimezone: true }),
  },
  (t) => [
    index('access_locks_target_idx').on(t.targetType, t.targetId).where(sql`${t.liftedAt} is null`),
    check('access_locks_target_check', sql`${t.targetType} in ('user', 'token')`),
  ],
)

export type ProxySessionRow = typeof proxySessions.$inferSelect
export type AuditEventRow = typeof auditEvents.$inferSelect

/**
 * A signed-in browser on the account page (ACCOUNT_URL). The cookie holds a random secret; only its
 * SHA-256 is kept, so a dump can't be used to sign in. Ended by logout, "log out everywhere", the idle
 * and absolute timeouts, or the user's deactivation (checked on every request).
 */
export const accountSessions = pgTable(
  'account_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    secretHash: char('secret_hash', { length: 64 }).notNull(),
    createdAt: createdAt(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    ip: varchar('ip', { length: 64 }),
    userAgent: varchar('user_agent', { length: 512 }),
  },
  (t) => [uniqueIndex('account_sessions_secret_hash_key').on(t.secretHash), index('account_sessions_user_idx').on(t.userId)],
)

/** "Open Zenzefi": a single-use code, valid a minute, that the proxy trades for the access cookie (stored hashed). */
export const launchCodes = pgTable(
  'launch_codes',
  {
    codeHash: char('code_hash', { length: 64 }).primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenId: uuid('token_id')
      .notNull()
      .references(() => accessTokens.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true }),
  },
  (t) => [index('launch_codes_expires_idx').on(t.expiresAt)],
)

export type AccountSessionRow = typeof accountSessions.$inferSelect
