import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'
import { appFixture, newAccount, startApp } from '../support/harness'

const f = appFixture()

describe('register', () => {
  it('creates the account and answers 201 with the public fields only', async () => {
    const account = newAccount({ full_name: 'Ada Lovelace' })
    const res = await f.t.request('/api/v1/auth/register', { method: 'POST', json: account })
    expect(res.status).toBe(201)
    const body = await res.json()
    expect(Object.keys(body).sort()).toEqual(['created_at', 'email', 'full_name', 'id', 'is_active', 'is_superuser', 'updated_at', 'username'])
    expect(body).toMatchObject({ email: account.email, username: account.username, full_name: 'Ada Lovelace', is_active: true, is_superuser: false })
    expect(body.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(new Date(body.created_at).toISOString()).toBe(body.created_at)
  })

  it('stores the email lower-cased so logins ignore its case', async () => {
    const account = newAccount()
    const res = await f.t.request('/api/v1/auth/register', { method: 'POST', json: { ...account, email: account.email.toUpperCase() } })
    expect((await res.json()).email).toBe(account.email)
    const login = await f.t.request('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: account.password } })
    expect(login.status).toBe(200)
  })

  it('accepts a password of exactly 72 UTF-8 bytes', async () => {
    const password = 'ü'.repeat(36) // 2 bytes each
    const res = await f.t.request('/api/v1/auth/register', { method: 'POST', json: newAccount({ password }) })
    expect(res.status).toBe(201)
  })
})

describe('login', () => {
  it('returns a bearer JWT whose payload is {sub, username, iat, exp} and expires_in 3600', async () => {
    const account = newAccount()
    const { id } = await (await f.t.request('/api/v1/auth/register', { method: 'POST', json: account })).json()
    const res = await f.t.request('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: account.password } })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.token_type).toBe('bearer')
    expect(body.expires_in).toBe(3600)
    const [header, payload] = body.access_token
      .split('.')
      .slice(0, 2)
      .map((p: string) => JSON.parse(Buffer.from(p, 'base64url').toString()))
    expect(header.alg).toBe('HS256')
    expect(Object.keys(payload).sort()).toEqual(['exp', 'iat', 'sub', 'username'])
    expect(payload.sub).toBe(id)
    expect(payload.username).toBe(account.username)
    expect(payload.exp - payload.iat).toBe(3600)
  })

  it('honours ACCESS_TOKEN_EXPIRE_MINUTES', async () => {
    const t2 = await startApp({ database: f.db, env: { ACCESS_TOKEN_EXPIRE_MINUTES: '5' } })
    try {
      const account = newAccount()
      await t2.request('/api/v1/auth/register', { method: 'POST', json: account })
      const res = await t2.request('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: account.password } })
      expect((await res.json()).expires_in).toBe(300)
    } finally {
      await t2.close()
    }
  })

  it('verifies a $2b$12$ hash made by the earlier backend (passlib) unchanged', async () => {
    // A cost-12 hash produced outside this app, as passlib stored them.
    const legacy = bcrypt.hashSync('legacy password 1', 12).replace(/^\$2a\$/, '$2b$')
    expect(legacy.startsWith('$2b$12$')).toBe(true)
    const account = newAccount()
    const { id } = await (await f.t.request('/api/v1/auth/register', { method: 'POST', json: account })).json()
    const { users } = await import('../../src/db/schema')
    const { eq } = await import('drizzle-orm')
    await f.db.db.update(users).set({ hashedPassword: legacy }).where(eq(users.id, id))
    const ok = await f.t.request('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: 'legacy password 1' } })
    expect(ok.status).toBe(200)
    const bad = await f.t.request('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: account.password } })
    expect(bad.status).toBe(401)
  })
})
