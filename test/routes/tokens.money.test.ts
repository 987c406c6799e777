import { describe, expect, it } from 'vitest'
import { appFixture, purchase, signUp, startApp } from '../support/harness'
import { balanceOf, giveCredits, ledgerViolations, PRICED } from '../support/money'

// Purchase limits off: these tests fire a hundred purchases at once on purpose.
const NO_PURCHASE_LIMITS = { PURCHASE_RATE_PER_ACCOUNT: '0', PURCHASE_RATE_PER_ADDRESS: '0' }
const f = appFixture({ ...PRICED, ...NO_PURCHASE_LIMITS })

const buy = (jwt: string, hours: number, key?: string, extra: Record<string, unknown> = {}) =>
  f.t.request('/api/v1/tokens/purchase', {
    method: 'POST',
    bearer: jwt,
    json: { duration_hours: hours, ...extra },
    headers: key === undefined ? {} : { 'Idempotency-Key': key },
  })

const revoke = (jwt: string, id: string) => f.t.request(`/api/v1/tokens/${id}`, { method: 'DELETE', bearer: jwt })

describe('buying a token costs its price', () => {
  it('debits the duration price, says what it cost and what is left, and lists it in the history', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 2000)
    const res = await buy(u.jwt, 24)
    expect(res.status).toBe(201)
    const body = await res.json()
    expect(body).toMatchObject({ duration_hours: 24, cost_znc: '18.00', new_balance: '2.00', refundable: true, is_active: true })
    expect(await balanceOf(f.t, u.jwt)).toBe('2.00')
    const history = await (await f.t.request('/api/v1/currency/transactions?transaction_type=purchase', { bearer: u.jwt })).json()
    expect(history).toMatchObject({ total: 1, items: [{ amount: '-18.00', transaction_type: 'purchase', token_id: body.id, balance_after: '2.00' }] })
  })

  it('refuses with 402 and the exact figures when the balance is short, and moves nothing', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 1000)
    const res = await buy(u.jwt, 24)
    expect(res.status).toBe(402)
    expect(await res.json()).toEqual({ detail: 'Insufficient balance. Required: 18.00 ZNC, Available: 10.00 ZNC' })
    expect(await balanceOf(f.t, u.jwt)).toBe('10.00')
    const mine = await (await f.t.request('/api/v1/tokens/my-tokens?active_only=false', { bearer: u.jwt })).json()
    expect(mine).toEqual([])
  })

  it('100 purchases at once on a balance of 180.00: exactly 10 succeed, 90 get the 402, the balance ends at 0.00', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 18000)
    const answers = await Promise.all(Array.from({ length: 100 }, () => buy(u.jwt, 24)))
    const statuses = answers.map((r) => r.status)
    expect(statuses.filter((s) => s === 201)).toHaveLength(10)
    expect(statuses.filter((s) => s === 402)).toHaveLength(90)
    const bodies = await Promise.all(answers.map((r) => r.json()))
    const balances = bodies.filter((b) => b.new_balance).map((b) => b.new_balance as string)
    // Each success saw its own balance: 162.00, 144.00, … 0.00, each once.
    expect(balances.sort((a, b) => Number(b) - Number(a))).toEqual(Array.from({ length: 10 }, (_, i) => (162 - 18 * i).toFixed(2)))
    expect(await balanceOf(f.t, u.jwt)).toBe('0.00')
    const mine = await (await f.t.request('/api/v1/tokens/my-tokens', { bearer: u.jwt })).json()
    expect(mine).toHaveLength(10)
    expect(await ledgerViolations(f.t)).toEqual([])
  })
})

