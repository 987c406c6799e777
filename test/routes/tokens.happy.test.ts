import { describe, expect, it } from 'vitest'
import { appFixture, purchase, signUp } from '../support/harness'

const f = appFixture()

const HOUR = 3_600_000

/** A fresh JWT after the test clock moved past the old one's hour. */
const relogin = async (account: { email: string; password: string }) =>
  ((await (await f.t.request('/api/v1/auth/login', { method: 'POST', json: account })).json()) as { access_token: string }).access_token

describe('purchase', () => {
  it.each([1, 12, 24, 168, 720])('%i hours → 201, a 64-char URL-safe token, not yet activated', async (hours) => {
    const { jwt } = await signUp(f.t)
    const res = await f.t.request('/api/v1/tokens/purchase', { method: 'POST', bearer: jwt, json: { duration_hours: hours } })
    expect(res.status).toBe(201)
    const body = await res.json()
    expect(Object.keys(body).sort()).toEqual([
      'activated_at',
      'cost_znc',
      'created_at',
      'duration_hours',
      'expires_at',
      'id',
      'is_active',
      'new_balance',
      'refundable',
      'token',
    ])
    // This file's app sells tokens at a price of 0 (FREE_TOKENS): nothing to pay, nothing to refund.
    expect(body).toMatchObject({
      duration_hours: hours,
      expires_at: null,
      activated_at: null,
      is_active: true,
      cost_znc: '0.00',
      new_balance: '0.00',
      refundable: false,
    })
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{64}$/)
    expect(Buffer.from(body.token, 'base64url')).toHaveLength(48)
  })

  it('every token is different', async () => {
    const { jwt } = await signUp(f.t)
    const tokens = await Promise.all(Array.from({ length: 10 }, () => purchase(f.t, jwt, 1)))
    expect(new Set(tokens.map((x) => x.token)).size).toBe(10)
  })
})

describe('my-tokens', () => {
  it('lists only the caller’s tokens, newest first, with the token shown again', async () => {
    const a = await signUp(f.t)
    const b = await signUp(f.t)
    const first = await purchase(f.t, a.jwt, 1)
    f.t.clock.advance(1000)
    const second = await purchase(f.t, a.jwt, 12)
    await purchase(f.t, b.jwt, 24)
    const res = await f.t.request('/api/v1/tokens/my-tokens', { bearer: a.jwt })
    expect(res.status).toBe(200)
    const list = await res.json()
    expect(list.map((x: { id: string }) => x.id)).toEqual([second.id, first.id])
    expect(list[0].token).toBe(second.token)
  })

  it('active_only=true (the default) hides revoked and expired tokens; false shows them', async () => {
    const { account, jwt } = await signUp(f.t)
    const revoked = await purchase(f.t, jwt, 1)
    const expiring = await purchase(f.t, jwt, 1)
    const unused = await purchase(f.t, jwt, 1)
    await f.t.request(`/api/v1/tokens/${revoked.id}`, { method: 'DELETE', bearer: jwt })
    await f.t.services.tokens.validateAndActivate(expiring.token)
    f.t.clock.advance(HOUR + 1000)
    const fresh = await relogin(account)
    const ids = async (q: string) =>
      (await (await f.t.request(`/api/v1/tokens/my-tokens${q}`, { bearer: fresh })).json()) as { id: string; is_active: boolean }[]
    expect((await ids('')).map((x) => x.id)).toEqual([unused.id])
    expect((await ids('?active_only=true')).map((x) => x.id)).toEqual([unused.id])
    const all = await ids('?active_only=false')
    expect(all.map((x) => x.id).sort()).toEqual([revoked.id, expiring.id, unused.id].sort())
    expect(all.find((x) => x.id === revoked.id)!.is_active).toBe(false)
    expect(all.find((x) => x.id === expiring.id)!.is_active).toBe(false)
  })
})

describe('activation', () => {
  it('starts the clock at first proxy use: expires_at = activated_at + duration', async () => {
    const { account, jwt } = await signUp(f.t)
    const token = await purchase(f.t, jwt, 24)
    f.t.clock.advance(5 * HOUR) // bought long before first use
    const usedAt = f.t.clock.now().getTime()
    const grant = await f.t.services.tokens.validateAndActivate(token.token)
    expect(grant).toMatchObject({ tokenId: token.id, activatedAt: usedAt, expiresAt: usedAt + 24 * HOUR })
    const [listed] = await (await f.t.request('/api/v1/tokens/my-tokens', { bearer: await relogin(account) })).json()
    expect(listed.activated_at).toBe(new Date(usedAt).toISOString())
    expect(listed.expires_at).toBe(new Date(usedAt + 24 * HOUR).toISOString())
  })

  it('checkStatus does not activate', async () => {
    const { jwt } = await signUp(f.t)
    const token = await purchase(f.t, jwt, 1)
    const status = await f.t.services.tokens.checkStatus(token.token)
    expect(status).toMatchObject({ tokenId: token.id, activatedAt: null, expiresAt: null })
    const [listed] = await (await f.t.request('/api/v1/tokens/my-tokens', { bearer: jwt })).json()
    expect(listed.activated_at).toBeNull()
  })

  it('a token is refused once its time is up, and later uses do not restart it', async () => {
    const { jwt } = await signUp(f.t)
    const token = await purchase(f.t, jwt, 1)
    expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull()
    f.t.clock.advance(HOUR - 1000)
    expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull()
    f.t.clock.advance(2000)
    expect(await f.t.services.tokens.validateAndActivate(token.token)).toBeNull()
    expect(await f.t.services.tokens.checkStatus(token.token)).toBeNull()
  })

  it('twenty simultaneous first uses activate once, all with the same expiry', async () => {
    const { jwt } = await signUp(f.t)
    const token = await purchase(f.t, jwt, 12)
    const grants = await Promise.all(Array.from({ length: 20 }, () => f.t.services.tokens.validateAndActivate(token.token)))
    expect(grants.every((g) => g !== null)).toBe(true)
    expect(new Set(grants.map((g) => g!.expiresAt)).size).toBe(1)
  })
})

describe('revoke', () => {
  it('DELETE /tokens/{id} → 200, and the token is refused on the very next use even when cached and activated', async () => {
    const { jwt } = await signUp(f.t)
    const token = await purchase(f.t, jwt, 24)
    expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull()
    expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull() // now served from the cache
    const res = await f.t.request(`/api/v1/tokens/${token.id}`, { method: 'DELETE', bearer: jwt })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ message: 'Token revoked successfully', token_id: token.id, revoked: true, refund_amount: '0.00', new_balance: '0.00' })
    expect(await f.t.services.tokens.validateAndActivate(token.token)).toBeNull()
    expect(await f.t.services.tokens.checkStatus(token.token)).toBeNull()
  })

  it('deactivating the owner refuses their cached tokens on the next use', async () => {
    const { user, jwt } = await signUp(f.t)
    const token = await purchase(f.t, jwt, 24)
    await f.t.services.tokens.validateAndActivate(token.token)
    await f.t.services.accounts.setActive(user.id, false)
    expect(await f.t.services.tokens.validateAndActivate(token.token)).toBeNull()
    await f.t.services.accounts.setActive(user.id, true)
    expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull()
  })
})
