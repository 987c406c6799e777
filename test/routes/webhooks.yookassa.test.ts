// Top-ups through YooKassa, end to end: the real adapter against a local fake of YooKassa's
// API (YOOKASSA_API_URL), notifications delivered to the real Node server over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Gateway, startGateway } from '../support/gateway'
import { signUp, type TestDatabase, testDatabase } from '../support/harness'
import { ledgerViolations } from '../support/money'
import { startYooKassaFake, type YooKassaFake } from '../support/yookassa-fake'

const FROM_YOOKASSA = { 'X-Forwarded-For': '185.71.76.10' }
const FOREIGN = { 'X-Forwarded-For': '203.0.113.9' }

let db: TestDatabase
let yk: YooKassaFake
let gw: Gateway

beforeAll(async () => {
  db = await testDatabase()
  yk = await startYooKassaFake()
  gw = await startGateway({
    database: db,
    upstream: { url: 'http://127.0.0.1:9' },
    env: {
      PAYMENT_PROVIDER: 'yookassa',
      YOOKASSA_SHOP_ID: yk.shopId,
      YOOKASSA_SECRET_KEY: yk.secretKey,
      YOOKASSA_API_URL: yk.url,
      // The test talks to the gateway from 127.0.0.1 as a TLS front would, naming the sender in X-Forwarded-For.
      TRUSTED_PROXY_CIDRS: '127.0.0.1/32',
    },
  })
})
afterAll(async () => {
  await gw?.close()
  await yk?.close()
  await db?.drop()
})

const api = (path: string, init: RequestInit & { jwt?: string; json?: unknown } = {}) => {
  const headers = new Headers(init.headers)
  if (init.jwt) headers.set('authorization', `Bearer ${init.jwt}`)
  if (init.json !== undefined) headers.set('content-type', 'application/json')
  return fetch(`${gw.url}${path}`, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body })
}

const hook = () => `${gw.url}/api/v1/webhooks/yookassa`

async function topUp(jwt: string, amount: string | number = '100.00', key?: string) {
  return api('/api/v1/currency/purchase', {
    method: 'POST',
    jwt,
    json: { amount_znc: amount, return_url: 'https://account.example/back' },
    headers: key ? { 'Idempotency-Key': key } : {},
  })
}

const balance = async (jwt: string) => ((await (await api('/api/v1/currency/balance', { jwt })).json()) as { balance: string }).balance

/** The provider id of our payment (what YooKassa's notification names). */
const providerIdOf = (paymentId: string) => [...yk.payments.values()].find((p) => p.metadata.payment_id === paymentId)!.id