describe('Idempotency-Key on a purchase', () => {
  it('the same key sent 20 times at once: one token, one debit, 20 identical answers', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 10000)
    const answers = await Promise.all(Array.from({ length: 20 }, () => buy(u.jwt, 24, 'order-42')))
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(201))
    const texts = await Promise.all(answers.map((r) => r.text()))
    expect(new Set(texts).size).toBe(1)
    expect(answers.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(19)
    expect(await balanceOf(f.t, u.jwt)).toBe('82.00')
    const mine = await (await f.t.request('/api/v1/tokens/my-tokens', { bearer: u.jwt })).json()
    expect(mine.map((t: { id: string }) => t.id)).toEqual([JSON.parse(texts[0]!).id])
  })

  it('a later retry replays the first answer byte for byte, even after the balance changed', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 2000)
    const first = await buy(u.jwt, 24, 'k-1')
    const firstText = await first.text()
    await giveCredits(f.t, u.user.id, 500)
    const again = await buy(u.jwt, 24, 'k-1')
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(await again.text()).toBe(firstText)
    expect(await balanceOf(f.t, u.jwt)).toBe('7.00')
  })

  it('the same key with a different request is a 422; the same fields in another order are the same request', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 5000)
    expect((await buy(u.jwt, 24, 'k-2')).status).toBe(201)
    const other = await buy(u.jwt, 12, 'k-2')
    expect(other.status).toBe(422)
    expect(await other.json()).toEqual({ detail: 'Idempotency-Key reused with a different request' })
    expect(await balanceOf(f.t, u.jwt)).toBe('32.00')
  })

  it('an empty key or one over 255 characters is a 400; keys belong to their user', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 5000)
    for (const key of ['', ' ', 'x'.repeat(256), 'naïve']) {
      const res = await buy(u.jwt, 1, key)
      expect(res.status, JSON.stringify(key)).toBe(400)
      expect((await res.json()).detail).toBe('Idempotency-Key must be 1 to 255 printable characters')
    }
    const v = await signUp(f.t)
    await giveCredits(f.t, v.user.id, 5000)
    const mine = await (await buy(u.jwt, 1, 'shared-key')).json()
    const theirs = await (await buy(v.jwt, 1, 'shared-key')).json()
    expect(theirs.id).not.toBe(mine.id)
    expect(await balanceOf(f.t, u.jwt)).toBe('49.00')
  })

  it('a refusal is not kept: after topping up, the same key buys', async () => {
    const u = await signUp(f.t)
    expect((await buy(u.jwt, 24, 'k-3')).status).toBe(402)
    await giveCredits(f.t, u.user.id, 1800)
    const res = await buy(u.jwt, 24, 'k-3')
    expect(res.status).toBe(201)
    expect(res.headers.get('idempotent-replayed')).toBeNull()
    expect(await balanceOf(f.t, u.jwt)).toBe('0.00')
  })
})

describe('refunds', () => {
  it('revoking a token never used refunds exactly what was paid, once', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 2000)
    const token = await purchase(f.t, u.jwt, 24)
    const res = await revoke(u.jwt, token.id)
    expect(await res.json()).toEqual({ message: 'Token revoked successfully', token_id: token.id, revoked: true, refund_amount: '18.00', new_balance: '20.00' })
    const twice = await (await revoke(u.jwt, token.id)).json()
    expect(twice).toMatchObject({ revoked: true, refund_amount: '0.00', new_balance: '20.00' })
    const refunds = await (await f.t.request('/api/v1/currency/transactions?transaction_type=refund', { bearer: u.jwt })).json()
    expect(refunds).toMatchObject({ total: 1, items: [{ amount: '18.00', token_id: token.id }] })
  })

  it('a used token is revoked without refund', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 100)
    const token = await purchase(f.t, u.jwt, 1)
    expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull()
    const listed = await (await f.t.request('/api/v1/tokens/my-tokens', { bearer: u.jwt })).json()
    expect(listed[0]).toMatchObject({ cost_znc: '1.00', refundable: false })
    expect(await (await revoke(u.jwt, token.id)).json()).toMatchObject({ refund_amount: '0.00', new_balance: '0.00' })
  })

  it('refunds the price paid, not the price of today', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 1800)
    const token = await purchase(f.t, u.jwt, 24)
    // The operator raises the price (another instance with new settings, the same database).
    const repriced = await startApp({ database: f.db, env: { ...PRICED, TOKEN_PRICE_24H: '25.00' } })
    try {
      const res = await repriced.request(`/api/v1/tokens/${token.id}`, { method: 'DELETE', bearer: u.jwt })
      expect(await res.json()).toMatchObject({ refund_amount: '18.00', new_balance: '18.00' })
    } finally {
      await repriced.close()
    }
  })

  it('revoke racing the first use: exactly one wins, every time', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 100 * 30)
    const tokens = await Promise.all(Array.from({ length: 30 }, () => purchase(f.t, u.jwt, 1)))
    let refunded = 0
    let activated = 0
    await Promise.all(
      tokens.map(async (token) => {
        const [answer, grant] = await Promise.all([revoke(u.jwt, token.id).then((r) => r.json()), f.t.services.tokens.validateAndActivate(token.token)])
        const refund = answer.refund_amount === '1.00'
        expect(refund !== (grant !== null), `token ${token.id}: refund ${answer.refund_amount}, activation ${grant ? 'won' : 'lost'}`).toBe(true)
        if (refund) refunded++
        else activated++
        // Whoever won, the token is refused from now on.
        expect(await f.t.services.tokens.validateAndActivate(token.token)).toBeNull()
      }),
    )
    expect(refunded + activated).toBe(30)
    expect(await balanceOf(f.t, u.jwt)).toBe(`${refunded}.00`)
    expect(await ledgerViolations(f.t)).toEqual([])
  })
})
