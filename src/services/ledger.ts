// The ledger: every movement of credits is one transaction of entries summing to zero,
// written once per business event (the unique (kind, reference) pair). The database
// enforces the rules (drizzle/0001_ledger.sql); this module only writes what they allow.
// Everything here runs inside a money transaction (moneyTransaction below) and never
// calls the network.

import { and, count, desc, eq, type SQL, sql } from 'drizzle-orm'
import { type Db, pgConstraint, pgErrorCode, queryRows } from '../db/client'
import { type LedgerAccountKind, type LedgerTransactionKind, ledgerAccounts, ledgerEntries, ledgerTransactions } from '../db/schema'
import { formatMinor } from '../money/znc'
import { DomainError } from './errors'

/** Money transactions wait briefly for locks and never run long: a stuck one fails instead of piling up. */
const LOCK_TIMEOUT = '3s'
const STATEMENT_TIMEOUT = '10s'

/**
 * Runs `work` in one database transaction with short lock and statement timeouts. A lock
 * wait that runs out surfaces as `busy` (409), not a 500: the caller may simply retry.
 */
export async function moneyTransaction<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  try {
    return await db.transaction(async (tx) => {
      // Both in one round trip (SET LOCAL would take two).
      await tx.execute(sql`select set_config('lock_timeout', ${LOCK_TIMEOUT}, true), set_config('statement_timeout', ${STATEMENT_TIMEOUT}, true)`)
      return work(tx as unknown as Db)
    })
  } catch (err) {
    const code = pgErrorCode(err)
    // 55P03 lock_not_available, 57014 query_canceled (statement timeout), 40001/40P01 serialization/deadlock.
    if (code === '55P03' || code === '57014' || code === '40001' || code === '40P01') throw new DomainError('money_busy')
    if (code === '23514' && pgConstraint(err) === 'ledger_accounts_balance_check') throw new DomainError('insufficient_balance', 'Insufficient balance')
    throw err
  }
}

const systemAccount = (kind: Exclude<LedgerAccountKind, 'wallet'>): SQL =>
  sql`(select id from ${ledgerAccounts} where ${ledgerAccounts.kind} = ${kind} and ${ledgerAccounts.userId} is null)`

/** The user's wallet, created on first need, locked for the rest of the transaction. */
export async function lockWallet(tx: Db, userId: string): Promise<{ id: string; balance: number }> {
  await tx.insert(ledgerAccounts).values({ kind: 'wallet', userId }).onConflictDoNothing({ target: ledgerAccounts.userId })
  const [wallet] = await tx
    .select({ id: ledgerAccounts.id, balance: ledgerAccounts.balance })
    .from(ledgerAccounts)
    .where(eq(ledgerAccounts.userId, userId))
    .for('update')
  return wallet!
}

export async function balanceOf(db: Db, userId: string): Promise<number> {
  const [wallet] = await db.select({ balance: ledgerAccounts.balance }).from(ledgerAccounts).where(eq(ledgerAccounts.userId, userId))
  return wallet?.balance ?? 0
}

export interface Posting {
  kind: LedgerTransactionKind
  /** The business event's own id (payment id, token id, idempotency key): a second posting of it is a no-op. */
  reference: string
  userId: string
  description: string
  /** Signed amount for the user's wallet; the counter-entry goes to `against` (the opposite sign). */
  walletAmount: number
  against: Exclude<LedgerAccountKind, 'wallet'>
  paymentId?: string | null
  tokenId?: string | null
  actorId?: string | null
}

export type Posted = { posted: true; transactionId: string; balanceAfter: number } | { posted: false }

/**
 * Writes one two-entry transaction: the wallet and one system account. `posted: false`
 * when this business event was already posted (nothing moves). A wallet that would go
 * below zero is refused by the database's CHECK.
 */
