// Top-ups: a payment is created at the provider, and credited only when the provider's
// own API says it succeeded with the amount we asked for. Notifications, the fake
// checkout and the reconciler all end in sync(), the one confirmation path. The provider
// is only ever called between transactions, never inside one.

import { and, desc, eq, gt, inArray, isNotNull, isNull, lt } from 'drizzle-orm'
import type { Config } from '../config'
import type { Db } from '../db/client'
import { type PaymentRow, paymentNotifications, payments } from '../db/schema'
import { createClientAddress } from '../gateway/client-address'
import type { Logger } from '../logger'
import { convert, formatMinor } from '../money/znc'
import { notifiedPaymentId, type PaymentProvider, ProviderRejected, ProviderUnavailable } from '../payments/provider'
import type { Audit, AuditContext } from './audit'
import type { Clock } from './clock'
import { DomainError } from './errors'
import type { Idempotency, KeyScope, Replayable } from './idempotency'
import { moneyTransaction, post } from './ledger'

/** What came of one look at a payment (also each notification's recorded outcome). */
export type SyncOutcome = 'credited' | 'already_credited' | 'not_paid' | 'held_for_review' | 'unknown_payment' | 'not_created'

const OPEN_STATUSES = ['creating', 'pending', 'waiting_for_capture'] as const
/** A payment the provider never confirmed is given up on after this. */
const RECONCILE_HORIZON_MS = 7 * 86_400_000
/** A creation that never reached the provider (the request died) is closed after this. */
const ABANDONED_CREATION_MS = 3_600_000
const INBOX_BODY_LIMIT = 16 * 1024

export interface PaymentView {
  id: string
  status: string
  amountMinor: number
  chargeMinor: number
  paymentUrl: string | null
  createdAt: Date
  succeededAt: Date | null
  credited: boolean
}

const viewOf = (p: PaymentRow): PaymentView => ({
  id: p.id,
  status: p.status === 'creating' ? 'pending' : p.status,
  amountMinor: p.amountMinor,
  chargeMinor: p.chargeMinor,
  paymentUrl: p.paymentUrl,
  createdAt: p.createdAt,
  succeededAt: p.succeededAt,
  credited: p.creditedAt !== null,
})

export const topUpBody = (p: PaymentView) =>
  JSON.stringify({
    payment_id: p.id,
    payment_url: p.paymentUrl,
    amount_znc: formatMinor(p.amountMinor),
    amount_rub: formatMinor(p.chargeMinor),
    status: p.status,
  })

