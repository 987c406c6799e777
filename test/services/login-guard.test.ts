// Failed-login regulation through the real app (POST /api/v1/auth/login), on the
// app's own clock. In-process requests have no client address (''), so the pair
// is (email, ''); the per-address caps are covered in test/routes/limits.test.ts
// over real requests from 127.0.0.1 and directly below.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { loadLimits } from '../../src/config'
import { createMemoryLimiter } from '../../src/limits/memory'
import { isDomainError } from '../../src/services/errors'
import { createLoginGuard } from '../../src/services/login-guard'
import { newAccount, signUp, startApp, type TestApp, type TestDatabase, testClock, testDatabase } from '../support/harness'

const LOGIN = '/api/v1/auth/login'
const lockedBody = (seconds: number) => ({
  detail: `Too many failed login attempts. Try again in ${seconds} seconds.`,
  limit: 5,
  window: 600,
  retry_after: seconds,
})

let db: TestDatabase
let t: TestApp
const clock = testClock(Date.parse('2026-03-01T12:00:00Z'))
beforeAll(async () => {
  db = await testDatabase()
  t = await startApp({ database: db, clock })
})
afterAll(async () => {
  await t?.close()
  await db?.drop()
})

const login = (email: string, password: string) => t.request(LOGIN, { method: 'POST', json: { email, password } })
async function fail(email: string, times: number) {
  for (let i = 0; i < times; i++) expect((await login(email, 'wrong password!')).status).toBe(401)
}
async function answer(res: Response) {
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() }
}

describe('failed logins lock (email, address)', () => {
  it('5 failures in 10 minutes lock for 15 minutes: 429 with Retry-After, even for the right password', async () => {
    const { account } = await signUp(t)
    await fail(account.email, 5)
    const locked = await answer(await login(account.email, account.password))
    expect(locked).toEqual({ status: 429, retryAfter: '900', body: lockedBody(900) })
    clock.advance(899_000)
    expect(await answer(await login(account.email, account.password))).toEqual({ status: 429, retryAfter: '1', body: lockedBody(1) })
    clock.advance(1_000)
    expect((await login(account.email, account.password)).status).toBe(200)
  })

  it('4 failures do not lock; failures older than the window no longer count', async () => {
    const { account } = await signUp(t)
    await fail(account.email, 4)
    expect((await login(account.email, account.password)).status).toBe(200)
    // Spread out: 4, ten minutes, 1 more is not 5 within 10 minutes.
    const other = await signUp(t)
    await fail(other.account.email, 4)
    clock.advance(600_000)
    await fail(other.account.email, 1)
    expect((await login(other.account.email, other.account.password)).status).toBe(200)
    // 5 within 10 minutes, spread out (one every 2 minutes 20 s), do lock.
    const third = await signUp(t)
    for (let i = 0; i < 5; i++) {
      await fail(third.account.email, 1)
      clock.advance(140_000)
    }
    expect((await login(third.account.email, third.account.password)).status).toBe(429)
  })

  it('a successful login is not a failure and clears the pair’s failures', async () => {
    const { account } = await signUp(t)
    await fail(account.email, 4)
    expect((await login(account.email, account.password)).status).toBe(200)
    await fail(account.email, 4)
    expect((await login(account.email, account.password)).status).toBe(200)
    await fail(account.email, 4)
    expect((await login(account.email, account.password)).status).toBe(200)
  })

  it('each repeat lock doubles, up to 24 h; a day after a lock ends forgets one doubling', async () => {
    const { account } = await signUp(t)
    const seen: number[] = []
    for (let round = 0; round < 9; round++) {
      await fail(account.email, 5)
      const { body } = await answer(await login(account.email, account.password))
      seen.push(body.retry_after)
      clock.advance(body.retry_after * 1000)
    }
    expect(seen).toEqual([900, 1800, 3600, 7200, 14400, 28800, 57600, 86400, 86400])
    // Two days after the last lock ended, the next is two doublings down from the longest.
    expect((await login(account.email, account.password)).status).toBe(200)
    clock.advance(2 * 86_400_000)
    await fail(account.email, 5)
    expect((await answer(await login(account.email, account.password))).body.retry_after).toBe(57600)
  })

  it('while locked the answer is the same for every email, known or not, and no password is checked', async () => {
    const { account } = await signUp(t)
    const unknown = newAccount().email
    await fail(account.email, 5)
    await fail(unknown, 5)
    const verify = vi.spyOn(t.deps.hasher, 'verify')
    try {
      const real = await login(account.email, account.password)
      const nobody = await login(unknown, 'whatever it is')
      const [a, b] = [await answer(real), await answer(nobody)]
      expect(a).toEqual(b)
      expect(a).toEqual({ status: 429, retryAfter: '900', body: lockedBody(900) })
      expect([...real.headers.keys()].filter((h) => h !== 'x-request-id')).toEqual([...nobody.headers.keys()].filter((h) => h !== 'x-request-id'))
      for (let i = 0; i < 20; i++) expect((await login(account.email, `guess ${i}`)).status).toBe(429)
      expect(verify).not.toHaveBeenCalled()
      // Another email on the same address is not locked: one bcrypt check, the usual 401.
      expect((await login(newAccount().email, 'some password')).status).toBe(401)
      expect(verify).toHaveBeenCalledTimes(1)
    } finally {
      verify.mockRestore()
    }
  })

  it('a burst of wrong passwords sent in parallel gets exactly 5 password checks', async () => {
    const { account } = await signUp(t)
    const verify = vi.spyOn(t.deps.hasher, 'verify')
    try {
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => login(account.email, `parallel guess ${i}`)))
      const statuses = answers.map((r) => r.status).sort()
      expect(statuses.filter((s) => s === 401)).toHaveLength(5)
      expect(statuses.filter((s) => s === 429)).toHaveLength(25)
      expect(verify).toHaveBeenCalledTimes(5)
    } finally {
      verify.mockRestore()
    }
  })

  it('the email is matched as login matches it (case, spaces)', async () => {
    const { account } = await signUp(t)
    await fail(` ${account.email.toUpperCase()} `, 5)
    expect((await login(account.email, account.password)).status).toBe(429)
  })
})

