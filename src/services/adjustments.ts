// Operator adjustments: credits given or taken by a superuser (or the CLI), with a reason
// the user sees in their history. Always a ledger transaction; a balance is never set.

import { and, eq } from 'drizzle-orm'
import type { Db } from '../db/client'
import { ledgerTransactions, users } from '../db/schema'
import { formatMinor } from '../money/znc'
import type { Audit, AuditContext } from './audit'
import { DomainError } from './errors'
import { lockWallet, post } from './ledger'

export interface Adjusted {
  transactionId: string | null
  amountMinor: number
  balanceAfter: number
}

/**
 * Inside the caller's money transaction. `reference` makes it happen once (an idempotency key).
 * With `audited`, a posted adjustment writes its balance.adjust event in the same transaction.
 */
export async function adjustIn(
  tx: Db,
  input: { userId: string; amountMinor: number; reason: string; actorId: string | null; reference: string },
  audited?: { audit: Audit; ctx: AuditContext },
): Promise<Adjusted> {
  const [target] = await tx.select({ id: users.id }).from(users).where(eq(users.id, input.userId))
  if (!target) throw new DomainError('user_not_found_admin')
  const wallet = await lockWallet(tx, input.userId)
  // Already posted (a retry): nothing moves, and the balance check below must not refuse the retry.
  const [earlier] = await tx
    .select({ id: ledgerTransactions.id })
    .from(ledgerTransactions)
    .where(and(eq(ledgerTransactions.kind, 'adjustment'), eq(ledgerTransactions.reference, input.reference)))
  if (earlier) return { transactionId: null, amountMinor: 0, balanceAfter: wallet.balance }
  if (wallet.balance + input.amountMinor < 0) {
    throw new DomainError('adjustment_negative', `Adjustment would make balance negative. Available: ${formatMinor(wallet.balance)} ZNC`, {
      available: wallet.balance,
    })
  }
  const done = await post(tx, {
    kind: 'adjustment',
    reference: input.reference,
    userId: input.userId,
    description: input.reason,
    walletAmount: input.amountMinor,
    against: 'adjustments',
    actorId: input.actorId,
  })
  if (done.posted && audited) {
    await audited.audit.record(tx, {
      action: 'balance.adjust',
      ...audited.ctx,
      subjectUserId: input.userId,
      resourceType: 'ledger_transaction',
      resourceId: done.transactionId,
      details: { amount_znc: formatMinor(input.amountMinor), reason: input.reason, balance_after: formatMinor(done.balanceAfter) },
    })
  }
  return done.posted
    ? { transactionId: done.transactionId, amountMinor: input.amountMinor, balanceAfter: done.balanceAfter }
    : { transactionId: null, amountMinor: 0, balanceAfter: wallet.balance }
}
