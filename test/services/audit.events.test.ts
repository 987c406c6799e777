// Each change of the product leaves exactly one audit event, written in the change's own
// transaction: who did it apart from whom it concerns, with address, browser and request id.
// A change that fails leaves none; an audit write that fails undoes the change.

import { randomUUID } from 'node:crypto'
import { and, asc, eq, gt } from 'drizzle-orm'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { type AuditEventRow, accessTokens, auditEvents, payments, users } from '../../src/db/schema'
import { markPaid } from '../cli/money'
import { appFixture, newAccount, purchase, signUp } from '../support/harness'
import { recordSecret } from '../support/log-scan'
import { balanceOf, giveCredits, PRICED } from '../support/money'

const f = appFixture({ ...PRICED, PAYMENT_PROVIDER: 'fake', LOGIN_LOCK_AFTER: '3/10m' })

const IP = '203.0.113.7'
const UA = 'audit-test-browser/1.0'

/** A request as a front door hands it to the app: the client's address and this request's id. */
async function call(path: string, init: { method?: string; json?: unknown; bearer?: string; headers?: Record<string, string>; requestId?: string } = {}) {
  const headers = new Headers(init.headers)
  headers.set('user-agent', UA)
  if (init.json !== undefined) headers.set('content-type', 'application/json')
  if (init.bearer) headers.set('authorization', `Bearer ${init.bearer}`)
  const requestId = init.requestId ?? `rq-${randomUUID().slice(0, 8)}`
  const res = await f.t.app.request(
    `http://localhost${path}`,
    { method: init.method ?? 'GET', headers, body: init.json === undefined ? undefined : JSON.stringify(init.json) },
    { clientIp: IP, requestId },
  )
  return { res, requestId }
}

let mark = 0
/** The events written since the last call. */
async function newEvents(): Promise<AuditEventRow[]> {
  const rows = await f.db.db.select().from(auditEvents).where(gt(auditEvents.id, mark)).orderBy(asc(auditEvents.id))
  if (rows.length > 0) mark = rows[rows.length - 1]!.id
  return rows
}

const details = (e: AuditEventRow) => JSON.parse(e.details) as Record<string, unknown>

let admin: Awaited<ReturnType<typeof signUp>>
beforeAll(async () => {
  admin = await signUp(f.t)
  await f.db.db.update(users).set({ isSuperuser: true }).where(eq(users.id, admin.user.id))
  await newEvents()
})

describe('auth', () => {
  it('a registration is one auth.register by an anonymous caller about the new user', async () => {
    const account = newAccount()
    recordSecret(account.password, 'password')
    const { res, requestId } = await call('/api/v1/auth/register', { method: 'POST', json: account })
    expect(res.status).toBe(201)
    const user = (await res.json()) as { id: string }
    const [e, ...more] = await newEvents()
    expect(more).toEqual([])
    expect(e).toMatchObject({
      action: 'auth.register',
      outcome: 'success',
      actorType: 'anonymous',
      actorId: null,
      subjectUserId: user.id,
      resourceType: 'user',
      resourceId: user.id,
      ip: IP,
      userAgent: UA,
      requestId,
    })
  })

  it('a refused registration (email taken) leaves no event', async () => {
    const { res } = await call('/api/v1/auth/register', { method: 'POST', json: { ...newAccount(), email: admin.account.email } })
    expect(res.status).toBe(400)
    expect(await newEvents()).toEqual([])
  })

  it('every login is one auth.login: success by the user, failures by an anonymous caller with the reason; the answers stay alike', async () => {
    const u = await signUp(f.t)
    const inactive = await signUp(f.t)
    await f.db.db.update(users).set({ isActive: false }).where(eq(users.id, inactive.user.id))
    await newEvents()

    const ok = await call('/api/v1/auth/login', { method: 'POST', json: { email: u.account.email, password: u.account.password } })
    expect(ok.res.status).toBe(200)
    recordSecret(((await ok.res.json()) as { access_token: string }).access_token, 'JWT')
    const [success, ...none] = await newEvents()
    expect(none).toEqual([])
    expect(success).toMatchObject({
      action: 'auth.login',
      outcome: 'success',
      actorType: 'user',
      actorId: u.user.id,
      subjectUserId: u.user.id,
      ip: IP,
      userAgent: UA,
      requestId: ok.requestId,
    })
    expect(details(success!)).toEqual({})

    const attempts = [
      { email: u.account.email, password: 'wrong password!', reason: 'bad_password', subject: u.user.id },
      { email: `nobody-${randomUUID()}@example.com`, password: 'whatever password', reason: 'unknown_email', subject: null },
      { email: inactive.account.email, password: inactive.account.password, reason: 'inactive', subject: inactive.user.id },
    ]
    const bodies = new Set<string>()
    for (const a of attempts) {
      const { res, requestId } = await call('/api/v1/auth/login', { method: 'POST', json: { email: a.email, password: a.password } })
      expect(res.status).toBe(401)
      bodies.add(await res.text())
      const [e, ...more] = await newEvents()
      expect(more).toEqual([])
      expect(e).toMatchObject({ action: 'auth.login', outcome: 'failure', actorType: 'anonymous', actorId: null, subjectUserId: a.subject, ip: IP, requestId })
      expect(details(e!)).toEqual({ reason: a.reason })
    }
    expect(bodies.size).toBe(1)
  })

  it('a login refused by the lock is an event too, with reason locked; the password was not checked', async () => {
    const u = await signUp(f.t)
    await newEvents()
    for (let i = 0; i < 3; i++) await call('/api/v1/auth/login', { method: 'POST', json: { email: u.account.email, password: 'not the password' } })
    expect((await newEvents()).map((e) => details(e).reason)).toEqual(['bad_password', 'bad_password', 'bad_password'])
    const { res } = await call('/api/v1/auth/login', { method: 'POST', json: { email: u.account.email, password: u.account.password } })
    expect(res.status).toBe(429)
    const [e, ...more] = await newEvents()
    expect(more).toEqual([])
    expect(e).toMatchObject({ action: 'auth.login', outcome: 'failure', subjectUserId: u.user.id })
    expect(details(e!)).toEqual({ reason: 'locked' })
  })
})

