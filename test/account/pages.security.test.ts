// What keeps the account page safe from everything else on the internet, Zenzefi's own pages
// first: only same-origin forms act, the two origins serve nothing of each other's, sign-ins are
// stored so a dump can't be used, and they end when they should.
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { ConfigError, loadConfig } from '../../src/config'
import { type AccountGateway, accountClient, registerOnPage, startAccountGateway } from '../support/account'
import { startUpstream, type Upstream } from '../support/gateway'
import { newAccount, type TestDatabase, testDatabase } from '../support/harness'
import { giveCredits, PRICED } from '../support/money'

let db: TestDatabase
let up: Upstream
let gw: AccountGateway

beforeAll(async () => {
  db = await testDatabase()
  up = await startUpstream()
  up.on((req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`zenzefi ${req.url}`))
  gw = await startAccountGateway({ database: db, upstream: up, env: PRICED })
})
afterAll(async () => {
  await gw?.close()
  await up?.close()
  await db?.drop()
})

const userIdOf = async (email: string) => (await gw.t.services.accounts.findByEmail(email))!.id

/** A signed-in customer with one live, paid token. */
async function customerWithToken() {
  const account = newAccount()
  const client = await registerOnPage(gw, account)
  const userId = await userIdOf(account.email)
  await giveCredits(gw.t, userId, 5000)
  const tokenId = (await client.post('/tokens', { duration_hours: '24', key: crypto.randomUUID() })).location!.split('#token-')[1]!
  const [token] = await gw.t.services.tokens.listForUser(userId, true)
  return { account, client, userId, tokenId, token: token!.token! }
}

const stillLive = async (userId: string, tokenId: string) => (await gw.t.services.tokens.listForUser(userId, true)).some((t) => t.id === tokenId)

describe('only the page itself can act', () => {
  it('a form from another site (Sec-Fetch-Site: cross-site, same-site, none) is 403 "Cross-origin request refused" and revokes nothing', async () => {
    const c = await customerWithToken()
    for (const site of ['cross-site', 'same-site', 'none']) {
      const res = await c.client.post(`/tokens/${c.tokenId}/revoke`, {}, { 'sec-fetch-site': site })
      expect(res.status, site).toBe(403)
      expect(JSON.parse(res.text)).toEqual({ detail: 'Cross-origin request refused' })
    }
    expect(await stillLive(c.userId, c.tokenId)).toBe(true)
  })

  it('without Fetch Metadata, only a matching Origin is believed (Zenzefi’s origin, a missing one and "null" are refused)', async () => {
    const c = await customerWithToken()
    const cookie = [...c.client.jar].map(([k, v]) => `${k}=${v}`).join('; ')
    const post = (origin?: string) =>
      fetch(`${gw.accountUrl}/tokens/${c.tokenId}/launch`, { method: 'POST', redirect: 'manual', headers: { cookie, ...(origin ? { origin } : {}) } })
    expect((await post()).status).toBe(403)
    expect((await post(gw.backendUrl)).status).toBe(403)
    expect((await post('null')).status).toBe(403)
    expect((await post(gw.accountUrl)).status).toBe(303)
  })

  it('logging in from another site is refused too (no login CSRF), and so is registering', async () => {
    const account = newAccount()
    await registerOnPage(gw, account)
    const client = accountClient(gw.accountUrl)
    const res = await client.post('/login', { email: account.email, password: account.password }, { 'sec-fetch-site': 'cross-site' })
    expect(res.status).toBe(403)
    expect(client.jar.size).toBe(0)
    const reg = await client.post('/register', { ...newAccount() }, { 'sec-fetch-site': 'cross-site' })
    expect(reg.status).toBe(403)
  })

  it('/state (what the script refreshes) answers same-origin fetches only, and 401 when signed out', async () => {
    const c = await customerWithToken()
    expect((await c.client.get('/state', { 'sec-fetch-site': 'cross-site' })).status).toBe(403)
    const ok = await c.client.get('/state', { 'sec-fetch-site': 'same-origin' })
    expect(ok.status).toBe(200)
    const state = JSON.parse(ok.text)
    expect(state.balance).toBe('32.00')
    expect(state.tokens).toEqual([{ id: c.tokenId, live: true, expires_at: null }])
    expect(ok.text).not.toContain(c.token)
    expect((await accountClient(gw.accountUrl).get('/state', { 'sec-fetch-site': 'same-origin' })).status).toBe(401)
  })
})

