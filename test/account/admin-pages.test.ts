// The superuser pages on the account origin, as a browser without JavaScript uses them, against the
// real Node server: who may see them, the users list (search, activate / deactivate, the last
// superuser), live proxy sessions (terminate) and the audit log's filters.
import { and, eq, isNull } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accountSessions, auditEvents, proxySessions, users } from '../../src/db/schema'
import { type AccountGateway, accountClient, registerOnPage, startAccountGateway } from '../support/account'
import { startUpstream, type Upstream } from '../support/gateway'
import { newAccount, type TestDatabase, testDatabase } from '../support/harness'
import { recordSecret } from '../support/log-scan'
import { giveCredits } from '../support/money'

let db: TestDatabase
let up: Upstream
let gw: AccountGateway
/** The file's one superuser (the last-superuser refusal counts on there being no other). */
let admin: ReturnType<typeof accountClient>
let adminAccount: ReturnType<typeof newAccount>
let adminId: string

const userIdOf = async (email: string) => (await gw.t.services.accounts.findByEmail(email))!.id
const signInsOf = async (id: string) => (await db.db.select().from(accountSessions).where(eq(accountSessions.userId, id))).length
const userRow = async (id: string) => (await db.db.select().from(users).where(eq(users.id, id)))[0]!

/** A customer signed in on the page with one (free) token: their client, id and token. */
async function customerWithToken(account = newAccount()) {
  const client = await registerOnPage(gw, account)
  const id = await userIdOf(account.email)
  const bought = await client.post('/tokens', { duration_hours: '24', key: crypto.randomUUID() })
  expect(bought.status).toBe(303)
  const [token] = await gw.t.services.tokens.listForUser(id, true)
  recordSecret(token!.token!, 'access token')
  return { client, account, id, token: token!.token!, tokenId: token!.id }
}

/** One request through the proxy on the backend origin, as a given device. */
const proxied = (token: string, device = 'admin-pages-laptop') =>
  fetch(`${gw.backendUrl}/api/v1/proxy/page`, { headers: { 'x-access-token': token, 'x-device-id': device, 'user-agent': 'AdminPagesTest/1.0' } })

/** The data-action of every audit row on a page. */
const actionsOn = (html: string) => [...html.matchAll(/<tr id="event-\d+" data-action="([^"]+)"/g)].map((m) => m[1]!)

