import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { and, eq, isNull, sql } from 'drizzle-orm'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { beforeEach, describe, expect, it } from 'vitest'
import { checkDb } from '../../src/cli/check-db'
import { clearDb } from '../../src/cli/clear-db'
import { migrate } from '../../src/cli/migrate'
import { resetDb } from '../../src/cli/reset-db'
import { runCli } from '../../src/cli/run'
import { queryRows } from '../../src/db/client'
import { MIGRATIONS_DIR, openDatabase } from '../../src/db/connect-node'
import {
  accessTokens,
  fakeProviderPayments,
  idempotencyKeys,
  ledgerAccounts,
  ledgerEntries,
  ledgerTransactions,
  paymentNotifications,
  payments,
  users,
} from '../../src/db/schema'
import { balanceOf, checkLedger } from '../../src/services/ledger'
import { appFixture, purchase, signUp, TEST_SECRET } from '../support/harness'
import { fund, PRICED, paidTopUp, recordNotification, refusal } from './money'
import { capture } from './output'

const MIGRATION_FILES = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR }).length
const SYSTEM_ACCOUNTS = ['adjustments', 'opening_balances', 'provider_clearing', 'revenue']
// What drizzle/0001_ledger.sql defines for its triggers, as reset-db names them.
const LEDGER_FUNCTIONS = [
  'access_token_cost_fixed()',
  'ledger_account_guard()',
  'ledger_append_only()',
  'ledger_entry_apply()',
  'ledger_entry_balanced()',
  'ledger_require_balanced(uuid)',
  'ledger_transaction_balanced()',
  'ledger_truncate_guard()',
]

// Tokens cost money here: every purchase below posts to the ledger.
const f = appFixture(PRICED)

const rows = async () => ({ users: await f.db.db.$count(users), accessTokens: await f.db.db.$count(accessTokens) })
const moneyRows = async () => ({
  ledgerAccounts: await f.db.db.$count(ledgerAccounts),
  ledgerTransactions: await f.db.db.$count(ledgerTransactions),
  ledgerEntries: await f.db.db.$count(ledgerEntries),
  payments: await f.db.db.$count(payments),
  paymentNotifications: await f.db.db.$count(paymentNotifications),
  idempotencyKeys: await f.db.db.$count(idempotencyKeys),
  fakeProviderPayments: await f.db.db.$count(fakeProviderPayments),
})
const systemAccounts = async () =>
  (await f.db.db.select({ kind: ledgerAccounts.kind, balance: ledgerAccounts.balance }).from(ledgerAccounts).where(isNull(ledgerAccounts.userId)))
    .map((a) => `${a.kind} ${a.balance}`)
    .sort()
const check = () => checkDb({ database: f.db, description: f.db.kind }, capture())

/**
 * Two users with priced tokens, one token used so its grant sits in the app's cache.
 * a tops up 50.00 through the fake provider (with an Idempotency-Key), b is given 20.00
 * by an operator; each buys a 24 h token for 18.00; one provider notification is on record.
 */
async function seed() {
  const a = await signUp(f.t)
  const b = await signUp(f.t)
  await paidTopUp(f.t, f.db.db, a.jwt, '50.00')
  await fund(f.db.db, b.user.id, 2000)
  const token = await purchase(f.t, a.jwt)
  await purchase(f.t, b.jwt)
  await recordNotification(f.db.db)
  expect([await balanceOf(f.db.db, a.user.id), await balanceOf(f.db.db, b.user.id)]).toEqual([3200, 200])
  await f.t.services.tokens.validateAndActivate(token.token)
  expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull() // answered from the cache
  return { a, b, token }
}

/** The whole account flow works on whatever schema is there now, money included: a priced purchase posts. */
async function appWorks() {
  const { jwt, user } = await signUp(f.t)
  await fund(f.db.db, user.id, 2000)
  const bought = await purchase(f.t, jwt)
  expect(await balanceOf(f.db.db, user.id)).toBe(200)
  const debit = await f.db.db
    .select()
    .from(ledgerTransactions)
    .where(and(eq(ledgerTransactions.tokenId, bought.id), eq(ledgerTransactions.kind, 'purchase')))
  expect(debit).toHaveLength(1)
  const me = await f.t.request('/api/v1/users/me', { bearer: jwt })
  expect(me.status).toBe(200)
  expect(await checkLedger(f.db.db)).toEqual([])
}