describe('strict headers on every page', () => {
  it('a CSP with no inline script, never framed, its own browsing context group, nothing cached, no Referer', async () => {
    for (const path of ['/login', '/register', '/nowhere', '/assets/account.js']) {
      const res = await fetch(`${gw.accountUrl}${path}`)
      const csp = res.headers.get('content-security-policy')!
      expect(csp, path).toContain("script-src 'self'")
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).toContain("default-src 'none'")
      expect(csp).not.toContain('unsafe-inline')
      expect(csp).toContain(`form-action 'self' ${gw.backendUrl}`)
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('referrer-policy')).toBe('no-referrer')
      expect(res.headers.get('x-request-id')).toBeTruthy()
    }
    expect((await fetch(`${gw.accountUrl}/login`)).headers.get('cache-control')).toBe('no-store')
  })

  it('no page has an inline script or style', async () => {
    const html = await (await fetch(`${gw.accountUrl}/login`)).text()
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    expect(html).not.toMatch(/<style|style=/)
  })
})

describe('two origins, nothing of each other’s', () => {
  it('the account origin never proxies Zenzefi: 421 for the proxy prefix, with a valid token too, and Zenzefi is never asked', async () => {
    const c = await customerWithToken()
    const before = up.received.length
    for (const path of ['/api/v1/proxy/', '/api/v1/proxy/index.html', `/api/v1/proxy/?token=${c.token}`, '/api/v1/tokens/my-tokens']) {
      const res = await fetch(`${gw.accountUrl}${path}`, { headers: { 'x-access-token': c.token }, redirect: 'manual' })
      expect(res.status, path).toBe(421)
      expect((await res.json()).detail).toBe(`This is the account page; the API and Zenzefi are at ${gw.backendUrl}`)
    }
    expect(up.received.length).toBe(before)
  })

  it('nor takes a WebSocket upgrade for Zenzefi', async () => {
    const c = await customerWithToken()
    const ws = new WebSocket(`${gw.accountUrl.replace('http', 'ws')}/api/v1/proxy/ws`, { headers: { 'x-access-token': c.token } })
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('open', () => resolve(101))
      ws.on('error', () => resolve(-1))
    })
    ws.terminate()
    expect(status).toBe(404)
  })

  it('the backend origin (where Zenzefi’s scripts run) serves no account page and takes no account form', async () => {
    const c = await customerWithToken()
    const cookie = [...c.client.jar].map(([k, v]) => `${k}=${v}`).join('; ')
    const login = await fetch(`${gw.backendUrl}/login`)
    expect(login.status).toBe(404)
    expect(login.headers.get('content-type')).toContain('application/json')
    const revoke = await fetch(`${gw.backendUrl}/tokens/${c.tokenId}/revoke`, { method: 'POST', headers: { cookie, 'sec-fetch-site': 'same-origin' } })
    expect(revoke.status).toBe(404)
    expect(await stillLive(c.userId, c.tokenId)).toBe(true)
  })
})

describe('sign-ins', () => {
  it('are stored as a hash: no column of the table holds the cookie’s value', async () => {
    const c = await customerWithToken()
    const value = c.client.jar.get('__Host-zz_session')!
    expect(value).toMatch(/^[A-Za-z0-9_-]{64}$/)
    const rows = await gw.t.deps.database.db.execute(sql`select * from account_sessions`)
    const dump = JSON.stringify(rows)
    expect(dump).not.toContain(value)
    expect(dump).toContain(c.userId)
  })

  it('end after ACCOUNT_SESSION_IDLE_MINUTES without a request, and at ACCOUNT_SESSION_MAX_HOURS however busy', async () => {
    const idle = await registerOnPage(gw, newAccount())
    gw.t.clock.advance(29 * 60_000)
    expect((await idle.get('/')).status).toBe(200)
    gw.t.clock.advance(29 * 60_000)
    expect((await idle.get('/')).status).toBe(200) // each request restarts the idle time
    gw.t.clock.advance(31 * 60_000)
    expect((await idle.get('/')).location).toBe('/login')

    const busy = await registerOnPage(gw, newAccount())
    // A request every 20 minutes for 11 h 40 min: never idle.
    for (let step = 0; step < 35; step++) {
      gw.t.clock.advance(20 * 60_000)
      expect((await busy.get('/')).status).toBe(200)
    }
    gw.t.clock.advance(20 * 60_000)
    expect((await busy.get('/')).location).toBe('/login')
  })

  it('end the moment the user is deactivated', async () => {
    const account = newAccount()
    const client = await registerOnPage(gw, account)
    expect((await client.get('/')).status).toBe(200)
    await gw.t.services.accounts.setActive(await userIdOf(account.email), false)
    expect((await client.get('/')).location).toBe('/login')
    expect((await client.post('/login', { email: account.email, password: account.password })).status).toBe(401)
  })
})