describe('the per-account and per-address caps (the guard on its own)', () => {
  const limits = { ...loadLimits({}), loginFailuresPerAccount: { limit: 8, windowSeconds: 3600 }, loginFailuresPerAddress: { limit: 12, windowSeconds: 3600 } }
  const refused = async (p: Promise<unknown>) => {
    try {
      await p
      return null
    } catch (err) {
      if (!isDomainError(err)) throw err
      return { code: err.code, message: err.message, details: err.details }
    }
  }

  it('one account guessed from many addresses: its cap stops it, for every address', async () => {
    const c = testClock(Date.parse('2026-03-01T12:00:00Z'))
    const guard = createLoginGuard({ limiter: createMemoryLimiter(), clock: c, limits })
    const check = vi.fn(async () => null)
    for (let i = 0; i < 8; i++) expect(await guard.attempt('victim@example.com', `203.0.113.${i}`, check)).toBeNull()
    const out = await refused(guard.attempt('victim@example.com', '198.51.100.7', check))
    expect(out).toEqual({
      code: 'login_locked',
      message: 'Too many failed login attempts. Try again in 450 seconds.',
      details: { limit: 8, window: 3600, retry_after: 450 },
    })
    expect(check).toHaveBeenCalledTimes(8)
    // Another account from those addresses is not concerned.
    expect(await guard.attempt('someone-else@example.com', '203.0.113.1', check)).toBeNull()
    // The cap refills at 8 per hour: one more try after 450 s.
    c.advance(450_000)
    expect(await guard.attempt('victim@example.com', '198.51.100.8', check)).toBeNull()
    expect(await refused(guard.attempt('victim@example.com', '198.51.100.9', check))).toMatchObject({ code: 'login_locked' })
  })

  it('one address spraying many emails: its cap stops it; an unknown address has none', async () => {
    const c = testClock(Date.parse('2026-03-01T12:00:00Z'))
    const guard = createLoginGuard({ limiter: createMemoryLimiter(), clock: c, limits })
    const check = vi.fn(async () => null)
    for (let i = 0; i < 12; i++) await guard.attempt(`user${i}@example.com`, '192.0.2.1', check)
    expect(await refused(guard.attempt('user99@example.com', '192.0.2.1', check))).toMatchObject({
      code: 'login_locked',
      details: { limit: 12, window: 3600, retry_after: 300 },
    })
    expect(await guard.attempt('user99@example.com', '192.0.2.2', check)).toBeNull()
    for (let i = 0; i < 20; i++) await guard.attempt(`spread${i}@example.com`, '', check)
    expect(check).toHaveBeenCalledTimes(12 + 1 + 20)
  })

  it('successes give the caps their failures back', async () => {
    const c = testClock(Date.parse('2026-03-01T12:00:00Z'))
    const guard = createLoginGuard({ limiter: createMemoryLimiter(), clock: c, limits })
    const user = { id: 'u' }
    // 25: past both caps (8 and 12), within LOGIN_RATE_PER_ADDRESS (30/m), which counts every attempt.
    for (let i = 0; i < 25; i++) expect(await guard.attempt('busy@example.com', '192.0.2.1', async () => user)).toBe(user)
  })

  it('RATE_LIMITS=off: no guard at all', async () => {
    const guard = createLoginGuard({ limiter: createMemoryLimiter(), clock: testClock(), limits: null })
    const check = vi.fn(async () => null)
    for (let i = 0; i < 30; i++) await guard.attempt('x@example.com', '192.0.2.1', check)
    expect(check).toHaveBeenCalledTimes(30)
  })
})
