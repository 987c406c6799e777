import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { users } from '../../../src/db/schema'
import { appFixture, signUp } from '../../support/harness'
import { balanceOf, ledgerViolations } from '../../support/money'

const f = appFixture()
let admin: Awaited<ReturnType<typeof signUp>>

beforeAll(async () => {
  admin = await signUp(f.t)
  await f.db.db.update(users).set({ isSuperuser: true }).where(eq(users.id, admin.user.id))
})

const adjust = (jwt: string, userId: string, json: unknown, key: string | null = crypto.randomUUID()) =>
  f.t.request(`/api/v1/admin/users/${userId}/adjustments`, { method: 'POST', bearer: jwt, json, headers: key === null ? {} : { 'Idempotency-Key': key } })

describe('operator adjustments', () => {
  it('give credits with a reason the user then reads in their history; take some back', async () => {
    const u = await signUp(f.t)
    const given = await adjust(admin.jwt, u.user.id, { amount: '25.00', reason: 'Compensation for the outage on 1 Dec' })
    expect(given.status).toBe(201)
    const body = await given.json()
    expect(body).toMatchObject({ amount: '25.00', balance_after: '25.00' })
    expect(body.transaction_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(await (await adjust(admin.jwt, u.user.id, { amount: -5.5, reason: 'Correction' })).json()).toMatchObject({ amount: '-5.50', balance_after: '19.50' })
    expect(await balanceOf(f.t, u.jwt)).toBe('19.50')
    const history = await (await f.t.request('/api/v1/currency/transactions?transaction_type=adjustment', { bearer: u.jwt })).json()
    expect(history.items.map((t: { amount: string; description: string }) => [t.amount, t.description])).toEqual([
      ['-5.50', 'Correction'],
      ['25.00', 'Compensation for the outage on 1 Dec'],
    ])
    expect(await ledgerViolations(f.t)).toEqual([])
  })

  it('an adjustment below zero is a 409 naming the balance, and nothing moves', async () => {
    const u = await signUp(f.t)
    await adjust(admin.jwt, u.user.id, { amount: '10.00', reason: 'Start' })
    const res = await adjust(admin.jwt, u.user.id, { amount: '-10.01', reason: 'Too much' })
    expect(res.status).toBe(409)
    expect(await res.json()).toEqual({ detail: 'Adjustment would make balance negative. Available: 10.00 ZNC' })
    expect(await balanceOf(f.t, u.jwt)).toBe('10.00')
  })

  it('the Idempotency-Key is required, and the same key moves money once', async () => {
    const u = await signUp(f.t)
    const missing = await adjust(admin.jwt, u.user.id, { amount: '1.00', reason: 'No key' }, null)
    expect(missing.status).toBe(400)
    expect(await missing.json()).toEqual({ detail: 'Idempotency-Key header is required for this request' })
    const answers = await Promise.all(Array.from({ length: 5 }, () => adjust(admin.jwt, u.user.id, { amount: '3.00', reason: 'Once' }, 'adj-1')))
    expect(answers.map((r) => r.status)).toEqual(Array(5).fill(201))
    expect(new Set(await Promise.all(answers.map((r) => r.text()))).size).toBe(1)
    expect(await balanceOf(f.t, u.jwt)).toBe('3.00')
  })

  it('only superusers; unknown users 404; amounts exact and non-zero; a reason is required', async () => {
    const u = await signUp(f.t)
    const denied = await adjust(u.jwt, u.user.id, { amount: '100.00', reason: 'Myself' })
    expect(denied.status).toBe(403)
    expect(await denied.json()).toEqual({ detail: 'Superuser permissions required' })
    expect(await balanceOf(f.t, u.jwt)).toBe('0.00')
    const nobody = await adjust(admin.jwt, '00000000-0000-4000-8000-000000000000', { amount: '1.00', reason: 'Nobody' })
    expect(nobody.status).toBe(404)
    for (const json of [{ amount: '0', reason: 'Zero' }, { amount: '1.001', reason: 'Too fine' }, { amount: '1.00' }, { amount: '1.00', reason: 'a\u0000b' }]) {
      expect((await adjust(admin.jwt, u.user.id, json)).status, JSON.stringify(json)).toBe(422)
    }
  })
})
