import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { proxySessions, users } from '../../../src/db/schema'
import { appFixture, purchase, signUp } from '../../support/harness'

const f = appFixture()
let admin: Awaited<ReturnType<typeof signUp>>

beforeAll(async () => {
  admin = await signUp(f.t)
  await f.db.db.update(users).set({ isSuperuser: true }).where(eq(users.id, admin.user.id))
})

const get = (path: string, jwt = admin.jwt) => f.t.request(`/api/v1/admin${path}`, { bearer: jwt })
const patch = (id: string, json: unknown, jwt = admin.jwt) => f.t.request(`/api/v1/admin/users/${id}`, { method: 'PATCH', bearer: jwt, json })

interface Page {
  items: { id: string; email: string; username: string; balance: string; is_active: boolean }[]
  total: number
  limit: number
  offset: number
}

describe('GET /admin/users', () => {
  it('pages newest first with the user shape plus balance, and total', async () => {
    const tag = `pg${Date.now().toString(36)}`
    const made = []
    for (let i = 0; i < 3; i++) {
      made.push(await signUp(f.t, { username: `${tag}_${i}`, email: `${tag}${i}@example.com` }))
      f.t.clock.advance(1000) // the test clock stands still otherwise: one creation time each
    }
    const res = await get(`/users?search=${tag}&limit=2`)
    expect(res.status).toBe(200)
    const page = (await res.json()) as Page
    expect(page).toMatchObject({ total: 3, limit: 2, offset: 0 })
    expect(page.items.map((u) => u.username)).toEqual([`${tag}_2`, `${tag}_1`])
    expect(Object.keys(page.items[0]!).sort()).toEqual([
      'balance',
      'created_at',
      'email',
      'full_name',
      'id',
      'is_active',
      'is_superuser',
      'updated_at',
      'username',
    ])
    expect(page.items[0]!.balance).toBe('0.00')
    const second = (await (await get(`/users?search=${tag}&limit=2&offset=2`)).json()) as Page
    expect(second.items.map((u) => u.username)).toEqual([`${tag}_0`])
  })

  it('limit outside 1–100, a negative offset or a bad is_active → 422', async () => {
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'offset=-1', 'is_active=maybe']) {
      const res = await get(`/users?${q}`)
      expect(res.status, q).toBe(422)
      expect(((await res.json()) as { detail: unknown[] }).detail.length).toBeGreaterThan(0)
    }
    expect((await get('/users?limit=100')).status).toBe(200)
    expect((await get('/users?limit=1')).status).toBe(200)
  })

  it('search is literal: % and _ and \\ match only themselves, case-insensitively, in email or username', async () => {
    const tag = `lit${Date.now().toString(36)}`
    const pct = await signUp(f.t, { username: `${tag}_100%_off`, email: `${tag}a@example.com` })
    const plain = await signUp(f.t, { username: `${tag}x100xoff`, email: `${tag}b@example.com` })
    const slash = await signUp(f.t, { username: `${tag}back\\slash`, email: `${tag}c@example.com` })
    const ids = async (search: string) => ((await (await get(`/users?search=${encodeURIComponent(search)}`)).json()) as Page).items.map((u) => u.id).sort()
    expect(await ids(`${tag}_100%`)).toEqual([pct.user.id])
    expect(await ids('100%_off')).toEqual([pct.user.id])
    expect(await ids(`${tag}x100`)).toEqual([plain.user.id])
    expect(await ids(`${tag}%`)).toEqual([])
    expect(await ids(`${tag}_`)).toEqual([pct.user.id])
    expect(await ids('k\\s')).toEqual([slash.user.id])
    expect(await ids(`${tag.toUpperCase()}B@EXAMPLE`)).toEqual([plain.user.id])
    expect(await ids(`${tag}`)).toEqual([pct.user.id, plain.user.id, slash.user.id].sort())
  })

  it('filters by is_active', async () => {
    const tag = `act${Date.now().toString(36)}`
    const on = await signUp(f.t, { username: `${tag}_on` })
    const off = await signUp(f.t, { username: `${tag}_off` })
    expect((await patch(off.user.id, { is_active: false })).status).toBe(200)
    const names = async (q: string) => ((await (await get(`/users?search=${tag}&${q}`)).json()) as Page).items.map((u) => u.id)
    expect(await names('is_active=true')).toEqual([on.user.id])
    expect(await names('is_active=false')).toEqual([off.user.id])
  })

  it('only superusers', async () => {
    const u = await signUp(f.t)
    for (const res of [await get('/users', u.jwt), await get(`/users/${u.user.id}`, u.jwt), await patch(u.user.id, { is_superuser: true }, u.jwt)]) {
      expect(res.status).toBe(403)
      expect(await res.json()).toEqual({ detail: 'Superuser permissions required' })
    }
    expect((await f.t.request('/api/v1/admin/users')).status).toBe(403)
  })
})

