// The account page on both runtimes: the Node server and the built worker in Miniflare answer
// the same pages, with the same headers and refusals, and the same flow works end to end.
// Each target listens on a port that both origins name (BACKEND_URL http://localhost:P,
// ACCOUNT_URL http://127.0.0.1:P), so the Host alone tells the account page from the gateway.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accountClient } from '../support/account'
import { freePort } from '../support/gateway'
import { newAccount } from '../support/harness'
import { recordSecret } from '../support/log-scan'
import { type PlainUpstream, startPlainUpstream } from '../support/plain-upstream'
import { nodeTarget, type Target, type TargetKind, workerTarget } from './targets'

const targets: TargetKind[] = [nodeTarget, workerTarget]
for (const t of targets) if (t.unavailable) console.log(`[parity] skipped: the ${t.name} account page — ${t.unavailable}`)

/** What each target answered, compared at the end. */
const seen = new Map<string, Map<string, string>>()

const HEADERS = [
  'content-type',
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'x-frame-options',
  'x-content-type-options',
  'referrer-policy',
  'cache-control',
]

describe.each(targets)('$name', (kind) => {
  if (kind.unavailable) {
    it.skip(`skipped: ${kind.unavailable}`, () => {})
    return
  }
  let up: PlainUpstream
  let target: Target
  let accountUrl: string
  let backendUrl: string
  const record = (key: string, value: string) => {
    if (!seen.has(key)) seen.set(key, new Map())
    seen.get(key)!.set(kind.name, value)
  }

  beforeAll(async () => {
    up = await startPlainUpstream()
    const port = await freePort()
    accountUrl = `http://127.0.0.1:${port}`
    backendUrl = `http://localhost:${port}`
    target = await kind.start({
      upstreamUrl: up.url,
      backendUrl,
      redisUrl: process.env.REDIS_URL || null,
      port,
      env: { ACCOUNT_URL: accountUrl, REGISTER_RATE_PER_ADDRESS: '10000/h', LOGIN_RATE_PER_ADDRESS: '10000/m', PURCHASE_RATE_PER_ADDRESS: '10000/m' },
    })
  })
  afterAll(async () => {
    await target?.close()
    await up?.close()
  })

  it('serves the same login and register pages, script and stylesheet, with the same headers', async () => {
    for (const path of ['/login', '/register', '/assets/account.js', '/assets/account.css', '/no-such-page']) {
      const res = await fetch(`${accountUrl}${path}`)
      const headers = HEADERS.map((h) => `${h}: ${res.headers.get(h)}`).join('\n')
      const answer = `${res.status}\n${headers}\n\n${await res.text()}`
      record(`GET ${path}`, answer.replaceAll(accountUrl, 'ACCOUNT').replaceAll(backendUrl, 'BACKEND'))
    }
  })

  it('refuses the same way: cross-origin forms, the proxy and the API on the account origin', async () => {
    const cross = await fetch(`${accountUrl}/login`, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } })
    record('cross-site POST', `${cross.status} ${await cross.text()}`)
    for (const path of ['/api/v1/proxy/', '/api/v1/auth/login']) {
      const res = await fetch(`${accountUrl}${path}`)
      record(`GET ${path} on the account origin`, `${res.status} ${(await res.text()).replaceAll(backendUrl, 'BACKEND')}`)
    }
    const login = await fetch(`${backendUrl}/login`)
    record('GET /login on the backend origin', `${login.status} ${await login.text()}`)
  })

  it('register → buy → Open Zenzefi → the proxied page, → revoke → log out', async () => {
    const account = newAccount()
    recordSecret(account.password, 'password')
    const client = accountClient(accountUrl)
    const reg = await client.post('/register', { email: account.email, username: account.username, password: account.password })
    expect(reg.status).toBe(303)
    const home = await client.get('/')
    expect(home.status).toBe(200)
    expect(home.text).toContain('<span id="balance">0.00</span>')
    const [key] = client.hidden(home.text, 'key')
    const bought = await client.post('/tokens', { duration_hours: '1', key: key! })
    expect(bought.status).toBe(303)
    const tokenId = bought.location!.split('#token-')[1]!
    const launch = await client.post(`/tokens/${tokenId}/launch`)
    expect(launch.status).toBe(303)
    const target = new URL(launch.location!)
    expect(target.origin).toBe(backendUrl)
    recordSecret(target.searchParams.get('launch')!, 'launch code')
    const traded = await fetch(launch.location!, { redirect: 'manual' })
    expect(traded.status).toBe(303)
    const cookie = traded.headers
      .getSetCookie()
      .find((c) => c.startsWith('zenzefi_access_token='))!
      .split(';')[0]!
    recordSecret(cookie.split('=')[1]!, 'access token')
    const page = await fetch(`${backendUrl}/api/v1/proxy/`, { headers: { cookie } })
    expect(page.status).toBe(200)
    expect((await fetch(launch.location!, { redirect: 'manual' })).status).toBe(401)
    const state = JSON.parse((await client.get('/state', { 'sec-fetch-site': 'same-origin' })).text)
    expect(state.tokens[0]).toMatchObject({ id: tokenId, live: true })
    expect(state.tokens[0].expires_at).not.toBeNull()
    expect((await client.post(`/tokens/${tokenId}/revoke`, { key: crypto.randomUUID() })).location).toBe('/?notice=revoked')
    expect((await fetch(`${backendUrl}/api/v1/proxy/`, { headers: { cookie } })).status).toBe(401)
    expect((await client.post('/logout')).location).toBe('/login?notice=logged-out')
    expect((await client.get('/')).location).toBe('/login')
  })
})

describe('the two runtimes', () => {
  it.skipIf(targets.some((t) => t.unavailable))('answered every page and refusal identically', () => {
    expect(seen.size).toBeGreaterThan(0)
    for (const [key, answers] of seen) expect(answers.get('worker'), key).toBe(answers.get('node'))
  })
})
