// The account page end to end without JavaScript, against the real Node server on both origins:
// register, the balance, buy, Open Zenzefi through a launch code, copy, revoke, log out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AccountGateway, accountClient, registerOnPage, startAccountGateway } from '../support/account'
import { startUpstream, type Upstream } from '../support/gateway'
import { newAccount, type TestDatabase, testDatabase } from '../support/harness'
import { recordSecret } from '../support/log-scan'
import { giveCredits, PRICED } from '../support/money'

let db: TestDatabase
let up: Upstream
let gw: AccountGateway

beforeAll(async () => {
  db = await testDatabase()
  up = await startUpstream()
  up.on((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<p>zenzefi ${req.url}</p>`))
  gw = await startAccountGateway({ database: db, upstream: up, env: PRICED })
})
afterAll(async () => {
  await gw?.close()
  await up?.close()
  await db?.drop()
})

const userIdOf = async (email: string) => (await gw.t.services.accounts.findByEmail(email))!.id

describe('the account page, no JavaScript', () => {
  it('registers, signs in with a __Host- cookie, and shows the balance', async () => {
    const account = newAccount()
    const client = accountClient(gw.accountUrl)
    const res = await client.post('/register', { email: account.email, username: account.username, password: account.password })
    recordSecret(account.password, 'password')
    expect(res.status).toBe(303)
    expect(res.location).toBe('/')
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-zz_session='))!
    expect(cookie).toMatch(/; Path=\//)
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/Secure/)
    expect(cookie).toMatch(/SameSite=Lax/)
    expect(cookie).not.toMatch(/Domain=/i)
    const home = await client.get('/')
    expect(home.status).toBe(200)
    expect(home.text).toContain('<span id="balance">0.00</span>')
    expect(home.text).toContain(account.username)
  })

  it('a signed-out visitor is sent to /login, and a wrong password shows the same message for every email', async () => {
    const client = accountClient(gw.accountUrl)
    expect((await client.get('/')).location).toBe('/login')
    const account = newAccount()
    await registerOnPage(gw, account)
    const wrong = await client.post('/login', { email: account.email, password: 'not the password' })
    const unknown = await client.post('/login', { email: `nobody-${account.email}`, password: 'not the password' })
    expect(wrong.status).toBe(401)
    expect(unknown.status).toBe(401)
    expect(wrong.text).toContain('Incorrect email or password')
    expect(unknown.text).toContain('Incorrect email or password')
    const right = await client.post('/login', { email: account.email, password: account.password })
    expect(right.status).toBe(303)
    expect((await client.get('/')).status).toBe(200)
  })

  it('buys with credits (402 with the contract message when short), once per form key, and never puts the token in the page', async () => {
    const account = newAccount()
    const client = await registerOnPage(gw, account)
    const page = await client.get('/')
    const [key] = client.hidden(page.text, 'key')
    const short = await client.post('/tokens', { duration_hours: '24', key: key! })
    expect(short.status).toBe(402)
    expect(short.text).toContain('Insufficient balance. Required: 18.00 ZNC, Available: 0.00 ZNC')
    await giveCredits(gw.t, await userIdOf(account.email), 5000)
    // The same form sent twice (a double click): one token, one charge.
    const [a, b] = await Promise.all([client.post('/tokens', { duration_hours: '24', key: key! }), client.post('/tokens', { duration_hours: '24', key: key! })])
    expect([a.status, b.status]).toEqual([303, 303])
    expect(a.location).toMatch(/^\/\?notice=bought#token-[0-9a-f-]{36}$/)
    expect(b.location).toBe(a.location)
    const tokens = await gw.t.services.tokens.listForUser(await userIdOf(account.email), false)
    expect(tokens).toHaveLength(1)
    const home = await client.get('/?notice=bought')
    expect(home.text).toContain('Token bought.')
    expect(home.text).toContain('<span id="balance">32.00</span>')
    expect(home.text).not.toContain(tokens[0]!.token!)
  })

  it('Open Zenzefi: a launch code (not the token) in the URL; the proxy trades it once for the access cookie', async () => {
    const account = newAccount()
    const client = await registerOnPage(gw, account)
    const userId = await userIdOf(account.email)
    await giveCredits(gw.t, userId, 5000)
    const bought = await client.post('/tokens', { duration_hours: '1', key: crypto.randomUUID() })
    const tokenId = bought.location!.split('#token-')[1]!
    const launch = await client.post(`/tokens/${tokenId}/launch`)
    expect(launch.status).toBe(303)
    const target = new URL(launch.location!)
    expect(target.origin).toBe(gw.backendUrl)
    expect(target.pathname).toBe('/api/v1/proxy/')
    const code = target.searchParams.get('launch')!
    recordSecret(code, 'launch code')
    const [token] = await gw.t.services.tokens.listForUser(userId, true)
    expect(code).not.toBe(token!.token)
    expect(launch.location).not.toContain(token!.token!)
    // On the backend origin, as the new tab would go.
    const traded = await fetch(`${gw.backendUrl}${target.pathname}${target.search}`, { redirect: 'manual' })
    expect(traded.status).toBe(303)
    expect(traded.headers.getSetCookie().some((c) => c.startsWith(`zenzefi_access_token=${token!.token}`))).toBe(true)
    const again = await fetch(`${gw.backendUrl}${target.pathname}${target.search}`, { redirect: 'manual' })
    expect(again.status).toBe(401)
    expect(await again.json()).toEqual({ detail: 'Invalid or expired launch code' })
    // Someone else's token: no code.
    const other = await registerOnPage(gw, newAccount())
    expect((await other.post(`/tokens/${tokenId}/launch`)).status).toBe(404)
  })

  it('Copy gives the token as JSON to a same-origin fetch, and a page of its own without a script', async () => {
    const account = newAccount()
    const client = await registerOnPage(gw, account)
    await giveCredits(gw.t, await userIdOf(account.email), 5000)
    const tokenId = (await client.post('/tokens', { duration_hours: '1', key: crypto.randomUUID() })).location!.split('#token-')[1]!
    const [token] = await gw.t.services.tokens.listForUser(await userIdOf(account.email), true)
    const json = await client.post(`/tokens/${tokenId}/reveal`, {}, { accept: 'application/json' })
    expect(JSON.parse(json.text)).toEqual({ token: token!.token })
    const page = await client.post(`/tokens/${tokenId}/reveal`)
    expect(page.status).toBe(200)
    expect(page.text).toContain(token!.token!)
  })

  it('revokes with the refund when never used, and the token is refused by the proxy at once', async () => {
    const account = newAccount()
    const client = await registerOnPage(gw, account)
    const userId = await userIdOf(account.email)
    await giveCredits(gw.t, userId, 5000)
    const tokenId = (await client.post('/tokens', { duration_hours: '24', key: crypto.randomUUID() })).location!.split('#token-')[1]!
    const [token] = await gw.t.services.tokens.listForUser(userId, true)
    expect((await client.get('/')).text).toContain('Revoke (refund 18.00 ZNC)')
    const revoked = await client.post(`/tokens/${tokenId}/revoke`, { key: crypto.randomUUID() })
    expect(revoked.status).toBe(303)
    expect(revoked.location).toBe('/?notice=revoked')
    expect((await client.get('/')).text).toContain('<span id="balance">50.00</span>')
    const proxied = await fetch(`${gw.backendUrl}/api/v1/proxy/`, { headers: { 'x-access-token': token!.token! } })
    expect(proxied.status).toBe(401)
  })

  it('logout ends this browser’s sign-in; "log out everywhere" ends every one', async () => {
    const account = newAccount()
    const first = await registerOnPage(gw, account)
    const second = accountClient(gw.accountUrl)
    expect((await second.post('/login', { email: account.email, password: account.password })).status).toBe(303)
    const third = accountClient(gw.accountUrl)
    expect((await third.post('/login', { email: account.email, password: account.password })).status).toBe(303)
    const stolen = [...first.jar][0]!
    const out = await first.post('/logout')
    expect(out.location).toBe('/login?notice=logged-out')
    expect(first.jar.size).toBe(0)
    // The old cookie value no longer signs anyone in.
    const replay = await fetch(`${gw.accountUrl}/`, { headers: { cookie: `${stolen[0]}=${stolen[1]}` }, redirect: 'manual' })
    expect(replay.headers.get('location')).toBe('/login')
    expect((await second.get('/')).status).toBe(200)
    await second.post('/logout', { everywhere: '1' })
    expect((await third.get('/')).location).toBe('/login')
  })
})