describe('tokens', () => {
  it('a purchase is one token.purchase in its money transaction; a 402 leaves none', async () => {
    const u = await signUp(f.t)
    await newEvents()
    const poor = await call('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: 24 }, bearer: u.jwt })
    expect(poor.res.status).toBe(402)
    expect(await newEvents()).toEqual([])

    await giveCredits(f.t, u.user.id, 2000)
    const { res, requestId } = await call('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: 24 }, bearer: u.jwt })
    expect(res.status).toBe(201)
    const bought = (await res.json()) as { id: string; token: string }
    recordSecret(bought.token, 'access token')
    const [e, ...more] = await newEvents()
    expect(more).toEqual([])
    expect(e).toMatchObject({
      action: 'token.purchase',
      actorType: 'user',
      actorId: u.user.id,
      subjectUserId: u.user.id,
      resourceType: 'access_token',
      resourceId: bought.id,
      ip: IP,
      userAgent: UA,
      requestId,
    })
    expect(details(e!)).toEqual({ duration_hours: 24, cost_znc: '18.00' })
    expect(JSON.stringify(e)).not.toContain(bought.token)
  })

  it('an audit write that fails undoes the purchase: no token, no debit', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 2000)
    await newEvents()
    const spy = vi.spyOn(f.t.services.audit, 'record').mockRejectedValueOnce(new Error('audit store unavailable'))
    try {
      const { res } = await call('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: 24 }, bearer: u.jwt })
      expect(res.status).toBe(500)
    } finally {
      spy.mockRestore()
    }
    expect(await f.db.db.select().from(accessTokens).where(eq(accessTokens.userId, u.user.id))).toEqual([])
    expect(await balanceOf(f.t, u.jwt)).toBe('20.00')
    expect(await newEvents()).toEqual([])
  })

  it('a revocation is one token.revoke with the refund and who revoked; revoking again is no event', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 2000)
    const bought = await purchase(f.t, u.jwt, 24)
    await newEvents()
    const { res, requestId } = await call(`/api/v1/tokens/${bought.id}`, { method: 'DELETE', bearer: u.jwt })
    expect(res.status).toBe(200)
    const [e, ...more] = await newEvents()
    expect(more).toEqual([])
    expect(e).toMatchObject({
      action: 'token.revoke',
      actorType: 'user',
      actorId: u.user.id,
      subjectUserId: u.user.id,
      resourceId: bought.id,
      ip: IP,
      requestId,
    })
    expect(details(e!)).toEqual({ refund_znc: '18.00', by: 'user' })
    expect((await call(`/api/v1/tokens/${bought.id}`, { method: 'DELETE', bearer: u.jwt })).res.status).toBe(200)
    expect(await newEvents()).toEqual([])
  })

  it('the first use through the proxy is one token.activate with the address and request id; later uses write nothing', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 2000)
    const bought = await purchase(f.t, u.jwt, 24)
    await newEvents()
    const from = { clientIp: '198.51.100.9', requestId: 'proxy-first-use', header: (n: string) => (n === 'user-agent' ? 'Zenzefi client' : null) }
    const [first, second] = await Promise.all([f.t.services.tokens.authorize(bought.token, from), f.t.services.tokens.authorize(bought.token, from)])
    expect(first?.grant.expiresAt).toBe(second?.grant.expiresAt)
    for (let i = 0; i < 5; i++) expect(await f.t.services.tokens.authorize(bought.token, from)).not.toBeNull()
    const [e, ...more] = await newEvents()
    expect(more).toEqual([])
    expect(e).toMatchObject({
      action: 'token.activate',
      actorType: 'user',
      actorId: u.user.id,
      subjectUserId: u.user.id,
      resourceId: bought.id,
      ip: '198.51.100.9',
      userAgent: 'Zenzefi client',
      requestId: 'proxy-first-use',
    })
    expect(details(e!)).toEqual({ duration_hours: 24 })
  })
})

