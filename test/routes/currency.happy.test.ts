// Credits in development: the fake provider's checkout page pays through the same confirmation
// path a real provider's notification takes.
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config'
import { appFixture, purchase, signUp, startApp } from '../support/harness'
import { balanceOf, ledgerViolations, PRICED } from '../support/money'

const f = appFixture({ ...PRICED, PAYMENT_PROVIDER: 'fake', BACKEND_URL: 'http://gateway.test' })

const topUp = async (jwt: string, amount: string) => {
  const res = await f.t.request('/api/v1/currency/purchase', {
    method: 'POST',
    bearer: jwt,
    json: { amount_znc: amount, return_url: 'http://account.test/done' },
  })
  expect(res.status).toBe(201)
  return (await res.json()) as { payment_id: string; payment_url: string; amount_znc: string; amount_rub: string; status: string }
}

const pathOf = (url: string) => new URL(url).pathname

describe('a top-up with the development provider', () => {
  it('register → top up → pay on the checkout page → balance → buy → refund, all in the history', async () => {
    const u = await signUp(f.t)
    expect(await balanceOf(f.t, u.jwt)).toBe('0.00')
    const payment = await topUp(u.jwt, '50.00')
    expect(payment).toMatchObject({ amount_znc: '50.00', amount_rub: '500.00', status: 'pending' })
    expect(payment.payment_url).toMatch(/^http:\/\/gateway\.test\/fake-checkout\/fake_[0-9a-f-]{36}$/)

    const page = await f.t.request(pathOf(payment.payment_url))
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'")
    const html = await page.text()
    expect(html).toContain('<form method="post"><button type="submit">Pay 500.00 RUB</button></form>')
    expect(html).not.toContain('<script')

    const paid = await f.t.request(pathOf(payment.payment_url), { method: 'POST' })
    expect(paid.status).toBe(303)
    expect(paid.headers.get('location')).toBe('http://account.test/done')
    expect(await balanceOf(f.t, u.jwt)).toBe('50.00')
    const seen = await (await f.t.request(`/api/v1/currency/payments/${payment.payment_id}`, { bearer: u.jwt })).json()
    expect(seen).toMatchObject({ payment_id: payment.payment_id, status: 'succeeded', credited: true, amount_znc: '50.00', amount_rub: '500.00' })
    expect(seen.succeeded_at).toMatch(/Z$/)

    // Paying again (a double click, a replayed form) credits nothing more.
    expect((await f.t.request(pathOf(payment.payment_url), { method: 'POST' })).status).toBe(303)
    expect(await balanceOf(f.t, u.jwt)).toBe('50.00')

    const token = await purchase(f.t, u.jwt, 24)
    expect(await balanceOf(f.t, u.jwt)).toBe('32.00')
    await f.t.request(`/api/v1/tokens/${token.id}`, { method: 'DELETE', bearer: u.jwt })
    expect(await balanceOf(f.t, u.jwt)).toBe('50.00')

    const history = await (await f.t.request('/api/v1/currency/transactions', { bearer: u.jwt })).json()
    expect(history.total).toBe(3)
    expect(
      history.items.map((t: { transaction_type: string; amount: string; balance_after: string }) => [t.transaction_type, t.amount, t.balance_after]),
    ).toEqual([
      ['refund', '18.00', '50.00'],
      ['purchase', '-18.00', '32.00'],
      ['deposit', '50.00', '50.00'],
    ])
    expect(await ledgerViolations(f.t)).toEqual([])
  })

  it('a top-up not paid yet is not in the history and credits nothing', async () => {
    const u = await signUp(f.t)
    const payment = await topUp(u.jwt, '10.00')
    expect(await (await f.t.request(`/api/v1/currency/payments/${payment.payment_id}`, { bearer: u.jwt })).json()).toMatchObject({
      status: 'pending',
      credited: false,
      succeeded_at: null,
    })
    expect(await (await f.t.request('/api/v1/currency/transactions', { bearer: u.jwt })).json()).toEqual({ items: [], total: 0, limit: 10, offset: 0 })
  })

  it('history pages newest first within bounds; limit over 100 or a negative offset is a 422', async () => {
    const u = await signUp(f.t)
    for (const amount of ['10.00', '11.00', '12.00']) {
      const p = await topUp(u.jwt, amount)
      await f.t.request(pathOf(p.payment_url), { method: 'POST' })
    }
    const page = await (await f.t.request('/api/v1/currency/transactions?limit=2&offset=1', { bearer: u.jwt })).json()
    expect(page).toMatchObject({ total: 3, limit: 2, offset: 1 })
    expect(page.items.map((t: { amount: string }) => t.amount)).toEqual(['11.00', '10.00'])
    for (const q of ['limit=101', 'limit=0', 'offset=-1', 'transaction_type=gift', 'limit=abc']) {
      expect((await f.t.request(`/api/v1/currency/transactions?${q}`, { bearer: u.jwt })).status, q).toBe(422)
    }
  })

  it('unknown checkout ids are 404; money endpoints need a user', async () => {
    expect((await f.t.request('/fake-checkout/fake_nope')).status).toBe(404)
    expect((await f.t.request('/fake-checkout/fake_nope', { method: 'POST' })).status).toBe(404)
    for (const path of ['/api/v1/currency/balance', '/api/v1/currency/transactions']) {
      expect(await (await f.t.request(path)).json()).toEqual({ detail: 'Not authenticated' })
    }
  })
})

describe('the development provider in production', () => {
  it('is refused at start, and production without a provider has no checkout and answers top-ups with 503', async () => {
    const base = { NODE_ENV: 'production', SECRET_KEY: 'x'.repeat(40) }
    expect(() => loadConfig({ ...base, PAYMENT_PROVIDER: 'fake' })).toThrow(/PAYMENT_PROVIDER=fake is for development/)
    expect(() => loadConfig({ ...base, PAYMENT_PROVIDER: 'yookassa' })).toThrow(/YOOKASSA_SHOP_ID and YOOKASSA_SECRET_KEY/)
    expect(loadConfig(base).paymentProvider).toBeNull()
    const prod = await startApp({ database: f.db, env: { NODE_ENV: 'production', BCRYPT_ROUNDS: '10' } })
    try {
      const u = await signUp(f.t)
      const res = await prod.request('/api/v1/currency/purchase', { method: 'POST', bearer: u.jwt, json: { amount_znc: '10.00' } })
      expect(res.status).toBe(503)
      expect(await res.json()).toMatchObject({ detail: 'Top-ups are not available on this server' })
      expect((await prod.request('/fake-checkout/fake_x')).status).toBe(404)
      expect((await prod.request('/api/v1/webhooks/yookassa', { method: 'POST', json: {} })).status).toBe(404)
    } finally {
      await prod.close()
    }
  })
})
