// PAYMENT_PROVIDER=fake (development only; config refuses it in production): a provider
// whose "bank" is a table of ours and whose checkout is a page of the gateway with a Pay
// button. Paying marks the fake payment succeeded; the credit then comes through the same
// sync() as a real provider's, which asks this provider and finds it paid.

import { eq } from 'drizzle-orm'
import type { Db } from '../db/client'
import { fakeProviderPayments } from '../db/schema'
import type { CreatePayment, PaymentProvider, ProviderPayment, ProviderStatus } from './provider'

/** A page, not an API call: outside /api/v1, where nothing Bearer-protected applies. */
export const FAKE_CHECKOUT_PATH = '/fake-checkout'

export interface FakeProvider extends PaymentProvider {
  /** What the checkout page shows; null for an unknown id. */
  find(id: string): Promise<(ProviderPayment & { description: string; returnUrl: string }) | null>
  /** The Pay button: pending → succeeded (once). */
  pay(id: string): Promise<void>
}

type Row = typeof fakeProviderPayments.$inferSelect

export function createFakeProvider(deps: { db: Db; backendUrl: string }): FakeProvider {
  const { db } = deps
  const asPayment = (r: Row) => ({
    id: r.id,
    status: r.status as ProviderStatus,
    amountMinor: r.amountMinor,
    currency: r.currency,
    confirmationUrl: r.status === 'pending' ? `${deps.backendUrl}${FAKE_CHECKOUT_PATH}/${r.id}` : null,
    metadata: JSON.parse(r.metadata) as Record<string, string>,
    description: r.description,
    returnUrl: r.returnUrl,
  })
  const find = async (id: string) => {
    const [r] = await db.select().from(fakeProviderPayments).where(eq(fakeProviderPayments.id, id))
    return r ? asPayment(r) : null
  }
  return {
    name: 'fake',
    async create(req: CreatePayment) {
      // The same Idempotence-Key gives the same payment, as a real provider's does.
      await db
        .insert(fakeProviderPayments)
        .values({
          id: `fake_${crypto.randomUUID()}`,
          idempotenceKey: req.idempotenceKey,
          amountMinor: req.amountMinor,
          currency: req.currency,
          description: req.description,
          returnUrl: req.returnUrl,
          metadata: JSON.stringify(req.metadata),
        })
        .onConflictDoNothing({ target: fakeProviderPayments.idempotenceKey })
      const [r] = await db.select().from(fakeProviderPayments).where(eq(fakeProviderPayments.idempotenceKey, req.idempotenceKey))
      return asPayment(r!)
    },
    get: find,
    find,
    async pay(id) {
      await db.update(fakeProviderPayments).set({ status: 'succeeded' }).where(eq(fakeProviderPayments.id, id))
    },
  }
}