export async function post(tx: Db, p: Posting): Promise<Posted> {
  if (!Number.isSafeInteger(p.walletAmount) || p.walletAmount === 0) throw new Error('a posting moves a whole, non-zero number of minor units')
  const wallet = await lockWallet(tx, p.userId)
  const [row] = await tx
    .insert(ledgerTransactions)
    .values({
      kind: p.kind,
      reference: p.reference,
      userId: p.userId,
      description: p.description,
      paymentId: p.paymentId ?? null,
      tokenId: p.tokenId ?? null,
      actorId: p.actorId ?? null,
    })
    .onConflictDoNothing({ target: [ledgerTransactions.kind, ledgerTransactions.reference] })
    .returning({ id: ledgerTransactions.id })
  if (!row) return { posted: false }
  const entries = await tx
    .insert(ledgerEntries)
    .values([
      { transactionId: row.id, accountId: wallet.id, amount: p.walletAmount },
      { transactionId: row.id, accountId: systemAccount(p.against), amount: -p.walletAmount },
    ])
    .returning({ accountId: ledgerEntries.accountId, balanceAfter: ledgerEntries.balanceAfter })
  const mine = entries.find((e) => e.accountId === wallet.id)
  return { posted: true, transactionId: row.id, balanceAfter: mine!.balanceAfter! }
}

/** Refuses a debit the wallet can't cover, with the contract's exact message (the CHECK is the backstop). */
export function requireFunds(available: number, required: number): void {
  if (available < required) {
    throw new DomainError('insufficient_balance', `Insufficient balance. Required: ${formatMinor(required)} ZNC, Available: ${formatMinor(available)} ZNC`, {
      required,
      available,
    })
  }
}

/**
 * For the import from the earlier backend: the user's whole balance as one opening
 * transaction, once per `reference`. Call inside a transaction.
 */
export async function postOpeningBalance(
  tx: Db,
  input: { userId: string; amountMinor: number; reference: string; description: string },
): Promise<'posted' | 'duplicate'> {
  const done = await post(tx, {
    kind: 'opening',
    reference: input.reference,
    userId: input.userId,
    description: input.description,
    walletAmount: input.amountMinor,
    against: 'opening_balances',
  })
  return done.posted ? 'posted' : 'duplicate'
}

export interface HistoryItem {
  id: string
  amount: number
  kind: LedgerTransactionKind
  description: string
  paymentId: string | null
  tokenId: string | null
  balanceAfter: number
  createdAt: Date
}

/** The wallet's side of each transaction, newest first. */
export async function history(
  db: Db,
  userId: string,
  page: { limit: number; offset: number; kind?: LedgerTransactionKind },
): Promise<{ items: HistoryItem[]; total: number }> {
  const where = and(eq(ledgerAccounts.userId, userId), page.kind ? eq(ledgerTransactions.kind, page.kind) : undefined)
  const base = () =>
    db
      .select({
        id: ledgerTransactions.id,
        amount: ledgerEntries.amount,
        kind: ledgerTransactions.kind,
        description: ledgerTransactions.description,
        paymentId: ledgerTransactions.paymentId,
        tokenId: ledgerTransactions.tokenId,
        balanceAfter: ledgerEntries.balanceAfter,
        createdAt: ledgerTransactions.createdAt,
      })
      .from(ledgerEntries)
      .innerJoin(ledgerAccounts, eq(ledgerAccounts.id, ledgerEntries.accountId))
      .innerJoin(ledgerTransactions, eq(ledgerTransactions.id, ledgerEntries.transactionId))
      .where(where)
  const [rows, [total]] = await Promise.all([
    base().orderBy(desc(ledgerEntries.id)).limit(page.limit).offset(page.offset),
    db
      .select({ n: count() })
      .from(ledgerEntries)
      .innerJoin(ledgerAccounts, eq(ledgerAccounts.id, ledgerEntries.accountId))
      .innerJoin(ledgerTransactions, eq(ledgerTransactions.id, ledgerEntries.transactionId))
      .where(where),
  ])
  return {
    items: rows.map((r) => ({ ...r, kind: r.kind as LedgerTransactionKind, balanceAfter: r.balanceAfter ?? 0 })),
    total: Number(total?.n ?? 0),
  }
}

