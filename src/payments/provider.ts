// The payment-provider port: what the top-up service needs from a provider, and
// nothing else. Adapters: yookassa.ts (the real API over plain fetch, so it runs on
// Node and Workers) and fake.ts (development checkout page). A provider's answers are
// facts about a payment; whether money moves is decided by src/services/payments.ts.

/** A provider's payment states (YooKassa's four). */
export type ProviderStatus = 'pending' | 'waiting_for_capture' | 'succeeded' | 'canceled'

export interface ProviderPayment {
  /** The provider's own id for the payment. */
  id: string
  status: ProviderStatus
  /** Amount in the currency's minor units (kopecks for RUB); never a float. */
  amountMinor: number
  /** ISO 4217, e.g. "RUB". */
  currency: string
  /** Where the payer goes to pay; null once the provider no longer offers it. */
  confirmationUrl: string | null
  /** What we attached at creation (our payment id under `payment_id`). */
  metadata: Record<string, string>
}

export interface CreatePayment {
  /** Makes retries of the same creation return the same payment (YooKassa keeps it 24 h). */
  idempotenceKey: string
  amountMinor: number
  currency: string
  description: string
  /** Where the provider sends the payer back after paying. */
  returnUrl: string
  metadata: Record<string, string>
}

export interface PaymentProvider {
  readonly name: 'yookassa' | 'fake'
  create(request: CreatePayment): Promise<ProviderPayment>
  /** The payment as the provider sees it now; null if the provider doesn't know the id. */
  get(id: string): Promise<ProviderPayment | null>
}

/**
 * The provider could not be asked (network error, timeout, 5xx, 429, an answer we can't read).
 * Callers answer 503 and retry later; nothing is decided from a failed call.
 */
export class ProviderUnavailable extends Error {
  override readonly name = 'ProviderUnavailable'
}

/** The provider refused the request itself (4xx other than 404/429): a bug or bad credentials, not an outage. */
export class ProviderRejected extends Error {
  override readonly name = 'ProviderRejected'
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message)
  }
}

/** A notification body names a payment: `{"type": "notification", "event", "object": {"id"}}`; anything else is null. */
export function notifiedPaymentId(body: unknown): { event: string; id: string } | null {
  if (typeof body !== 'object' || body === null) return null
  const b = body as { type?: unknown; event?: unknown; object?: { id?: unknown } }
  if (b.type !== 'notification' || typeof b.event !== 'string' || typeof b.object?.id !== 'string') return null
  const id = b.object.id
  if (id.length === 0 || id.length > 64 || !/^[A-Za-z0-9_-]+$/.test(id)) return null
  return { event: b.event, id }
}