describe('money', () => {
  it('a top-up is one payment.create by the user, and its credit one payment.credit by the system', async () => {
    const u = await signUp(f.t)
    await newEvents()
    const { res, requestId } = await call('/api/v1/currency/purchase', {
      method: 'POST',
      json: { amount_znc: '50.00' },
      bearer: u.jwt,
      headers: { 'Idempotency-Key': randomUUID() },
    })
    expect(res.status).toBe(201)
    const { payment_id } = (await res.json()) as { payment_id: string }
    const [created, ...more] = await newEvents()
    expect(more).toEqual([])
    expect(created).toMatchObject({
      action: 'payment.create',
      actorType: 'user',
      actorId: u.user.id,
      subjectUserId: u.user.id,
      resourceType: 'payment',
      resourceId: payment_id,
      ip: IP,
      requestId,
    })
    expect(details(created!)).toMatchObject({ amount_znc: '50.00', provider: 'fake' })

    const providerId = await markPaid(f.db.db, payment_id)
    expect(await f.t.services.payments.syncByProviderId(providerId)).toBe('credited')
    expect(await f.t.services.payments.syncByProviderId(providerId)).toBe('already_credited')
    const [credited, ...again] = await newEvents()
    expect(again).toEqual([])
    expect(credited).toMatchObject({ action: 'payment.credit', actorType: 'system', actorId: null, subjectUserId: u.user.id, resourceId: payment_id })
    expect(details(credited!)).toEqual({ amount_znc: '50.00', provider: 'fake' })
  })

  it('a payment whose confirmation does not match is held for review: one payment.review with the reason', async () => {
    const u = await signUp(f.t)
    const { res } = await call('/api/v1/currency/purchase', { method: 'POST', json: { amount_znc: '10.00' }, bearer: u.jwt })
    const { payment_id } = (await res.json()) as { payment_id: string }
    const providerId = await markPaid(f.db.db, payment_id)
    // The provider's side now says another amount was paid.
    await f.db.db.update(payments).set({ chargeMinor: 1 }).where(eq(payments.id, payment_id))
    await newEvents()
    expect(await f.t.services.payments.syncByProviderId(providerId)).toBe('held_for_review')
    const [e, ...more] = await newEvents()
    expect(more).toEqual([])
    expect(e).toMatchObject({ action: 'payment.review', actorType: 'system', subjectUserId: u.user.id, resourceId: payment_id })
    expect(String(details(e!).reason)).toMatch(/expected/)
  })

  it('an operator adjustment is one balance.adjust by the admin about the user', async () => {
    const u = await signUp(f.t)
    await newEvents()
    const { res, requestId } = await call(`/api/v1/admin/users/${u.user.id}/adjustments`, {
      method: 'POST',
      bearer: admin.jwt,
      json: { amount: '-0.00', reason: 'nothing' },
      headers: { 'Idempotency-Key': randomUUID() },
    })
    expect(res.status).toBe(422)
    expect(await newEvents()).toEqual([])

    const given = await call(`/api/v1/admin/users/${u.user.id}/adjustments`, {
      method: 'POST',
      bearer: admin.jwt,
      json: { amount: '12.50', reason: 'Goodwill credit' },
      headers: { 'Idempotency-Key': randomUUID() },
      requestId,
    })
    expect(given.res.status).toBe(201)
    const { transaction_id } = (await given.res.json()) as { transaction_id: string }
    const [e, ...more] = await newEvents()
    expect(more).toEqual([])
    expect(e).toMatchObject({
      action: 'balance.adjust',
      actorType: 'admin',
      actorId: admin.user.id,
      subjectUserId: u.user.id,
      resourceType: 'ledger_transaction',
      resourceId: transaction_id,
      ip: IP,
      requestId,
    })
    expect(details(e!)).toEqual({ amount_znc: '12.50', reason: 'Goodwill credit', balance_after: '12.50' })
  })

  it('a detail that looks like a secret is refused, and the adjustment with it is undone', async () => {
    const u = await signUp(f.t)
    await newEvents()
    const secretLooking = 'A'.repeat(32) + 'b'.repeat(32)
    const { res } = await call(`/api/v1/admin/users/${u.user.id}/adjustments`, {
      method: 'POST',
      bearer: admin.jwt,
      json: { amount: '5.00', reason: secretLooking },
      headers: { 'Idempotency-Key': randomUUID() },
    })
    expect(res.status).toBe(500)
    expect(await balanceOf(f.t, u.jwt)).toBe('0.00')
    expect(await newEvents()).toEqual([])
  })

  it('after all of the above the chain is whole', async () => {
    const verified = await f.t.services.audit.verify(f.db.db)
    expect(verified.problems).toEqual([])
    expect(verified.checked).toBeGreaterThan(10)
    const purchases = await f.db.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'token.purchase'), eq(auditEvents.ip, IP)))
    expect(purchases.length).toBeGreaterThan(0)
  })
})