export interface LedgerViolation {
  rule: string
  detail: string
}

/**
 * Every invariant, asked of the data itself (what `cli ledger-check` prints): balanced
 * transactions, balances equal to their entries, no negative wallet, each succeeded
 * payment credited exactly once with its amount, each priced token debited its price
 * and refunded at most that.
 */
export async function checkLedger(db: Db): Promise<LedgerViolation[]> {
  const found: LedgerViolation[] = []
  const ask = async (rule: string, query: SQL, describe: (row: Record<string, unknown>) => string) => {
    for (const row of await queryRows<Record<string, unknown>>(db, query)) found.push({ rule, detail: describe(row) })
  }
  await ask(
    'balanced transactions',
    sql`select t.id, count(e.id)::int as n, coalesce(sum(e.amount), 0)::text as total from ledger_transactions t
        left join ledger_entries e on e.transaction_id = t.id group by t.id having count(e.id) < 2 or coalesce(sum(e.amount), 0) <> 0`,
    (r) => `transaction ${r.id}: ${r.n} entries summing to ${r.total}`,
  )
  await ask(
    'balance equals the sum of entries',
    sql`select a.id, a.user_id, a.balance::text as balance, coalesce(sum(e.amount), 0)::text as total from ledger_accounts a
        left join ledger_entries e on e.account_id = a.id where a.kind = 'wallet' group by a.id having a.balance <> coalesce(sum(e.amount), 0)`,
    (r) => `wallet of user ${r.user_id}: balance ${r.balance}, entries sum to ${r.total}`,
  )
  await ask(
    'no negative wallet',
    sql`select user_id, balance::text as balance from ledger_accounts where balance < 0`,
    (r) => `wallet of user ${r.user_id}: ${r.balance}`,
  )
  await ask(
    'running balances follow the entries',
    sql`select id, recorded::text, expected::text from (
          select e.id, e.balance_after as recorded, sum(e.amount) over (partition by e.account_id order by e.id) as expected
          from ledger_entries e join ledger_accounts a on a.id = e.account_id where a.kind = 'wallet') x
        where recorded is distinct from expected`,
    (r) => `entry ${r.id}: balance_after ${r.recorded}, expected ${r.expected}`,
  )
  await ask(
    'every succeeded payment credited exactly once with its amount',
    sql`select p.id, p.status, p.amount_minor::text as amount, count(t.id)::int as n, coalesce(sum(e.amount), 0)::text as credited
        from payments p left join ledger_transactions t on t.payment_id = p.id and t.kind = 'deposit'
        left join ledger_entries e on e.transaction_id = t.id and e.account_id = (select id from ledger_accounts where user_id = p.user_id)
        group by p.id having (p.status = 'succeeded') <> (count(t.id) = 1) or (count(t.id) = 1 and coalesce(sum(e.amount), 0) <> p.amount_minor)`,
    (r) => `payment ${r.id} (${r.status}, ${r.amount}): ${r.n} deposit(s) crediting ${r.credited}`,
  )
  await ask(
    'every priced token debited its price, refunded at most that',
    sql`select k.id, k.cost_minor::text as cost,
          coalesce(sum(e.amount) filter (where t.kind = 'purchase'), 0)::text as debited,
          coalesce(sum(e.amount) filter (where t.kind = 'refund'), 0)::text as refunded
        from access_tokens k left join ledger_transactions t on t.token_id = k.id
        left join ledger_entries e on e.transaction_id = t.id and e.account_id = (select id from ledger_accounts where user_id = k.user_id)
        group by k.id having coalesce(sum(e.amount) filter (where t.kind = 'purchase'), 0) <> -k.cost_minor
          or coalesce(sum(e.amount) filter (where t.kind = 'refund'), 0) not in (0, k.cost_minor)`,
    (r) => `token ${r.id}: price ${r.cost}, debited ${r.debited}, refunded ${r.refunded}`,
  )
  return found
}
