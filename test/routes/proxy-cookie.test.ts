import { describe, expect, it } from 'vitest'
import { appFixture, purchase, signUp } from '../support/harness'

const f = appFixture({ COOKIE_SECURE: 'true', COOKIE_SAMESITE: 'none' })

const HOUR = 3_600_000
const bought = async (hours = 24) => {
  const { jwt, user } = await signUp(f.t)
  return { ...(await purchase(f.t, jwt, hours)), user }
}

describe('POST /api/v1/proxy/authenticate', () => {
  it('sets the HttpOnly cookie for an unused token with Max-Age = the full duration, without starting its clock', async () => {
    const token = await bought(12)
    const res = await f.t.request('/api/v1/proxy/authenticate', { method: 'POST', json: { token: token.token } })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      authenticated: true,
      user_id: token.user.id,
      token_id: token.id,
      is_activated: false,
      expires_at: null,
      cookie_set: true,
      cookie_max_age: 12 * 3600,
      time_remaining_seconds: null,
    })
    expect(res.headers.get('set-cookie')).toBe(`zenzefi_access_token=${token.token}; HttpOnly; Path=/; Max-Age=43200; SameSite=none; Secure`)
    expect(await f.t.services.tokens.checkStatus(token.token)).toMatchObject({ activatedAt: null })
  })

  it('for an activated token, Max-Age and time_remaining_seconds are the seconds left', async () => {
    const token = await bought(1)
    await f.t.services.tokens.validateAndActivate(token.token)
    f.t.clock.advance(10 * 60_000)
    const body = await (await f.t.request('/api/v1/proxy/authenticate', { method: 'POST', json: { token: token.token } })).json()
    expect(body.is_activated).toBe(true)
    expect(body.time_remaining_seconds).toBe(50 * 60)
    expect(body.cookie_max_age).toBe(50 * 60)
  })

  it.each([[{}], [{ token: '' }], [{ token: '   ' }]])('body %j → 400 "Token is required in request body"', async (json) => {
    const res = await f.t.request('/api/v1/proxy/authenticate', { method: 'POST', json })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ detail: 'Token is required in request body' })
  })

  it.each([[{ token: 42 }], [null], [[]]])('body %j (wrong type) → 422', async (json) => {
    const res = await f.t.request('/api/v1/proxy/authenticate', { method: 'POST', json })
    expect(res.status).toBe(422)
  })

  it('malformed JSON → 400, not 500', async () => {
    const res = await f.t.request('/api/v1/proxy/authenticate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{tok' })
    expect(res.status).toBe(400)
  })

  it('an invalid token → 401 and no cookie', async () => {
    const res = await f.t.request('/api/v1/proxy/authenticate', { method: 'POST', json: { token: 'x'.repeat(64) } })
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ detail: 'Invalid or expired access token' })
    expect(res.headers.get('set-cookie')).toBeNull()
  })
})

describe('GET /api/v1/proxy/status', () => {
  it('an unused token by header: ready, no time remaining yet', async () => {
    const token = await bought(24)
    const res = await f.t.request('/api/v1/proxy/status', { headers: { 'x-access-token': token.token } })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      connected: true,
      authenticated_via: 'header',
      user_id: token.user.id,
      token_id: token.id,
      is_activated: false,
      expires_at: null,
      duration_hours: 24,
      time_remaining_seconds: null,
      status: 'ready',
    })
  })

  it('an activated token by cookie: active, with expiry and seconds left; the cookie wins over the header', async () => {
    const token = await bought(1)
    const other = await bought(24)
    const grant = await f.t.services.tokens.validateAndActivate(token.token)
    const res = await f.t.request('/api/v1/proxy/status', { headers: { cookie: `a=1; zenzefi_access_token=${token.token}`, 'x-access-token': other.token } })
    const body = await res.json()
    expect(body).toMatchObject({ authenticated_via: 'cookie', token_id: token.id, is_activated: true, status: 'active', duration_hours: 1 })
    expect(body.expires_at).toBe(new Date(grant!.expiresAt!).toISOString())
    expect(body.time_remaining_seconds).toBe(3600)
  })

  it('does not activate', async () => {
    const token = await bought()
    await f.t.request('/api/v1/proxy/status', { headers: { 'x-access-token': token.token } })
    expect(await f.t.services.tokens.checkStatus(token.token)).toMatchObject({ activatedAt: null })
  })

  it('no token → 401 with the contract message; a bad, revoked or expired token → 401', async () => {
    const none = await f.t.request('/api/v1/proxy/status')
    expect(none.status).toBe(401)
    expect(await none.json()).toEqual({ detail: 'Authentication required: provide cookie or X-Access-Token header' })
    const bad = await f.t.request('/api/v1/proxy/status', { headers: { 'x-access-token': 'nope' } })
    expect(await bad.json()).toEqual({ detail: 'Invalid or expired access token' })

    const { jwt } = await signUp(f.t)
    const revoked = await purchase(f.t, jwt, 1)
    await f.t.request(`/api/v1/tokens/${revoked.id}`, { method: 'DELETE', bearer: jwt })
    expect((await f.t.request('/api/v1/proxy/status', { headers: { 'x-access-token': revoked.token } })).status).toBe(401)

    const expiring = await purchase(f.t, jwt, 1)
    await f.t.services.tokens.validateAndActivate(expiring.token)
    f.t.clock.advance(HOUR + 1)
    expect((await f.t.request('/api/v1/proxy/status', { headers: { 'x-access-token': expiring.token } })).status).toBe(401)
  })
})

describe('DELETE /api/v1/proxy/logout', () => {
  it('clears the cookie', async () => {
    const res = await f.t.request('/api/v1/proxy/logout', { method: 'DELETE' })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ logged_out: true, message: 'Cookie deleted successfully' })
    const cookie = res.headers.get('set-cookie')!
    expect(cookie).toMatch(/^zenzefi_access_token=""?;/)
    expect(cookie).toContain('Max-Age=0')
    expect(cookie).toContain('Path=/')
  })
})