export function createPayments(deps: {
  db: Db
  provider: PaymentProvider | null
  config: Pick<Config, 'zncToRubRate' | 'yookassa'>
  clock: Clock
  idempotency: Idempotency
  log: Logger
  /** Creations, credits and holds write their audit event in their own transaction. */
  audit?: Audit
}) {
  const { db, provider, config, clock, idempotency, log, audit } = deps
  // The provider's confirmation, not a person: what credits and holds are attributed to.
  const SYSTEM: AuditContext = { actorType: 'system' }
  const fromYooKassa = createClientAddress(config.yookassa.webhookCidrs).trustsPeer

  const byId = async (id: string) => (await db.select().from(payments).where(eq(payments.id, id)))[0] ?? null

  const setStatus = (id: string, status: PaymentRow['status'], extra: Partial<PaymentRow> = {}) =>
    db
      .update(payments)
      .set({ status, updatedAt: clock.now(), ...extra })
      // A credited or held payment never changes state again from outside.
      .where(and(eq(payments.id, id), inArray(payments.status, [...OPEN_STATUSES])))

  /** Credits a confirmed payment once: the deposit's unique reference is the payment id. */
  const credit = (payment: PaymentRow, ctx: AuditContext): Promise<SyncOutcome> =>
    moneyTransaction(db, async (tx) => {
      const [locked] = await tx.select().from(payments).where(eq(payments.id, payment.id)).for('update')
      if (!locked || locked.creditedAt) return 'already_credited'
      if (locked.status === 'review') return 'held_for_review'
      const done = await post(tx, {
        kind: 'deposit',
        reference: locked.id,
        userId: locked.userId,
        description: `Top-up: ${formatMinor(locked.amountMinor)} ZNC for ${formatMinor(locked.chargeMinor)} ${locked.currency}`,
        walletAmount: locked.amountMinor,
        against: 'provider_clearing',
        paymentId: locked.id,
      })
      const now = clock.now()
      await tx.update(payments).set({ status: 'succeeded', succeededAt: now, creditedAt: now, updatedAt: now }).where(eq(payments.id, locked.id))
      if (done.posted) {
        await audit?.record(tx, {
          action: 'payment.credit',
          ...ctx,
          subjectUserId: locked.userId,
          resourceType: 'payment',
          resourceId: locked.id,
          details: { amount_znc: formatMinor(locked.amountMinor), provider: locked.provider },
        })
      }
      return done.posted ? 'credited' : 'already_credited'
    })

  /**
   * The one confirmation path: asks the provider about the payment (never trusting what a
   * notification said) and acts on the answer. Throws provider_unavailable if it can't ask.
   */
  async function sync(payment: PaymentRow, ctx: AuditContext = SYSTEM): Promise<SyncOutcome> {
    if (payment.creditedAt) return 'already_credited'
    if (payment.status === 'review') return 'held_for_review'
    if (!provider || payment.provider !== provider.name || !payment.providerPaymentId) return 'not_created'
    let remote: Awaited<ReturnType<PaymentProvider['get']>>
    try {
      remote = await provider.get(payment.providerPaymentId)
    } catch (err) {
      if (err instanceof ProviderUnavailable || err instanceof ProviderRejected) {
        log.warn('payment provider unreachable', { payment_id: payment.id, reason: err.message })
        throw new DomainError('provider_unavailable')
      }
      throw err
    }
    if (!remote) return 'unknown_payment'
    if (remote.status === 'succeeded') {
      const mismatch =
        remote.amountMinor !== payment.chargeMinor
          ? `the provider reports ${formatMinor(remote.amountMinor)} ${remote.currency}, ${formatMinor(payment.chargeMinor)} ${payment.currency} expected`
          : remote.currency !== payment.currency
            ? `the provider reports currency ${remote.currency}, ${payment.currency} expected`
            : remote.metadata.payment_id !== undefined && remote.metadata.payment_id !== payment.id
              ? 'the provider payment names another of our payments'
              : null
      if (mismatch) {
        await holdForReview(payment, mismatch, ctx)
        log.warn('payment held for review', { payment_id: payment.id, reason: mismatch })
        return 'held_for_review'
      }
      return credit(payment, ctx)
    }
    if (remote.status === 'canceled') await setStatus(payment.id, 'canceled')
    else if (remote.status !== payment.status) await setStatus(payment.id, remote.status)
    return 'not_paid'
  }

  /** A payment whose confirmation doesn't match what was asked: held for an operator, with its event. */
  async function holdForReview(payment: PaymentRow, reason: string, ctx: AuditContext): Promise<void> {
    await db.transaction(async (t) => {
      const tx = t as unknown as Db
      const held = await tx
        .update(payments)
        .set({ status: 'review', reviewReason: reason, updatedAt: clock.now() })
        .where(and(eq(payments.id, payment.id), inArray(payments.status, [...OPEN_STATUSES])))
        .returning({ id: payments.id })
      if (held.length === 0) return
      await audit?.record(tx, {
        action: 'payment.review',
        ...ctx,
        subjectUserId: payment.userId,
        resourceType: 'payment',
        resourceId: payment.id,
        details: { reason: reason.slice(0, 500) },
      })
    })
  }

  return {
    provider,

    /**
     * Starts a top-up: the payment row first, then the provider (outside any transaction),
     * then the answer recorded with the key. A retry with the same key reuses the same
     * payment and the same provider Idempotence-Key, so the provider never charges twice.
     */
    async topUp(userId: string, input: { amountMinor: number; returnUrl: string }, scope: KeyScope | null, ctx?: AuditContext): Promise<Replayable> {
      if (!provider) throw new DomainError('topups_unavailable')
      const chargeMinor = convert(input.amountMinor, config.zncToRubRate)
      if (chargeMinor === null || chargeMinor <= 0) throw new DomainError('invalid_topup_amount')
      const now = clock.now()
      if (scope) {
        const claimed = await idempotency.claim(scope, now)
        if ('replay' in claimed) return claimed.replay
      }
      try {
        const values = {
          userId,
          provider: provider.name,
          amountMinor: input.amountMinor,
          chargeMinor,
          currency: 'RUB',
          returnUrl: input.returnUrl,
          idempotencyKey: scope?.key ?? null,
          createdAt: now,
          updatedAt: now,
        }
        const [created] = await db.insert(payments).values(values).onConflictDoNothing().returning()
        const payment =
          created ??
          (
            await db
              .select()
              .from(payments)
              .where(and(eq(payments.userId, userId), eq(payments.idempotencyKey, scope!.key)))
          )[0]!
        let remote: Awaited<ReturnType<PaymentProvider['create']>>
        try {
          remote = await provider.create({
            idempotenceKey: payment.id,
            amountMinor: payment.chargeMinor,
            currency: payment.currency,
            description: `Zenzefi credits: ${formatMinor(payment.amountMinor)} ZNC`,
            returnUrl: payment.returnUrl ?? input.returnUrl,
            metadata: { payment_id: payment.id },
          })
        } catch (err) {
          if (err instanceof ProviderUnavailable || err instanceof ProviderRejected) {
            log.warn('payment provider refused or unreachable on create', { payment_id: payment.id, reason: err.message })
            throw new DomainError('provider_unavailable')
          }
          throw err
        }
        const answer = await moneyTransaction(db, async (tx) => {
          const [row] = await tx
            .update(payments)
            .set({
              providerPaymentId: remote.id,
              paymentUrl: remote.confirmationUrl,
              status: payment.status === 'creating' ? (remote.status === 'succeeded' ? 'pending' : remote.status) : payment.status,
              updatedAt: clock.now(),
            })
            .where(eq(payments.id, payment.id))
            .returning()
          // Once the provider has the payment: a creation that never reached it is no event.
          await audit?.record(tx, {
            action: 'payment.create',
            ...(ctx ?? { actorType: 'user', actorId: userId }),
            subjectUserId: userId,
            resourceType: 'payment',
            resourceId: payment.id,
            details: { amount_znc: formatMinor(payment.amountMinor), amount_rub: formatMinor(payment.chargeMinor), provider: provider.name },
          })
          const body = topUpBody({ ...viewOf(row!), status: 'pending' })
          const done = { status: 201, body }
          if (scope) await idempotency.complete(tx, scope, done)
          return { ...done, replayed: false }
        })
        return answer
      } catch (err) {
        if (scope) await idempotency.release(scope).catch(() => {})
        throw err
      }
    },

    async get(userId: string, paymentId: string): Promise<PaymentView> {
      const p = await byId(paymentId)
      if (!p || p.userId !== userId) throw new DomainError('payment_not_found')
      return viewOf(p)
    },

    /** The payments of a user, newest first (the account page's list). */
    async listForUser(userId: string, limit = 20): Promise<PaymentView[]> {
      const rows = await db.select().from(payments).where(eq(payments.userId, userId)).orderBy(desc(payments.createdAt)).limit(limit)
      return rows.map(viewOf)
    },

    /** Confirms by the provider's payment id (the fake checkout, a notification). */
    async syncByProviderId(providerPaymentId: string, ctx?: AuditContext): Promise<SyncOutcome> {
      if (!provider) return 'unknown_payment'
      const [p] = await db
        .select()
        .from(payments)
        .where(and(eq(payments.provider, provider.name), eq(payments.providerPaymentId, providerPaymentId)))
      return p ? sync(p, ctx) : 'unknown_payment'
    },

    /**
     * A provider notification: only from the provider's addresses, recorded as delivered,
     * then decided by asking the provider. Throws 403 / 400 / 503 as the contract says.
     */
    async notification(input: { sourceAddress: string; body: string; requestId: string }): Promise<SyncOutcome> {
      if (provider?.name !== 'yookassa' || !fromYooKassa(input.sourceAddress)) {
        log.warn('payment notification from an address outside YOOKASSA_WEBHOOK_CIDRS refused', { client_ip: input.sourceAddress })
        throw new DomainError('notification_forbidden')
      }
      let parsed: unknown = null
      try {
        parsed = JSON.parse(input.body)
      } catch {}
      const named = notifiedPaymentId(parsed)
      const [row] = await db
        .insert(paymentNotifications)
        .values({
          provider: provider.name,
          providerPaymentId: named?.id ?? null,
          event: named?.event.slice(0, 64) ?? null,
          sourceAddress: input.sourceAddress.slice(0, 64),
          requestId: input.requestId.slice(0, 128),
          body: input.body.slice(0, INBOX_BODY_LIMIT),
          receivedAt: clock.now(),
        })
        .returning({ id: paymentNotifications.id })
      const outcomeIs = (outcome: string) => db.update(paymentNotifications).set({ outcome }).where(eq(paymentNotifications.id, row!.id))
      if (!named) {
        await outcomeIs('malformed')
        throw new DomainError('notification_malformed')
      }
      try {
        const outcome = await this.syncByProviderId(named.id, { actorType: 'system', ip: input.sourceAddress, requestId: input.requestId })
        await outcomeIs(outcome)
        return outcome
      } catch (err) {
        await outcomeIs(err instanceof DomainError && err.code === 'provider_unavailable' ? 'provider_unavailable' : 'error')
        throw err
      }
    },

    /**
     * Asks about every open payment again, so a lost notification still credits; closes
     * creations that never reached the provider. The caller makes sure one instance runs it.
     */
    async reconcile(opts: { limit?: number } = {}): Promise<{ checked: number; credited: number; unavailable: number }> {
      const now = clock.now()
      await db
        .update(payments)
        .set({ status: 'canceled', updatedAt: now })
        .where(
          and(eq(payments.status, 'creating'), isNull(payments.providerPaymentId), lt(payments.createdAt, new Date(now.getTime() - ABANDONED_CREATION_MS))),
        )
      const open = await db
        .select()
        .from(payments)
        .where(
          and(
            inArray(payments.status, [...OPEN_STATUSES]),
            isNotNull(payments.providerPaymentId),
            gt(payments.createdAt, new Date(now.getTime() - RECONCILE_HORIZON_MS)),
          ),
        )
        .orderBy(payments.createdAt)
        .limit(opts.limit ?? 200)
      let credited = 0
      let unavailable = 0
      for (const p of open) {
        try {
          if ((await sync(p)) === 'credited') credited++
        } catch (err) {
          if (!(err instanceof DomainError && err.code === 'provider_unavailable')) throw err
          unavailable++
          break // the provider is down: the next round tries again
        }
      }
      await idempotency.prune(now)
      return { checked: open.length, credited, unavailable }
    },
  }
}

export type Payments = ReturnType<typeof createPayments>
