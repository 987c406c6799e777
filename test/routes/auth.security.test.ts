import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { appFixture, newAccount, purchase, signUp, startApp, TEST_SECRET, testClock } from '../support/harness'

const f = appFixture()

const me = (bearer?: string, raw?: string) =>
  f.t.request('/api/v1/users/me', { headers: raw ? { authorization: raw } : bearer ? { authorization: `Bearer ${bearer}` } : {} })

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')

describe('Bearer authentication', () => {
  it('no Authorization header → 403 "Not authenticated"', async () => {
    const res = await me()
    expect(res.status).toBe(403)
    expect(await res.json()).toEqual({ detail: 'Not authenticated' })
  })

  it('a non-Bearer scheme → 403 "Not authenticated"', async () => {
    expect((await me(undefined, 'Basic dXNlcjpwYXNz')).status).toBe(403)
  })

  it('an unsigned JWT (alg: none) is refused', async () => {
    const { user } = await signUp(f.t)
    const forged = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: user.id, username: 'x', iat: 1, exp: 9_999_999_999 })}.`
    const res = await me(forged)
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ detail: 'Could not validate credentials' })
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
  })

  it('a tampered payload is refused', async () => {
    const a = await signUp(f.t)
    const b = await signUp(f.t)
    const [h, , s] = a.jwt.split('.')
    const payload = JSON.parse(Buffer.from(a.jwt.split('.')[1]!, 'base64url').toString())
    const tampered = `${h}.${b64({ ...payload, sub: b.user.id })}.${s}`
    expect((await me(tampered)).status).toBe(401)
    expect((await me(a.jwt)).status).toBe(200)
  })

  it('a JWT signed with another key is refused', async () => {
    const { user } = await signUp(f.t)
    const other = await new SignJWT({ username: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-key-another-secret-key'))
    expect((await me(other)).status).toBe(401)
  })

  it('an expired JWT is refused once its lifetime has passed', async () => {
    const clock = testClock()
    const t2 = await startApp({ database: f.db, clock })
    try {
      const { jwt } = await signUp(t2)
      expect((await t2.request('/api/v1/users/me', { bearer: jwt })).status).toBe(200)
      clock.advance(3601_000)
      const res = await t2.request('/api/v1/users/me', { bearer: jwt })
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ detail: 'Could not validate credentials' })
    } finally {
      await t2.close()
    }
  })

  it('a valid JWT for a deleted user → 401 "User not found"', async () => {
    const jwt = await new SignJWT({ username: 'ghost' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('00000000-0000-4000-8000-000000000000')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(TEST_SECRET))
    const res = await me(jwt)
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ detail: 'User not found' })
  })

  it('only `Bearer` and one credential: anything after the credential → 401 "Could not validate credentials" with WWW-Authenticate', async () => {
    const { jwt } = await signUp(f.t)
    for (const raw of [`Bearer ${jwt} extra`, `Bearer ${jwt} ${jwt}`, `Bearer ${jwt}, Basic dXNlcjpwYXNz`, `Bearer ${jwt},`, `bearer\t${jwt}\tx`]) {
      const res = await me(undefined, raw)
      expect(res.status, raw).toBe(401)
      expect(await res.json()).toEqual({ detail: 'Could not validate credentials' })
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
    }
  })

  it('the scheme in any case, surrounding whitespace allowed', async () => {
    const { jwt } = await signUp(f.t)
    for (const raw of [`bearer ${jwt}`, `BEARER ${jwt}`, `  Bearer   ${jwt}  `, `Bearer\t${jwt}`]) expect((await me(undefined, raw)).status, raw).toBe(200)
  })

  it('no credential, or the JWT without a scheme → 403 "Not authenticated"', async () => {
    const { jwt } = await signUp(f.t)
    for (const raw of ['Bearer', 'Bearer   ', jwt, `Token ${jwt}`, `Basic x, Bearer ${jwt}`]) {
      const res = await me(undefined, raw)
      expect(res.status, raw).toBe(403)
      expect(await res.json()).toEqual({ detail: 'Not authenticated' })
    }
  })

  it('a correctly signed JWT without exp, or without sub → 401 "Could not validate credentials"', async () => {
    const { user } = await signUp(f.t)
    const key = new TextEncoder().encode(TEST_SECRET)
    const base = () => new SignJWT({ username: 'x' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    const tokens = [
      await base().setSubject(user.id).setIssuedAt().sign(key), // no exp: valid forever before
      await base().setSubject(user.id).sign(key),
      await base().setIssuedAt().setExpirationTime('1h').sign(key), // no sub
    ]
    for (const jwt of tokens) {
      const res = await me(jwt)
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ detail: 'Could not validate credentials' })
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
    }
  })

  it('an inactive user → 403 "Inactive user"', async () => {
    const { user, jwt } = await signUp(f.t)
    await f.t.services.accounts.setActive(user.id, false)
    const res = await me(jwt)
    expect(res.status).toBe(403)
    expect(await res.json()).toEqual({ detail: 'Inactive user' })
  })
})

describe('secrets stay secret', () => {
  it('no response carries a password or its hash, and the log carries no password, JWT or access token', async () => {
    const account = newAccount({ password: 'very-secret-password-42' })
    const bodies: string[] = []
    const reg = await f.t.request('/api/v1/auth/register', { method: 'POST', json: account })
    bodies.push(await reg.text())
    const login = await f.t.request('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: account.password } })
    const loginText = await login.text()
    const jwt = JSON.parse(loginText).access_token as string
    bodies.push(await (await f.t.request('/api/v1/users/me', { bearer: jwt })).text())
    bodies.push(await (await f.t.request('/api/v1/users/me', { method: 'PATCH', bearer: jwt, json: { password: 'another-secret-pass-43' } })).text())
    const token = await purchase(f.t, jwt)
    await f.t.services.tokens.validateAndActivate(token.token)
    await f.t.request('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: 'wrong-password-guess' } })
    for (const body of bodies) {
      expect(body).not.toContain(account.password)
      expect(body).not.toContain('another-secret-pass-43')
      expect(body).not.toMatch(/\$2[aby]\$/)
      expect(body).not.toMatch(/hashed_password|hashedPassword/)
    }
    const log = f.t.logs.join('\n')
    expect(f.t.logs.length).toBeGreaterThan(3)
    for (const secret of [account.password, 'another-secret-pass-43', 'wrong-password-guess', jwt, token.token, TEST_SECRET]) {
      expect(log).not.toContain(secret)
    }
  })

  it('the database holds no usable token: only its SHA-256 and a ciphertext', async () => {
    const { jwt } = await signUp(f.t)
    const token = await purchase(f.t, jwt)
    const { accessTokens } = await import('../../src/db/schema')
    const { eq } = await import('drizzle-orm')
    const [row] = await f.db.db.select().from(accessTokens).where(eq(accessTokens.id, token.id))
    const dump = JSON.stringify(row)
    expect(dump).not.toContain(token.token)
    const { createHash } = await import('node:crypto')
    expect(row!.tokenHash).toBe(createHash('sha256').update(token.token).digest('hex'))
    // The stored hash itself is not accepted as a token.
    expect(await f.t.services.tokens.checkStatus(row!.tokenHash)).toBeNull()
    // A server with another SECRET_KEY cannot decrypt what the dump holds.
    const other = await startApp({ database: f.db, env: { SECRET_KEY: 'a-different-secret-key-for-another-server-0001' } })
    try {
      const { user } = await signUp(other)
      expect(user.id).toBeTruthy()
      expect(await other.deps.cipher.decrypt(row!.tokenCiphertext)).toBeNull()
      expect(await f.t.deps.cipher.decrypt(row!.tokenCiphertext)).toBe(token.token)
    } finally {
      await other.close()
    }
  })

  it('unknown email, wrong password and inactive user take about the same time', async () => {
    // Seven refusals in a row per email: timed here are password checks, so no lock may answer in their place.
    const slow = await startApp({ database: f.db, env: { BCRYPT_ROUNDS: '10', LOGIN_LOCK_AFTER: '0' } })
    try {
      const active = await signUp(slow)
      const inactive = await signUp(slow)
      await slow.services.accounts.setActive(inactive.user.id, false)
      await slow.request('/api/v1/auth/login', { method: 'POST', json: { email: 'warm@example.com', password: 'warm-up-password' } })
      const time = async (email: string, password: string) => {
        const samples: number[] = []
        for (let i = 0; i < 7; i++) {
          const start = performance.now()
          const res = await slow.request('/api/v1/auth/login', { method: 'POST', json: { email, password } })
          samples.push(performance.now() - start)
          expect(res.status).toBe(401)
        }
        return samples.sort((a, b) => a - b)[3]!
      }
      const unknown = await time('nobody-here@example.com', 'some-password-1')
      const wrong = await time(active.account.email, 'some-password-1')
      const off = await time(inactive.account.email, inactive.account.password)
      const [lo, hi] = [Math.min(unknown, wrong, off), Math.max(unknown, wrong, off)]
      console.log(`login refusal medians: unknown ${unknown.toFixed(1)} ms, wrong password ${wrong.toFixed(1)} ms, inactive ${off.toFixed(1)} ms`)
      // Each pays one bcrypt verify (~50 ms at cost 10); skipping it would make one case ~0 ms.
      expect(lo).toBeGreaterThan(10)
      expect(hi / lo).toBeLessThan(2.5)
    } finally {
      await slow.close()
    }
  })
})
