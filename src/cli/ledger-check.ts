import { eq } from 'drizzle-orm'
import type { Db } from '../db/client'
import { ledgerAccounts, ledgerTransactions } from '../db/schema'
import { checkLedger, type LedgerViolation } from '../services/ledger'
import { describeMigrations, migrationState } from './database-state'
import { CliError, type Output } from './io'

export interface LedgerCheckReport {
  transactions: number
  wallets: number
  violations: LedgerViolation[]
}

/**
 * `ledger-check`: every invariant of the credits ledger asked of the data itself
 * (services/ledger.ts checkLedger), in one read-only snapshot so a purchase landing
 * meanwhile can't look like a violation. Prints each violation as `rule: detail` and
 * fails (exit 1) if there is any. Changes nothing.
 */
export async function ledgerCheck(deps: { db: Db }, io: Output): Promise<LedgerCheckReport> {
  const state = await migrationState(deps.db)
  if (state.pending > 0) throw new CliError(`ledger-check: the schema is not up to date: ${describeMigrations(state)}`)
  const report = await deps.db.transaction(
    async (tx) => ({
      transactions: await tx.$count(ledgerTransactions),
      wallets: await tx.$count(ledgerAccounts, eq(ledgerAccounts.kind, 'wallet')),
      violations: await checkLedger(tx as unknown as Db),
    }),
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  )
  const checked = `${report.transactions} transaction(s), ${report.wallets} wallet(s)`
  if (report.violations.length === 0) {
    io.out(`ledger-check: all invariants hold (${checked})`)
    return report
  }
  for (const v of report.violations) io.out(`${v.rule}: ${v.detail}`)
  throw new CliError(`ledger-check: ${report.violations.length} violation(s) found (${checked})`)
}
