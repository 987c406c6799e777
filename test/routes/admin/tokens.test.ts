import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { accessTokens, auditEvents, ledgerTransactions, users } from '../../../src/db/schema'
import { proxyRequest } from '../../gateway/steps/request'
import { appFixture, purchase, signUp, type TestApp } from '../../support/harness'
import { recordSecret } from '../../support/log-scan'
import { balanceOf, giveCredits, ledgerViolations, PRICED } from '../../support/money'

const f = appFixture(PRICED)
let admin: Awaited<ReturnType<typeof signUp>>

beforeAll(async () => {
  admin = await signUp(f.t)
  await f.db.db.update(users).set({ isSuperuser: true }).where(eq(users.id, admin.user.id))
})

const api = (path: string, init: Parameters<TestApp['request']>[1] = {}) => f.t.request(`/api/v1/admin${path}`, { bearer: admin.jwt, ...init })

/** A user with credits and a bought token of each state: ready, active, expired (1 h, used long ago) and revoked. */
async function userWithTokens() {
  const u = await signUp(f.t)
  await giveCredits(f.t, u.user.id, 100_00)
  const expired = await purchase(f.t, u.jwt, 1)
  // Used two hours ago (moving the clock instead would expire the admin's JWT too).
  const now = f.t.clock.now().getTime()
  await f.db.db
    .update(accessTokens)
    .set({ activatedAt: new Date(now - 2 * 3_600_000), expiresAt: new Date(now - 3_600_000) })
    .where(eq(accessTokens.id, expired.id))
  f.t.clock.advance(1000)
  const revoked = await purchase(f.t, u.jwt, 1)
  expect((await f.t.request(`/api/v1/tokens/${revoked.id}`, { method: 'DELETE', bearer: u.jwt })).status).toBe(200)
  f.t.clock.advance(1000)
  const active = await purchase(f.t, u.jwt, 24)
  expect(await f.t.services.tokens.validateAndActivate(active.token)).not.toBeNull()
  f.t.clock.advance(1000)
  const ready = await purchase(f.t, u.jwt, 24)
  return { ...u, tokens: { expired, revoked, active, ready } }
}

/** Forwarded by the proxy pipeline (a usable token) or answered by it (refused). */
async function proxied(token: string) {
  const out = await f.t.gateway.pipeline.run(proxyRequest({ headers: { 'x-access-token': token } }))
  if (out.kind === 'forward') {
    out.release()
    return 'forward'
  }
  return out.reply.status
}

describe('GET /admin/tokens', () => {
  it('by status, newest first, with a 6-character prefix and never the token', async () => {
    const u = await userWithTokens()
    const all = Object.values(u.tokens)
    const list = async (q: string) => {
      const res = await api(`/tokens?user_id=${u.user.id}${q}`)
      expect(res.status).toBe(200)
      const text = await res.text()
      for (const t of all) expect(text).not.toContain(t.token)
      return JSON.parse(text) as {
        items: { id: string; status: string; token_prefix: string; cost_znc: string }[]
        total: number
        limit: number
        offset: number
      }
    }
    const everything = await list('')
    expect(everything.items.map((t) => [t.id, t.status])).toEqual([
      [u.tokens.ready.id, 'ready'],
      [u.tokens.active.id, 'active'],
      [u.tokens.revoked.id, 'revoked'],
      [u.tokens.expired.id, 'expired'],
    ])
    expect(everything).toMatchObject({ total: 4, limit: 50, offset: 0 })
    for (const item of everything.items) {
      const token = all.find((t) => t.id === item.id)!.token
      expect(item.token_prefix).toBe(token.slice(0, 6))
      expect(item).not.toHaveProperty('token')
    }
    for (const status of ['active', 'ready', 'expired', 'revoked'] as const) {
      const page = await list(`&status=${status}`)
      expect(page.items.map((t) => t.id)).toEqual([u.tokens[status].id])
      expect(page.total).toBe(1)
    }
    expect((await list('&status=all&limit=1&offset=1')).items.map((t) => t.id)).toEqual([u.tokens.active.id])
    // Across users too, still no secret in the body.
    const text = await (await api('/tokens?limit=100')).text()
    for (const t of all) expect(text).not.toContain(t.token)
  })

  it('bad status, limit outside 1–100 or a malformed user_id → 422; only superusers', async () => {
    for (const q of ['status=live', 'limit=0', 'limit=101', 'offset=-1', 'user_id=nope']) expect((await api(`/tokens?${q}`)).status, q).toBe(422)
    const u = await signUp(f.t)
    const res = await f.t.request('/api/v1/admin/tokens', { bearer: u.jwt })
    expect(res.status).toBe(403)
    expect(await res.json()).toEqual({ detail: 'Superuser permissions required' })
  })
})

