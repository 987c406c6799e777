import { isNull, sql } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import type { Database } from '../db/client'
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
} from '../db/schema'
import { describeMigrations, driverMessage, type MigrationState, migrationState, queryRows, relationExists, SYSTEM_ACCOUNT_KINDS } from './database-state'
import { CliError, type Output } from './io'

/** The tables counted, by their SQL name, in the order printed. */
const COUNTED = {
  users,
  access_tokens: accessTokens,
  ledger_accounts: ledgerAccounts,
  ledger_transactions: ledgerTransactions,
  ledger_entries: ledgerEntries,
  payments,
  payment_notifications: paymentNotifications,
  idempotency_keys: idempotencyKeys,
  fake_provider_payments: fakeProviderPayments,
} satisfies Record<string, PgTable>
export type CountedTable = keyof typeof COUNTED

export interface LedgerAccountsReport {
  wallets: number
  system: number
  /** System account kinds that are not there: nothing posting against them can succeed until they are. */
  missing: string[]
}

export interface DbReport {
  kind: Database['kind']
  migrations: MigrationState
  /** Rows per table; null when the table doesn't exist (not migrated). */
  rows: Record<CountedTable, number | null>
  /** null when ledger_accounts doesn't exist. */
  ledgerAccounts: LedgerAccountsReport | null
}

/** `check-db`: is the database reachable, how far is it migrated, how many rows does it hold. Changes nothing. */
export async function checkDb(deps: { database: Database; description: string }, io: Output): Promise<DbReport> {
  const { db, kind } = deps.database
  try {
    await db.execute(sql`select 1`)
  } catch (err) {
    throw new CliError(`database unreachable: ${deps.description}: ${driverMessage(err)}`)
  }
  io.out(`database: ${deps.description}, reachable`)
  const migrations = await migrationState(db)
  io.out(`migrations: ${describeMigrations(migrations)}`)
  const rows = {} as DbReport['rows']
  for (const [name, table] of Object.entries(COUNTED) as [CountedTable, PgTable][]) {
    rows[name] = (await relationExists(db, `public.${name}`)) ? await db.$count(table) : null
  }
  let accounts: LedgerAccountsReport | null = null
  if (rows.ledger_accounts !== null) {
    const present = await queryRows<{ kind: string }>(db, sql`select kind from ${ledgerAccounts} where ${isNull(ledgerAccounts.userId)}`)
    const kinds = new Set(present.map((r) => r.kind))
    accounts = {
      wallets: rows.ledger_accounts - present.length,
      system: present.length,
      missing: SYSTEM_ACCOUNT_KINDS.filter((k) => !kinds.has(k)),
    }
  }
  for (const [name, n] of Object.entries(rows)) {
    if (n === null) io.out(`${name}: table missing`)
    else if (name === 'ledger_accounts' && accounts) {
      const missing = accounts.missing.length > 0 ? `; missing system accounts: ${accounts.missing.join(', ')} (money cannot move until they exist)` : ''
      io.out(`${name}: ${n} (${accounts.wallets} wallet(s), ${accounts.system} system${missing})`)
    } else io.out(`${name}: ${n}`)
  }
  return { kind, migrations, rows, ledgerAccounts: accounts }
}
