import { eq, sql } from 'drizzle-orm'
import type { TokenCache } from '../cache/interface'
import type { Db } from '../db/client'
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
import type { Audit } from '../services/audit'
import { cliCommand } from './audit'
import { SYSTEM_ACCOUNT_KINDS } from './database-state'
import { reach } from './invalidation'
import type { Output } from './io'

export interface Cleared {
  users: number
  accessTokens: number
  /** Users' wallets; the system accounts are made anew, so they are not counted as removed. */
  wallets: number
  ledgerTransactions: number
  ledgerEntries: number
  payments: number
  paymentNotifications: number
  idempotencyKeys: number
  fakeProviderPayments: number
}

// The ledger refuses DELETE outright, and TRUNCATE unless zenzefi.ledger_wipe is on for the
// transaction (drizzle/0001_ledger.sql). One statement empties every money table at once,
// so no foreign key between them stands in the way.
const MONEY_TABLES = [ledgerEntries, ledgerTransactions, ledgerAccounts, payments, paymentNotifications, idempotencyKeys, fakeProviderPayments]

/**
 * `clear-db`: deletes every user, access token, wallet, ledger transaction, payment,
 * provider notification and idempotency key in one transaction; the schema and migration
 * state stay, and the system ledger accounts are there again (at zero) so money can move
 * at once. The deleted tokens are then invalidated in the cache so no instance keeps
 * honouring a cached grant for a token that no longer exists.
 */
export async function clearDb(deps: { db: Db; cache: TokenCache; audit?: Audit }, io: Output): Promise<Cleared> {
  const { hashes, cleared } = await deps.db.transaction(async (tx) => {
    const tables = sql.join(MONEY_TABLES, sql`, `)
    // Locked before counting, so the counts are what the truncation removes.
    await tx.execute(sql`lock table ${tables} in access exclusive mode`)
    const counted = {
      wallets: await tx.$count(ledgerAccounts, eq(ledgerAccounts.kind, 'wallet')),
      ledgerTransactions: await tx.$count(ledgerTransactions),
      ledgerEntries: await tx.$count(ledgerEntries),
      payments: await tx.$count(payments),
      paymentNotifications: await tx.$count(paymentNotifications),
      idempotencyKeys: await tx.$count(idempotencyKeys),
      fakeProviderPayments: await tx.$count(fakeProviderPayments),
    }
    // Local to this transaction: the guard is back for everyone the moment it ends.
    await tx.execute(sql`select set_config('zenzefi.ledger_wipe', 'on', true)`)
    await tx.execute(sql`truncate ${tables}`)
    await tx.insert(ledgerAccounts).values(SYSTEM_ACCOUNT_KINDS.map((kind) => ({ kind })))
    const tokens = await tx.delete(accessTokens).returning({ hash: accessTokens.tokenHash })
    const gone = await tx.delete(users).returning({ id: users.id })
    // The audit log stays, and says the data went.
    await deps.audit?.record(tx as unknown as Db, cliCommand('clear-db'))
    return { hashes: tokens.map((t) => t.hash), cleared: { users: gone.length, accessTokens: tokens.length, ...counted } }
  })
  await deps.cache.invalidate(hashes)
  const c = cleared
  io.out(`deleted ${c.users} user(s) and ${c.accessTokens} access token(s); schema and migrations kept`)
  io.out(
    `emptied the ledger: ${c.ledgerTransactions} transaction(s), ${c.ledgerEntries} entries, ${c.wallets} wallet(s); ` +
      `the ${SYSTEM_ACCOUNT_KINDS.length} system accounts start again from zero`,
  )
  io.out(
    `deleted ${c.payments} payment(s), ${c.paymentNotifications} provider notification(s), ${c.idempotencyKeys} idempotency key(s), ` +
      `${c.fakeProviderPayments} fake provider payment(s)`,
  )
  if (hashes.length > 0) io.out(`the deleted tokens are refused ${reach(deps.cache.kind)}`)
  return cleared
}