describe('bad input gets a readable 4xx', () => {
  it('a NUL in the login or register form, a missing field, a body over the limit', async () => {
    const client = accountClient(gw.accountUrl)
    expect((await client.post('/login', { email: 'a\u0000@example.com', password: 'x' })).status).toBe(422)
    expect((await client.post('/login', { email: 'a@example.com' })).status).toBe(422)
    const reg = await client.post('/register', { ...newAccount(), username: 'nul\u0000name' })
    expect(reg.status).toBe(422)
    expect(reg.text).toContain('username')
    const big = await client.post('/login', { email: 'a@example.com', password: 'x'.repeat(200_000) })
    expect(big.status).toBe(413)
    const unknown = await client.get('/nowhere')
    expect(unknown.status).toBe(404)
    expect(unknown.headers.get('content-type')).toContain('text/html')
  })

  it('a launch for a token id that is not a UUID, or not the user’s, is 404; a top-up outside the bounds is 422 with the bounds', async () => {
    const c = await customerWithToken()
    expect((await c.client.post('/tokens/../../etc/launch')).status).toBe(404)
    expect((await c.client.post(`/tokens/${crypto.randomUUID()}/launch`)).status).toBe(404)
    const tiny = await c.client.post('/topup', { amount_znc: '0.01', key: crypto.randomUUID() })
    expect(tiny.status).toBe(422)
    expect(tiny.text).toContain('Enter an amount from 10.00 to 10000.00 ZNC')
    expect((await c.client.post('/topup', { amount_znc: 'lots', key: crypto.randomUUID() })).status).toBe(422)
  })
})

describe('ACCOUNT_URL', () => {
  const base = { SECRET_KEY: 'k'.repeat(40) }
  it('defaults to BACKEND_URL’s loopback twin in development, and is off in production unless set', () => {
    expect(loadConfig(base).accountUrl).toBe('http://127.0.0.1:8000')
    expect(loadConfig({ ...base, BACKEND_URL: 'http://127.0.0.1:9000' }).accountUrl).toBe('http://localhost:9000')
    expect(loadConfig({ ...base, BACKEND_URL: 'https://zenzefi.example.com' }).accountUrl).toBeNull()
    expect(loadConfig({ ...base, NODE_ENV: 'production', BACKEND_URL: 'https://zenzefi.example.com' }).accountUrl).toBeNull()
    expect(
      loadConfig({ ...base, NODE_ENV: 'production', BACKEND_URL: 'https://zenzefi.example.com', ACCOUNT_URL: 'https://account.example.com/' }).accountUrl,
    ).toBe('https://account.example.com')
  })

  it('refuses to start when it shares BACKEND_URL’s origin, naming the variable', () => {
    for (const [backend, account] of [
      ['https://zenzefi.example.com', 'https://zenzefi.example.com'],
      ['https://zenzefi.example.com', 'https://ZENZEFI.example.com:443'],
      ['http://localhost:8000', 'http://localhost:8000/'],
    ]) {
      const load = () => loadConfig({ ...base, NODE_ENV: 'production', BACKEND_URL: backend, ACCOUNT_URL: account })
      expect(load).toThrow(ConfigError)
      expect(load).toThrow(/^ACCOUNT_URL must be a different origin from BACKEND_URL/)
    }
    expect(() => loadConfig({ ...base, NODE_ENV: 'production', BACKEND_URL: 'https://a.example.com', ACCOUNT_URL: 'http://b.example.com' })).toThrow(
      /^ACCOUNT_URL must be https/,
    )
    expect(() => loadConfig({ ...base, ACCOUNT_URL: 'https://b.example.com/account' })).toThrow(/^ACCOUNT_URL must be an origin/)
  })
})