describe('GET /admin/users/{id}', () => {
  it('the user, balance, live tokens by prefix only, and open sessions', async () => {
    const u = await signUp(f.t)
    const live = await purchase(f.t, u.jwt, 24)
    const revoked = await purchase(f.t, u.jwt, 1)
    expect((await f.t.request(`/api/v1/tokens/${revoked.id}`, { method: 'DELETE', bearer: u.jwt })).status).toBe(200)
    const now = f.t.clock.now()
    const [open] = await f.db.db
      .insert(proxySessions)
      .values({
        tokenId: live.id,
        userId: u.user.id,
        deviceKey: 'a'.repeat(64),
        deviceSource: 'header',
        firstIp: '10.0.0.1',
        lastIp: '10.0.0.2',
        startedAt: now,
        lastSeenAt: now,
      })
      .returning()
    await f.db.db.insert(proxySessions).values({
      tokenId: live.id,
      userId: u.user.id,
      deviceKey: 'b'.repeat(64),
      deviceSource: 'cookie',
      startedAt: now,
      lastSeenAt: now,
      endedAt: now,
      endReason: 'idle',
    })
    const res = await get(`/users/${u.user.id}`)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).not.toContain(live.token)
    expect(text).not.toContain(revoked.token)
    const body = JSON.parse(text)
    expect(body).toMatchObject({ id: u.user.id, email: u.user.email, balance: '0.00', is_active: true })
    expect(body.tokens).toEqual([expect.objectContaining({ id: live.id, token_prefix: live.token.slice(0, 6), duration_hours: 24, activated_at: null })])
    expect(body.tokens[0]).not.toHaveProperty('token')
    expect(body.sessions).toEqual([
      expect.objectContaining({ id: open!.id, token_id: live.id, device: 'header', first_ip: '10.0.0.1', last_ip: '10.0.0.2', requests: 0 }),
    ])
  })

  it('unknown user → 404; a malformed id → 422', async () => {
    const res = await get('/users/00000000-0000-4000-8000-000000000000')
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ detail: 'User not found' })
    expect((await get('/users/not-a-uuid')).status).toBe(422)
  })
})

describe('PATCH /admin/users/{id}', () => {
  it('renames, promotes and demotes; the answer is the user with balance', async () => {
    const u = await signUp(f.t)
    const res = await patch(u.user.id, { full_name: 'Renamed Person', is_superuser: true })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ id: u.user.id, full_name: 'Renamed Person', is_superuser: true, balance: '0.00' })
    expect((await get('/users', u.jwt)).status).toBe(200)
    expect(await (await patch(u.user.id, { is_superuser: false })).json()).toMatchObject({ is_superuser: false })
    expect((await get('/users', u.jwt)).status).toBe(403)
  })

  it('deactivating refuses logins, the JWT and every token at once; reactivating lets the user in again', async () => {
    const u = await signUp(f.t)
    const bought = await purchase(f.t, u.jwt)
    expect(await f.t.services.tokens.validateAndActivate(bought.token)).not.toBeNull()
    expect((await patch(u.user.id, { is_active: false })).status).toBe(200)
    expect(await f.t.services.tokens.validateAndActivate(bought.token)).toBeNull()
    expect((await f.t.request('/api/v1/users/me', { bearer: u.jwt })).status).toBe(403)
    const login = await f.t.request('/api/v1/auth/login', { method: 'POST', json: { email: u.account.email, password: u.account.password } })
    expect(login.status).toBe(401)
    expect(await (await patch(u.user.id, { is_active: true })).json()).toMatchObject({ is_active: true })
    expect(await f.t.services.tokens.validateAndActivate(bought.token)).not.toBeNull()
  })

  it('unknown user → 404; wrong types → 422', async () => {
    expect((await patch('00000000-0000-4000-8000-000000000000', { full_name: 'x' })).status).toBe(404)
    expect((await patch(admin.user.id, { is_active: 'no' })).status).toBe(422)
    expect((await patch(admin.user.id, { full_name: 'a\u0001b' })).status).toBe(422)
  })
})