/** A database as it is before anything ever migrated it: nothing of ours in it, functions included. */
async function unmigrate() {
  await f.db.db.execute(sql`drop schema public cascade`)
  await f.db.db.execute(sql`create schema public`)
  await f.db.db.execute(sql`drop schema if exists drizzle cascade`)
}

/** Empties the ledger's accounts behind the app's back (what a careless wipe would do). */
async function wipeLedgerAccounts() {
  await f.db.db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('zenzefi.ledger_wipe', 'on', true)`)
    await tx.execute(sql`truncate ledger_entries, ledger_transactions, ledger_accounts`)
  })
}

// Each test starts from an empty, fully migrated database.
beforeEach(async () => {
  await resetDb({ database: f.db, cache: f.t.deps.cache }, capture())
})

describe('check-db', () => {
  it('reports the database kind, migrations applied against drizzle/, and row counts of every table', async () => {
    await seed()
    const io = capture()
    const report = await checkDb({ database: f.db, description: `${f.db.kind} (test)` }, io)
    expect(report).toEqual({
      kind: f.db.kind,
      migrations: { files: MIGRATION_FILES, applied: MIGRATION_FILES, pending: 0 },
      rows: {
        users: 2,
        access_tokens: 2,
        ledger_accounts: 6,
        ledger_transactions: 4, // a's deposit, b's adjustment, two purchases
        ledger_entries: 8,
        payments: 1,
        payment_notifications: 1,
        idempotency_keys: 1,
        fake_provider_payments: 1,
      },
      ledgerAccounts: { wallets: 2, system: 4, missing: [] },
    })
    expect(io.stdout).toEqual([
      `database: ${f.db.kind} (test), reachable`,
      `migrations: ${MIGRATION_FILES} applied, ${MIGRATION_FILES} in drizzle/ (up to date)`,
      'users: 2',
      'access_tokens: 2',
      'ledger_accounts: 6 (2 wallet(s), 4 system)',
      'ledger_transactions: 4',
      'ledger_entries: 8',
      'payments: 1',
      'payment_notifications: 1',
      'idempotency_keys: 1',
      'fake_provider_payments: 1',
    ])
  })

  it('names the system ledger accounts that are missing', async () => {
    await wipeLedgerAccounts()
    const io = capture()
    const report = await checkDb({ database: f.db, description: f.db.kind }, io)
    expect(report.ledgerAccounts).toEqual({ wallets: 0, system: 0, missing: ['provider_clearing', 'revenue', 'adjustments', 'opening_balances'] })
    expect(io.stdout).toContain(
      'ledger_accounts: 0 (0 wallet(s), 0 system; missing system accounts: provider_clearing, revenue, adjustments, opening_balances (money cannot move until they exist))',
    )
  })

  it('reports an unmigrated database as pending, with its tables missing, and changes nothing', async () => {
    await unmigrate()
    const io = capture()
    const report = await checkDb({ database: f.db, description: f.db.kind }, io)
    expect(report.migrations).toMatchObject({ applied: 0, pending: MIGRATION_FILES })
    expect(Object.values(report.rows)).toEqual(Array(9).fill(null))
    expect(report.ledgerAccounts).toBeNull()
    expect(io.stdout).toContain('users: table missing')
    expect(io.stdout).toContain('ledger_entries: table missing')
    expect((await check()).migrations.applied).toBe(0)
  })

  it('fails with "database unreachable" when it cannot connect', async () => {
    const gone = await openDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:1/nowhere', dataDir: 'memory://' })
    try {
      await expect(checkDb({ database: gone, description: 'postgres (127.0.0.1:1)' }, capture())).rejects.toMatchObject({
        exitCode: 1,
        message: expect.stringMatching(/^database unreachable: postgres \(127\.0\.0\.1:1\): .*ECONNREFUSED/),
      })
    } finally {
      await gone.close()
    }
  })
})

describe('migrate', () => {
  it('migrates a fresh database; a second run applies nothing', async () => {
    await unmigrate()
    const first = capture()
    expect(await migrate({ database: f.db, databaseUrl: f.db.url }, first)).toMatchObject({ applied: MIGRATION_FILES })
    expect(first.stdout[0]).toMatch(new RegExp(`^migrations: applied ${MIGRATION_FILES}; now .*\\(up to date\\)`))
    const second = capture()
    expect(await migrate({ database: f.db, databaseUrl: f.db.url }, second)).toMatchObject({ applied: 0 })
    expect(second.stdout[0]).toMatch(/^migrations: nothing to apply/)
    await appWorks()
  })
})

describe('clear-db', () => {
  it("empties users, tokens, the ledger and payments in one go, keeps the schema and the system accounts, and drops the deleted tokens from the app's cache", async () => {
    const { a, token } = await seed()
    const io = capture()
    expect(await clearDb({ db: f.db.db, cache: f.t.deps.cache }, io)).toEqual({
      users: 2,
      accessTokens: 2,
      wallets: 2,
      ledgerTransactions: 4,
      ledgerEntries: 8,
      payments: 1,
      paymentNotifications: 1,
      idempotencyKeys: 1,
      fakeProviderPayments: 1,
    })
    expect(io.stdout).toEqual([
      'deleted 2 user(s) and 2 access token(s); schema and migrations kept',
      'emptied the ledger: 4 transaction(s), 8 entries, 2 wallet(s); the 4 system accounts start again from zero',
      'deleted 1 payment(s), 1 provider notification(s), 1 idempotency key(s), 1 fake provider payment(s)',
      expect.stringMatching(/^the deleted tokens are refused /),
    ])
    expect(await rows()).toEqual({ users: 0, accessTokens: 0 })
    expect(await moneyRows()).toEqual({
      ledgerAccounts: 4,
      ledgerTransactions: 0,
      ledgerEntries: 0,
      payments: 0,
      paymentNotifications: 0,
      idempotencyKeys: 0,
      fakeProviderPayments: 0,
    })
    expect(await systemAccounts()).toEqual(SYSTEM_ACCOUNTS.map((k) => `${k} 0`))
    expect(await checkLedger(f.db.db)).toEqual([])
    expect(await f.t.services.tokens.validateAndActivate(token.token)).toBeNull()
    expect((await f.t.request('/api/v1/users/me', { bearer: a.jwt })).status).toBe(401)
    expect((await check()).migrations).toMatchObject({ applied: MIGRATION_FILES, pending: 0 })

    const again = capture()
    expect(Object.values(await clearDb({ db: f.db.db, cache: f.t.deps.cache }, again))).toEqual(Array(9).fill(0))
    expect(again.stdout[1]).toBe('emptied the ledger: 0 transaction(s), 0 entries, 0 wallet(s); the 4 system accounts start again from zero')
    await appWorks()

    // The wipe was clear-db's alone: the ledger is guarded again for everyone else.
    expect(await refusal(f.db.db.execute(sql`delete from ledger_entries`))).toMatch(/ledger rows are append-only: DELETE on ledger_entries refused/)
    expect(await refusal(f.db.db.execute(sql`truncate ledger_transactions, ledger_entries`))).toMatch(
      /ledger rows are append-only: TRUNCATE on ledger_\w+ refused/,
    )
  })

  it('puts back system accounts that had gone missing', async () => {
    await wipeLedgerAccounts()
    await clearDb({ db: f.db.db, cache: f.t.deps.cache }, capture())
    expect(await systemAccounts()).toEqual(SYSTEM_ACCOUNTS.map((k) => `${k} 0`))
    await appWorks()
  })
})

describe('reset-db', () => {
  it('drops tables, functions and bookkeeping and re-migrates: an empty, working, up-to-date schema', async () => {
    const { token } = await seed()
    const io = capture()
    const result = await resetDb({ database: f.db, cache: f.t.deps.cache }, io)
    expect(result).toEqual({
      dropped: expect.arrayContaining([
        '"public"."users"',
        '"public"."access_tokens"',
        '"public"."ledger_accounts"',
        '"public"."ledger_transactions"',
        '"public"."ledger_entries"',
        '"public"."payments"',
        '"public"."payment_notifications"',
        '"public"."idempotency_keys"',
        '"public"."fake_provider_payments"',
      ]),
      functions: LEDGER_FUNCTIONS,
      migrations: MIGRATION_FILES,
    })
    expect(io.stdout.join('\n')).toMatch(
      /^dropped "public"\.".*\ndropped functions access_token_cost_fixed\(\), .* and schema "drizzle"\nmigrations: replayed \d+; now .*\(up to date\); the database is empty/,
    )
    expect(await rows()).toEqual({ users: 0, accessTokens: 0 })
    expect(await moneyRows()).toMatchObject({ ledgerAccounts: 4, ledgerTransactions: 0, payments: 0 })
    expect(await systemAccounts()).toEqual(SYSTEM_ACCOUNTS.map((k) => `${k} 0`))
    expect(await f.t.services.tokens.validateAndActivate(token.token)).toBeNull()
    // The bookkeeping is drizzle's own: the migrator (what the server runs at startup) finds nothing to do.
    expect(await migrate({ database: f.db, databaseUrl: f.db.url }, capture())).toMatchObject({ applied: 0 })
    await appWorks()
  })

  it('also works on a database that was never migrated, and twice in a row', async () => {
    await unmigrate()
    const fresh = capture()
    expect(await resetDb({ database: f.db, cache: f.t.deps.cache }, fresh)).toMatchObject({ dropped: [], functions: [] })
    expect(fresh.stdout.slice(0, 2)).toEqual(['dropped no tables (none existed)', 'dropped no functions (none existed) and schema "drizzle"'])
    expect((await resetDb({ database: f.db, cache: f.t.deps.cache }, capture())).functions).toEqual(LEDGER_FUNCTIONS)
    expect((await check()).migrations).toEqual({ files: MIGRATION_FILES, applied: MIGRATION_FILES, pending: 0 })
    await appWorks()
  })

  it('replaces a leftover function that CREATE OR REPLACE could not (another return type)', async () => {
    await unmigrate()
    // As an earlier version might have left it: the migration's `RETURNS void` can't replace this in place.
    await f.db.db.execute(sql`create function ledger_require_balanced(tx uuid) returns integer language sql as 'select 1'`)
    expect(await refusal(migrate({ database: f.db, databaseUrl: f.db.url }, capture()))).toMatch(/cannot change return type of existing function/)
    expect((await resetDb({ database: f.db, cache: f.t.deps.cache }, capture())).functions).toEqual(['ledger_require_balanced(uuid)'])
    expect((await check()).migrations).toMatchObject({ applied: MIGRATION_FILES, pending: 0 })
    await appWorks()
    // The ledger's own rule is in force again, not the leftover.
    expect(await queryRows(f.db.db, sql`select pg_get_function_result('ledger_require_balanced(uuid)'::regprocedure) as r`)).toEqual([{ r: 'void' }])
  })
})

describe('destructive commands through the CLI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-cli-'))
  const run = (argv: string[], env: Record<string, string>) => {
    const io = capture()
    const env2 = { SECRET_KEY: TEST_SECRET, DATA_DIR: dataDir, ...(f.db.url ? { DATABASE_URL: f.db.url } : {}), ...env }
    return runCli(argv, { env: env2, io, database: f.db }).then((code) => ({ code, ...io }))
  }

  it.each(['clear-db', 'reset-db'])('%s refuses with NODE_ENV=production unless --yes is given', async (command) => {
    await seed()
    const refused = await run([command], { NODE_ENV: 'production' })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toEqual([`refusing to run ${command} with NODE_ENV=production: it destroys data; pass --yes to confirm`])
    expect(refused.stdout).toEqual([])
    expect(await rows()).toEqual({ users: 2, accessTokens: 2 })

    const confirmed = await run([command, '--yes'], { NODE_ENV: 'production' })
    expect(confirmed.code).toBe(0)
    expect(await rows()).toEqual({ users: 0, accessTokens: 0 })
    expect(await moneyRows()).toMatchObject({ ledgerAccounts: 4, ledgerTransactions: 0, payments: 0 })
  })

  it.each(['clear-db', 'reset-db'])('%s runs without --yes in development', async (command) => {
    await seed()
    const done = await run([command], {})
    expect(done.code).toBe(0)
    expect(done.stderr).toEqual([])
    expect(done.stdout[0]).toMatch(new RegExp(`^database: ${f.db.kind} \\(`))
    expect(await rows()).toEqual({ users: 0, accessTokens: 0 })
    expect(await moneyRows()).toMatchObject({ ledgerAccounts: 4, ledgerTransactions: 0, payments: 0 })
    await appWorks()
  })
})
