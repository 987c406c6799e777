import { describe, expect, it } from 'vitest'
import { appFixture, newAccount, signUp } from '../support/harness'

const f = appFixture()

const register = (json: unknown) => f.t.request('/api/v1/auth/register', { method: 'POST', json })
const login = (json: unknown) => f.t.request('/api/v1/auth/login', { method: 'POST', json })

describe('register refuses', () => {
  it('a duplicate email with 400 "Email already registered", checked before the username', async () => {
    const { account } = await signUp(f.t)
    const res = await register({ ...newAccount(), email: account.email.toUpperCase(), username: account.username })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ detail: 'Email already registered' })
  })

  it('a duplicate username with 400 "Username already taken"', async () => {
    const { account } = await signUp(f.t)
    const res = await register({ ...newAccount(), username: account.username })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ detail: 'Username already taken' })
  })

  it('two simultaneous registrations of one email: exactly one account, the other a 400', async () => {
    const account = newAccount()
    const results = await Promise.all([register(account), register({ ...account, username: `${account.username}x` })])
    expect(results.map((r) => r.status).sort()).toEqual([201, 400])
  })

  it('a password over 72 UTF-8 bytes with 422', async () => {
    const res = await register(newAccount({ password: `${'ü'.repeat(36)}a` }))
    expect(res.status).toBe(422)
    const body = await res.json()
    expect(body.detail[0].loc).toEqual(['body', 'password'])
  })

  it.each([
    ['short password', { password: 'short' }, 'password'],
    ['short username', { username: 'ab' }, 'username'],
    ['long username', { username: 'x'.repeat(51) }, 'username'],
    ['bad email', { email: 'not-an-email' }, 'email'],
  ])('%s with 422 and a {loc, msg, type} list', async (_, override, field) => {
    const res = await register({ ...newAccount(), ...override })
    expect(res.status).toBe(422)
    const { detail } = await res.json()
    expect(detail).toEqual(expect.arrayContaining([expect.objectContaining({ loc: ['body', field], msg: expect.any(String), type: expect.any(String) })]))
  })

  it('missing fields with 422 naming each', async () => {
    const res = await register({})
    expect(res.status).toBe(422)
    const locs = (await res.json()).detail.map((d: { loc: string[] }) => d.loc.join('.'))
    expect(locs).toEqual(expect.arrayContaining(['body.email', 'body.username', 'body.password']))
  })

  it('malformed JSON with a 4xx {"detail"}, not a 500', async () => {
    const res = await f.t.request('/api/v1/auth/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email": ' })
    expect(res.status).toBe(400)
    expect(typeof (await res.json()).detail).toBe('string')
  })

  it('a body that is not JSON at all with a 4xx', async () => {
    const res = await f.t.request('/api/v1/auth/register', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' })
    expect(res.status).toBeGreaterThanOrEqual(400)
    expect(res.status).toBeLessThan(500)
  })

  it('an oversized body with 413', async () => {
    const res = await register({ ...newAccount(), full_name: 'x'.repeat(100_000) })
    expect(res.status).toBe(413)
    expect(await res.json()).toEqual({ detail: 'Request body too large' })
  })
})

describe('login refuses', () => {
  const refused = async (res: Response) => {
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expect(await res.json()).toEqual({ detail: 'Incorrect email or password' })
  }

  it('a wrong password', async () => {
    const { account } = await signUp(f.t)
    await refused(await login({ email: account.email, password: 'wrong password!' }))
  })

  it('an unknown email', async () => {
    await refused(await login({ email: 'nobody@example.com', password: 'whatever123' }))
  })

  it('an inactive user, even with the right password', async () => {
    const { account, user } = await signUp(f.t)
    await f.t.services.accounts.setActive(user.id, false)
    await refused(await login({ email: account.email, password: account.password }))
  })

  it('a body without a password with 422', async () => {
    const res = await login({ email: 'a@b.co' })
    expect(res.status).toBe(422)
  })
})
