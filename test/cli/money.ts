import { randomUUID } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import { expect } from 'vitest'
import { driverMessage } from '../../src/cli/database-state'
import type { Db } from '../../src/db/client'
import { fakeProviderPayments, payments } from '../../src/db/schema'
import { adjustIn } from '../../src/services/adjustments'
import { moneyTransaction } from '../../src/services/ledger'
import type { TestApp } from '../support/harness'

/** Prices for apps whose purchases must move money (the harness makes tokens free otherwise). */
export const PRICED = { TOKEN_PRICE_24H: '18.00', PAYMENT_PROVIDER: 'fake' }

/** Credits for a user, as an operator adjustment. */
export async function fund(db: Db, userId: string, amountMinor: number): Promise<void> {
  await moneyTransaction(db, (tx) => adjustIn(tx, { userId, amountMinor, reason: 'test credits', actorId: null, reference: `test:${randomUUID()}` }))
}

/**
 * A top-up through the API (with an Idempotency-Key), paid at the fake provider and
 * confirmed through the one confirmation path: a payment, its provider side, a key and a deposit.
 */
export async function paidTopUp(t: TestApp, db: Db, jwt: string, amountZnc: string): Promise<string> {
  const res = await t.request('/api/v1/currency/purchase', {
    method: 'POST',
    json: { amount_znc: amountZnc },
    bearer: jwt,
    headers: { 'Idempotency-Key': randomUUID() },
  })
  expect(res.status).toBe(201)
  const { payment_id } = (await res.json()) as { payment_id: string }
  const providerId = await markPaid(db, payment_id)
  expect(await t.services.payments.syncByProviderId(providerId)).toBe('credited')
  return payment_id
}

/** What the fake checkout's Pay button does, without the sync that follows it. */
export async function markPaid(db: Db, paymentId: string): Promise<string> {
  const [p] = await db.select().from(payments).where(eq(payments.id, paymentId))
  await db.update(fakeProviderPayments).set({ status: 'succeeded' }).where(eq(fakeProviderPayments.id, p!.providerPaymentId!))
  return p!.providerPaymentId!
}

/** The database's own words for refusing a statement. */
export async function refusal(statement: Promise<unknown>): Promise<string> {
  try {
    await statement
  } catch (err) {
    return driverMessage(err)
  }
  throw new Error('expected the statement to be refused')
}

/** A provider notification as the webhook records it before deciding anything. */
export async function recordNotification(db: Db): Promise<void> {
  await db.execute(
    sql`insert into payment_notifications (provider, provider_payment_id, event, source_address, body, outcome)
        values ('yookassa', ${`yk_${randomUUID()}`}, 'payment.succeeded', '185.71.76.1', '{}', 'unknown_payment')`,
  )
}