describe('DELETE /admin/tokens/{id}', () => {
  it('revokes without refund, refused at once; a second revocation is 409', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 18_00)
    const bought = await purchase(f.t, u.jwt, 24)
    expect(await proxied(bought.token)).toBe('forward')
    const res = await api(`/tokens/${bought.id}`, { method: 'DELETE' })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ revoked: true, token_id: bought.id, message: `Token ${bought.id} revoked successfully (no refund issued)` })
    expect(await proxied(bought.token)).toBe(401)
    expect(await balanceOf(f.t, u.jwt)).toBe('0.00')
    const again = await api(`/tokens/${bought.id}`, { method: 'DELETE' })
    expect(again.status).toBe(409)
    expect(await again.json()).toEqual({ detail: 'Token already revoked' })
    // The owner revoking it afterwards refunds nothing either: it is no longer live.
    const own = await f.t.request(`/api/v1/tokens/${bought.id}`, { method: 'DELETE', bearer: u.jwt })
    expect(await own.json()).toMatchObject({ refund_amount: '0.00', new_balance: '0.00' })
    expect(await ledgerViolations(f.t)).toEqual([])
  })

  it('a never-used token the owner revoked first is already revoked; unknown → 404', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 18_00)
    const bought = await purchase(f.t, u.jwt, 24)
    expect((await f.t.request(`/api/v1/tokens/${bought.id}`, { method: 'DELETE', bearer: u.jwt })).status).toBe(200)
    expect((await api(`/tokens/${bought.id}`, { method: 'DELETE' })).status).toBe(409)
    const res = await api('/tokens/00000000-0000-4000-8000-000000000000', { method: 'DELETE' })
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ detail: 'Token not found' })
  })
})

describe('POST /admin/tokens', () => {
  it('grants a usable token free of charge: 201 like a purchase, cost 0, no ledger transaction, shown once', async () => {
    const u = await signUp(f.t)
    await giveCredits(f.t, u.user.id, 5_00)
    const res = await api('/tokens', { method: 'POST', json: { user_id: u.user.id, duration_hours: 24, reason: 'Support: outage compensation' } })
    expect(res.status).toBe(201)
    const body = (await res.json()) as { id: string; token: string }
    recordSecret(body.token, 'granted access token')
    expect(body).toMatchObject({
      user_id: u.user.id,
      duration_hours: 24,
      expires_at: null,
      activated_at: null,
      is_active: true,
      cost_znc: '0.00',
      refundable: false,
      new_balance: '5.00',
    })
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{64}$/)
    expect(await proxied(body.token)).toBe('forward')
    expect(await balanceOf(f.t, u.jwt)).toBe('5.00')
    const txs = await f.db.db.select().from(ledgerTransactions).where(eq(ledgerTransactions.tokenId, body.id))
    expect(txs).toEqual([])
    const [mine] = (await (await f.t.request('/api/v1/tokens/my-tokens', { bearer: u.jwt })).json()) as { id: string; cost_znc: string; refundable: boolean }[]
    expect(mine).toMatchObject({ id: body.id, cost_znc: '0.00', refundable: false })
    const events = await f.db.db.select().from(auditEvents).where(eq(auditEvents.resourceId, body.id))
    expect(events.map((e) => [e.action, e.actorType, e.actorId])).toContainEqual(['token.grant', 'admin', admin.user.id])
    expect(await (await api(`/tokens?user_id=${u.user.id}`)).text()).not.toContain(body.token)
    expect(await ledgerViolations(f.t)).toEqual([])
  })

  it('a duration not offered → 400; unknown user → 404; no reason or a bad one → 422', async () => {
    const u = await signUp(f.t)
    const bad = await api('/tokens', { method: 'POST', json: { user_id: u.user.id, duration_hours: 2, reason: 'Two hours' } })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toEqual({ detail: 'Invalid duration. Must be one of: [1, 12, 24, 168, 720]' })
    expect(
      (await api('/tokens', { method: 'POST', json: { user_id: '00000000-0000-4000-8000-000000000000', duration_hours: 1, reason: 'Nobody' } })).status,
    ).toBe(404)
    for (const json of [
      { user_id: u.user.id, duration_hours: 1 },
      { user_id: u.user.id, duration_hours: 1, reason: 'x' },
      { user_id: u.user.id, duration_hours: 1.5, reason: 'Fraction' },
    ]) {
      expect((await api('/tokens', { method: 'POST', json })).status, JSON.stringify(json)).toBe(422)
    }
  })
})
