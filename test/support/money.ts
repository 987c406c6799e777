import { randomUUID } from 'node:crypto'
import { adjustIn } from '../../src/services/adjustments'
import { checkLedger, moneyTransaction } from '../../src/services/ledger'
import type { TestApp } from './harness'

/** The prices the contract names as defaults, for tests of money (other tests use FREE_TOKENS). */
export const PRICED: Record<string, string> = {
  TOKEN_PRICE_1H: '1.00',
  TOKEN_PRICE_12H: '10.00',
  TOKEN_PRICE_24H: '18.00',
  TOKEN_PRICE_168H: '100.00',
  TOKEN_PRICE_720H: '300.00',
}

/** Gives a user credits the way an operator does (a ledger adjustment), in minor units. */
export async function giveCredits(t: TestApp, userId: string, minor: number): Promise<void> {
  await moneyTransaction(t.deps.database.db, (tx) =>
    adjustIn(tx, { userId, amountMinor: minor, reason: 'test credits', actorId: null, reference: `test:${randomUUID()}` }),
  )
}

export async function balanceOf(t: TestApp, jwt: string): Promise<string> {
  const res = await t.request('/api/v1/currency/balance', { bearer: jwt })
  if (res.status !== 200) throw new Error(`balance: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { balance: string }).balance
}

/** The ledger-check invariants, as the CLI proves them: an empty list when all hold. */
export const ledgerViolations = (t: TestApp) => checkLedger(t.deps.database.db)