beforeAll(async () => {
  db = await testDatabase()
  up = await startUpstream()
  up.on((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<p>zenzefi ${req.url}</p>`))
  // FREE_TOKENS and ANY_DEVICES (DEVICE_LIMIT=0) are the harness's defaults: sessions are still opened and counted.
  gw = await startAccountGateway({ database: db, upstream: up })
  adminAccount = newAccount()
  admin = await registerOnPage(gw, adminAccount)
  adminId = await userIdOf(adminAccount.email)
  await db.db.update(users).set({ isSuperuser: true }).where(eq(users.id, adminId))
})
afterAll(async () => {
  await gw?.close()
  await up?.close()
  await db?.drop()
})

describe('who may see the admin pages', () => {
  const PAGES = ['/admin', '/admin/sessions', '/admin/audit', '/admin/audit?action=user.update']

  it('a signed-out visitor is sent to /login', async () => {
    const anonymous = accountClient(gw.accountUrl)
    for (const path of PAGES) {
      const res = await anonymous.get(path)
      expect(res.status, path).toBe(303)
      expect(res.location, path).toBe('/login')
    }
    const post = await anonymous.post(`/admin/users/${adminId}/active`, { value: '0' })
    expect(post.status).toBe(303)
    expect(post.location).toBe('/login')
  })

  it('a customer who is not a superuser gets 403 on every page and every action, and nothing changes', async () => {
    const { client, id } = await customerWithToken()
    for (const path of PAGES) {
      const res = await client.get(path)
      expect(res.status, path).toBe(403)
      expect(res.text, path).toContain('Superuser permissions required')
    }
    expect((await client.post(`/admin/users/${id}/active`, { value: '0' })).status).toBe(403)
    expect((await client.post(`/admin/users/${adminId}/active`, { value: '0' })).status).toBe(403)
    expect((await userRow(adminId)).isActive).toBe(true)
    expect((await userRow(id)).isActive).toBe(true)
    // Their own page has no Admin link; a superuser's has.
    expect((await client.get('/')).text).not.toContain('href="/admin"')
    expect((await admin.get('/')).text).toContain('href="/admin"')
  })

  it('a cross-origin POST (Sec-Fetch-Site: cross-site) is refused with 403 before anything runs', async () => {
    const { id } = await customerWithToken()
    const res = await admin.post(`/admin/users/${id}/active`, { value: '0' }, { 'sec-fetch-site': 'cross-site' })
    expect(res.status).toBe(403)
    expect(res.text).toContain('Cross-origin request refused')
    expect((await userRow(id)).isActive).toBe(true)
    const events = await db.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'user.update'), eq(auditEvents.subjectUserId, id)))
    expect(events).toHaveLength(0)
  })
})

describe('users', () => {
  it('the admin pages link to each other', async () => {
    const page = await admin.get('/admin')
    expect(page.status).toBe(200)
    expect(page.text).toContain('href="/admin/sessions"')
    expect(page.text).toContain('href="/admin/audit"')
    const sessions = await admin.get('/admin/sessions')
    expect(sessions.text).toContain('href="/admin"')
    expect(sessions.text).toContain('href="/admin/audit"')
  })

  it('finds a user by email or username and shows their balance, activity and role', async () => {
    const { account, id } = await customerWithToken()
    await giveCredits(gw.t, id, 1234)
    const byEmail = await admin.get(`/admin?q=${encodeURIComponent(account.email)}`)
    expect(byEmail.status).toBe(200)
    expect(byEmail.text).toContain(`<tr id="user-${id}">`)
    expect(byEmail.text).toContain(account.email)
    expect(byEmail.text).toContain(account.username)
    expect(byEmail.text).toContain('12.34')
    expect(byEmail.text).toContain('Deactivate')
    // Only the match: not the superuser.
    expect(byEmail.text).not.toContain(adminAccount.email)
    const byUsername = await admin.get(`/admin?q=${encodeURIComponent(account.username.toUpperCase())}`)
    expect(byUsername.text).toContain(`<tr id="user-${id}">`)
    // The inactive filter leaves an active user out.
    const inactive = await admin.get(`/admin?q=${encodeURIComponent(account.email)}&active=0`)
    expect(inactive.text).not.toContain(`<tr id="user-${id}">`)
    expect(inactive.text).toContain('No user matches.')
  })

  it('escapes what it shows back: a search for markup is text', async () => {
    const res = await admin.get(`/admin?q=${encodeURIComponent('"><script>alert(1)</script>')}`)
    expect(res.status).toBe(200)
    expect(res.text).not.toContain('<script>alert(1)</script>')
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
  })

  it('pages by 50', async () => {
    // More than a page of users that one search finds.
    const tag = `pg${Date.now().toString(36)}`
    const many = Array.from({ length: 51 }, (_, i) => newAccount({ email: `${tag}${i}@example.com`, username: `${tag}_${i}` }))
    for (const account of many) await gw.t.services.accounts.register({ ...account, fullName: null }, { ctx: { actorType: 'anonymous' } })
    const first = await admin.get(`/admin?q=${tag}`)
    expect([...first.text.matchAll(/<tr id="user-/g)]).toHaveLength(50)
    expect(first.text).toContain('Page 1 of 2 (51 in all)')
    expect(first.text).toContain(`href="/admin?q=${tag}&amp;page=2"`)
    const second = await admin.get(`/admin?q=${tag}&page=2`)
    expect([...second.text.matchAll(/<tr id="user-/g)]).toHaveLength(1)
    expect(second.text).toContain('Page 2 of 2 (51 in all)')
  })

  it('deactivating ends their account-page sign-in and their token at once; activating lets them back', async () => {
    const { client, account, id, token } = await customerWithToken()
    expect((await client.get('/')).status).toBe(200)
    expect(await signInsOf(id)).toBe(1)
    expect((await proxied(token, 'deactivation')).status).toBe(200)
    const page = await admin.get(`/admin?q=${encodeURIComponent(account.email)}`)
    expect(page.text).toContain(`action="/admin/users/${id}/active"`)

    const off = await admin.post(`/admin/users/${id}/active`, { value: '0', q: account.email, active: '', page: '1' })
    expect(off.status).toBe(303)
    expect(off.location).toBe(`/admin?q=${encodeURIComponent(account.email)}&notice=deactivated`)
    expect((await userRow(id)).isActive).toBe(false)
    // Their sign-ins are deleted by the deactivation itself, not only refused when next seen.
    expect(await signInsOf(id)).toBe(0)
    const after = await admin.get(off.location!)
    expect(after.text).toContain('User deactivated')
    expect(after.text).toContain('Activate')
    // Their next request to the account page: signed out.
    const home = await client.get('/')
    expect(home.status).toBe(303)
    expect(home.location).toBe('/login')
    // And the proxy refuses their token at once (adminUsers.update made every cache forget it).
    const refused = await proxied(token, 'deactivation')
    // As a revoked token is: 401, nothing said about the account.
    expect(refused.status).toBe(401)
    expect(await refused.json()).toEqual({ detail: 'Invalid or expired access token' })
    // The change is audited as the admin's.
    const [event] = await db.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'user.update'), eq(auditEvents.subjectUserId, id)))
    expect(event!.actorType).toBe('admin')
    expect(event!.actorId).toBe(adminId)

    const on = await admin.post(`/admin/users/${id}/active`, { value: '1', q: account.email })
    expect(on.status).toBe(303)
    expect(on.location).toBe(`/admin?q=${encodeURIComponent(account.email)}&notice=activated`)
    expect((await userRow(id)).isActive).toBe(true)
    expect((await admin.get(on.location!)).text).toContain('User activated.')
    expect((await proxied(token, 'deactivation')).status).toBe(200)
    expect((await client.post('/login', { email: account.email, password: account.password })).status).toBe(303)
    expect((await client.get('/')).status).toBe(200)
  })

  it('refuses to deactivate the last active superuser, with its message on the users page (409)', async () => {
    const res = await admin.post(`/admin/users/${adminId}/active`, { value: '0', q: adminAccount.email })
    expect(res.status).toBe(409)
    expect(res.text).toContain('Cannot remove the last active superuser')
    // The page itself, with the same search.
    expect(res.text).toContain(`<tr id="user-${adminId}">`)
    expect((await userRow(adminId)).isActive).toBe(true)
    expect((await admin.get('/admin')).status).toBe(200)
  })

  it('a malformed id is a 404 page, an unknown one the users page with "User not found", a bad value 422', async () => {
    const bad = await admin.post('/admin/users/not-a-uuid/active', { value: '0' })
    expect(bad.status).toBe(404)
    expect(bad.text).toContain('User not found')
    const unknown = await admin.post(`/admin/users/${crypto.randomUUID()}/active`, { value: '0' })
    expect(unknown.status).toBe(404)
    expect(unknown.text).toContain('User not found')
    const { id } = await customerWithToken()
    const value = await admin.post(`/admin/users/${id}/active`, { value: 'no' })
    expect(value.status).toBe(422)
    expect((await userRow(id)).isActive).toBe(true)
  })
})

describe('live sessions', () => {
  it('a proxied request opens a session that the page lists; Terminate ends it, and the next request opens a new one', async () => {
    const { account, id, token, tokenId } = await customerWithToken()
    for (let i = 0; i < 3; i++) expect((await proxied(token, 'terminate-me')).status).toBe(200)
    const [open] = await db.db
      .select()
      .from(proxySessions)
      .where(and(eq(proxySessions.tokenId, tokenId), isNull(proxySessions.endedAt)))
    expect(open).toBeDefined()

    const page = await admin.get('/admin/sessions')
    expect(page.status).toBe(200)
    const row = page.text.match(new RegExp(`<tr id="session-${open!.id}">(.*?)</tr>`, 's'))?.[1]
    expect(row).toBeDefined()
    expect(row).toContain(account.email)
    expect(row).toContain('AdminPagesTest/1.0')
    expect(row).toContain('127.0.0.1')
    // Counted in memory and not yet written: the page shows them anyway.
    expect(row).toContain('<td class="num">3</td>')
    expect(row).toContain(`action="/admin/sessions/${open!.id}/terminate"`)

    const done = await admin.post(`/admin/sessions/${open!.id}/terminate`, { reason: 'Lost laptop' })
    expect(done.status).toBe(303)
    expect(done.location).toBe('/admin/sessions?notice=terminated')
    const [ended] = await db.db.select().from(proxySessions).where(eq(proxySessions.id, open!.id))
    expect(ended!.endedAt).not.toBeNull()
    expect(ended!.endReason).toBe('terminated')
    const [event] = await db.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'session.terminate'), eq(auditEvents.resourceId, open!.id)))
    expect(event!.actorType).toBe('admin')
    expect(event!.subjectUserId).toBe(id)
    expect(JSON.parse(event!.details)).toEqual({ reason: 'Lost laptop' })
    const listed = await admin.get(done.location!)
    expect(listed.text).toContain('Session terminated.')
    expect(listed.text).not.toContain(`<tr id="session-${open!.id}">`)

    // The token is still good (DEVICE_LIMIT=0 here): the device's next request starts a new session.
    expect((await proxied(token, 'terminate-me')).status).toBe(200)
    const now = await db.db
      .select()
      .from(proxySessions)
      .where(and(eq(proxySessions.tokenId, tokenId), isNull(proxySessions.endedAt)))
    expect(now).toHaveLength(1)
    expect(now[0]!.id).not.toBe(open!.id)

    // Terminating it again: already over (409); a malformed or unknown id: 404.
    const again = await admin.post(`/admin/sessions/${open!.id}/terminate`)
    expect(again.status).toBe(409)
    expect(again.text).toContain('Session already ended')
    expect((await admin.post('/admin/sessions/nope/terminate')).status).toBe(404)
    expect((await admin.post(`/admin/sessions/${crypto.randomUUID()}/terminate`)).status).toBe(404)
  })

  it('a reason with control characters is refused (422) and the session stays open', async () => {
    const { token, tokenId } = await customerWithToken()
    expect((await proxied(token, 'stays')).status).toBe(200)
    const [open] = await db.db
      .select()
      .from(proxySessions)
      .where(and(eq(proxySessions.tokenId, tokenId), isNull(proxySessions.endedAt)))
    const res = await admin.post(`/admin/sessions/${open!.id}/terminate`, { reason: 'bad\u0007reason' })
    expect(res.status).toBe(422)
    const [still] = await db.db.select().from(proxySessions).where(eq(proxySessions.id, open!.id))
    expect(still!.endedAt).toBeNull()
  })
})

describe('audit', () => {
  it('filtered by action: only the matching events, newest first', async () => {
    const { id } = await customerWithToken()
    await admin.post(`/admin/users/${id}/active`, { value: '0' })
    await admin.post(`/admin/users/${id}/active`, { value: '1' })

    const all = await admin.get('/admin/audit')
    expect(all.status).toBe(200)
    expect(new Set(actionsOn(all.text)).size).toBeGreaterThan(1)

    const page = await admin.get('/admin/audit?action=user.update')
    expect(page.status).toBe(200)
    const actions = actionsOn(page.text)
    expect(actions.length).toBeGreaterThanOrEqual(2)
    expect(new Set(actions)).toEqual(new Set(['user.update']))
    // The select keeps the choice; the rows show the details as JSON (escaped) and the admin as actor.
    expect(page.text).toContain('<option value="user.update" selected="">user.update</option>')
    expect(page.text).toContain(`admin ${adminId}`)
    expect(page.text).toContain('{&quot;fields&quot;:&quot;is_active&quot;,&quot;is_active&quot;:true}')
    const ids = [...page.text.matchAll(/<tr id="event-(\d+)"/g)].map((m) => Number(m[1]))
    expect(ids).toEqual([...ids].sort((a, b) => b - a))

    // By user, action and outcome together.
    const mine = await admin.get(`/admin/audit?action=user.update&user_id=${id}&outcome=success`)
    expect(actionsOn(mine.text)).toEqual(['user.update', 'user.update'])
    const denied = await admin.get(`/admin/audit?action=user.update&user_id=${id}&outcome=denied`)
    expect(actionsOn(denied.text)).toEqual([])
    const registered = await admin.get(`/admin/audit?action=auth.register&user_id=${id}`)
    expect(actionsOn(registered.text)).toEqual(['auth.register'])
  })

  it('from / to are whole UTC days', async () => {
    const { id } = await customerWithToken()
    const [registered] = await db.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'auth.register'), eq(auditEvents.subjectUserId, id)))
    // The day the event was written (not the clock now: a run may cross midnight).
    const today = registered!.occurredAt.toISOString().slice(0, 10)
    const inRange = await admin.get(`/admin/audit?action=auth.register&user_id=${id}&from=${today}&to=${today}`)
    expect(actionsOn(inRange.text)).toEqual(['auth.register'])
    const dayAfter = new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)
    expect(actionsOn((await admin.get(`/admin/audit?action=auth.register&user_id=${id}&from=${dayAfter}`)).text)).toEqual([])
    expect(actionsOn((await admin.get(`/admin/audit?action=auth.register&user_id=${id}&to=${dayAfter}`)).text)).toEqual(['auth.register'])
    const past = await admin.get('/admin/audit?action=auth.register&to=2000-01-01')
    expect(actionsOn(past.text)).toEqual([])
    const future = await admin.get('/admin/audit?from=2999-01-01')
    expect(actionsOn(future.text)).toEqual([])
  })

  it('refuses malformed filters with a message (422) and lists nothing', async () => {
    for (const query of ['user_id=nope', 'action=no.such', 'from=yesterday', 'to=2024-02-30', 'outcome=maybe']) {
      const res = await admin.get(`/admin/audit?${query}`)
      expect(res.status, query).toBe(422)
      expect(res.text, query).toContain('role="alert"')
      expect(actionsOn(res.text), query).toEqual([])
    }
  })
})