describe('a top-up through YooKassa', () => {
  it('creates the payment at YooKassa with our payment id as Idempotence-Key and the exact rouble amount', async () => {
    const u = await signUp(gw.t)
    const res = await topUp(u.jwt, '100.50')
    expect(res.status).toBe(201)
    const body = await res.json()
    expect(body).toMatchObject({ amount_znc: '100.50', amount_rub: '1005.00', status: 'pending' })
    const remote = yk.payments.get(providerIdOf(body.payment_id))!
    expect(remote.amount).toEqual({ value: '1005.00', currency: 'RUB' })
    expect(body.payment_url).toBe(remote.confirmation?.confirmation_url)
    expect(yk.calls.filter((c) => c.method === 'POST').at(-1)?.idempotenceKey).toBe(body.payment_id)
    expect(await balance(u.jwt)).toBe('0.00')
  })

  it('a notification delivered 5 times in a row and 5 at once credits once', async () => {
    const u = await signUp(gw.t)
    const { payment_id } = await (await topUp(u.jwt, '100.00')).json()
    const id = providerIdOf(payment_id)
    yk.pay(id)
    const inRow: number[] = []
    for (let i = 0; i < 5; i++) inRow.push((await yk.notify(hook(), id, { headers: FROM_YOOKASSA })).status)
    const atOnce = await Promise.all(Array.from({ length: 5 }, () => yk.notify(hook(), id, { headers: FROM_YOOKASSA })))
    expect([...inRow, ...atOnce.map((r) => r.status)]).toEqual(Array(10).fill(200))
    const outcomes = await Promise.all(atOnce.map((r) => r.json()))
    expect(outcomes.every((o) => o.outcome === 'already_credited' || o.outcome === 'credited')).toBe(true)
    expect(await balance(u.jwt)).toBe('100.00')
    const history = await (await api('/api/v1/currency/transactions', { jwt: u.jwt })).json()
    expect(history).toMatchObject({ total: 1, items: [{ amount: '100.00', transaction_type: 'deposit', payment_id, balance_after: '100.00' }] })
    expect(await (await api(`/api/v1/currency/payments/${payment_id}`, { jwt: u.jwt })).json()).toMatchObject({ status: 'succeeded', credited: true })
    expect(await ledgerViolations(gw.t)).toEqual([])
  })

  it('a notification from outside YooKassa’s addresses is refused with 403, whatever it says', async () => {
    const u = await signUp(gw.t)
    const { payment_id } = await (await topUp(u.jwt)).json()
    const id = providerIdOf(payment_id)
    yk.pay(id)
    expect((await yk.notify(hook(), id, { headers: FOREIGN })).status).toBe(403)
    // Straight from the front (no X-Forwarded-For): the front itself is not YooKassa.
    const direct = await yk.notify(hook(), id)
    expect(direct.status).toBe(403)
    expect(await direct.json()).toEqual({ detail: 'Forbidden' })
    expect(await balance(u.jwt)).toBe('0.00')
  })

  it('a notification claiming success while YooKassa’s API says pending credits nothing', async () => {
    const u = await signUp(gw.t)
    const { payment_id } = await (await topUp(u.jwt)).json()
    const id = providerIdOf(payment_id)
    const forged = {
      type: 'notification',
      event: 'payment.succeeded',
      object: { ...yk.payments.get(id), status: 'succeeded', paid: true },
    }
    const res = await fetch(hook(), { method: 'POST', headers: { 'content-type': 'application/json', ...FROM_YOOKASSA }, body: JSON.stringify(forged) })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ received: true, outcome: 'not_paid' })
    expect(await balance(u.jwt)).toBe('0.00')
  })

  it('a payment YooKassa reports with another amount is held for review, never credited', async () => {
    const u = await signUp(gw.t)
    const { payment_id } = await (await topUp(u.jwt, '50.00')).json()
    const id = providerIdOf(payment_id)
    yk.setAmount(id, '5.00', 'RUB')
    yk.pay(id)
    expect(await (await yk.notify(hook(), id, { headers: FROM_YOOKASSA })).json()).toEqual({ received: true, outcome: 'held_for_review' })
    yk.setAmount(id, '500.00', 'RUB')
    expect(await (await yk.notify(hook(), id, { headers: FROM_YOOKASSA })).json()).toEqual({ received: true, outcome: 'held_for_review' })
    expect(await balance(u.jwt)).toBe('0.00')
    expect(await (await api(`/api/v1/currency/payments/${payment_id}`, { jwt: u.jwt })).json()).toMatchObject({ status: 'review', credited: false })
  })

  it('YooKassa’s API down: the notification gets 503, and the reconciler credits after recovery', async () => {
    const u = await signUp(gw.t)
    const { payment_id } = await (await topUp(u.jwt)).json()
    const id = providerIdOf(payment_id)
    yk.pay(id)
    await yk.down()
    try {
      expect((await yk.notify(hook(), id, { headers: FROM_YOOKASSA })).status).toBe(503)
      expect(await gw.t.services.payments.reconcile()).toMatchObject({ credited: 0, unavailable: 1 })
    } finally {
      await yk.up()
    }
    expect(await balance(u.jwt)).toBe('0.00')
    // The notification was lost for good; the periodic re-sync finds the payment paid (and any
    // other paid payment whose notification never came, such as the refused one above).
    const round = await gw.t.services.payments.reconcile()
    expect(round.unavailable).toBe(0)
    expect(round.credited).toBeGreaterThanOrEqual(1)
    expect(await balance(u.jwt)).toBe('100.00')
    expect(await gw.t.services.payments.reconcile()).toMatchObject({ credited: 0, unavailable: 0 })
    expect(await balance(u.jwt)).toBe('100.00')
  })

  it('creating while YooKassa is unreachable is a 503; a retry with the same key creates one payment', async () => {
    const u = await signUp(gw.t)
    yk.failNext(1, 500)
    const failed = await topUp(u.jwt, '20.00', 'topup-1')
    expect(failed.status).toBe(503)
    expect(await failed.json()).toMatchObject({ detail: 'Payment provider unavailable; retry with the same Idempotency-Key' })
    const ok = await topUp(u.jwt, '20.00', 'topup-1')
    expect(ok.status).toBe(201)
    const body = await ok.text()
    const again = await topUp(u.jwt, '20.00', 'topup-1')
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(await again.text()).toBe(body)
    const { payment_id } = JSON.parse(body)
    expect([...yk.payments.values()].filter((p) => p.metadata.payment_id === payment_id)).toHaveLength(1)
    expect(yk.calls.filter((c) => c.idempotenceKey === payment_id).length).toBe(2)
  })

  it('a payment is its owner’s only', async () => {
    const u = await signUp(gw.t)
    const other = await signUp(gw.t)
    const { payment_id } = await (await topUp(u.jwt)).json()
    expect((await api(`/api/v1/currency/payments/${payment_id}`, { jwt: other.jwt })).status).toBe(404)
    expect((await api(`/api/v1/currency/payments/${payment_id}`, { jwt: u.jwt })).status).toBe(200)
  })

  it('amounts are exact or refused: more than two decimals, zero, out of bounds or not a number is a 422', async () => {
    const u = await signUp(gw.t)
    for (const amount of ['10.001', '0', '0.00', 9.99, '10001.00', 'ten', '1e3', '-20.00', ' 20', null]) {
      const res = await topUp(u.jwt, amount as string)
      expect(res.status, JSON.stringify(amount)).toBe(422)
    }
    expect((await topUp(u.jwt, 10)).status).toBe(201)
    expect((await topUp(u.jwt, '10000.00')).status).toBe(201)
  })
})
