// The API's request limits over real requests (the Node server, from 127.0.0.1), each
// file's counts in its own process (REDIS_URL unset for these apps: the address is
// the same for every test run, so a shared Redis would carry counts from one run
// into the next). Sharing through Redis is test/limits/instances.test.ts.
import { describe, expect, it } from 'vitest'
import { gatewayFixture } from '../support/gateway'
import { newAccount, signUp } from '../support/harness'

type Fixture = ReturnType<typeof gatewayFixture>
const post = (f: Fixture, path: string, json: unknown, bearer?: string) =>
  fetch(`${f.gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(json),
  })
const limited = async (res: Response) => ({ status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() })

describe('limits on', () => {
  const f = gatewayFixture({
    REDIS_URL: '',
    REGISTER_RATE_PER_ADDRESS: '3/h',
    LOGIN_RATE_PER_ADDRESS: '4/m',
    PURCHASE_RATE_PER_ACCOUNT: '2/m',
    PURCHASE_RATE_PER_ADDRESS: '3/m',
  })

  it('registrations per address: the 4th of 3/h is a 429 with the limit, the window and Retry-After', async () => {
    for (let i = 0; i < 3; i++) expect((await post(f, '/api/v1/auth/register', newAccount())).status).toBe(201)
    const res = await post(f, '/api/v1/auth/register', newAccount())
    expect(await limited(res)).toEqual({
      status: 429,
      retryAfter: '1200',
      body: { detail: 'Too many requests. Try again in 1200 seconds.', limit: 3, window: 3600, retry_after: 1200 },
    })
    // Time moves on the app's clock: one registration every 20 minutes.
    f.gw.t.clock.advance(1_200_000)
    expect((await post(f, '/api/v1/auth/register', newAccount())).status).toBe(201)
    expect((await post(f, '/api/v1/auth/register', newAccount())).status).toBe(429)
  })

  it('login attempts per address, whatever their outcome, before any password check', async () => {
    f.gw.t.clock.advance(3_600_000)
    const { account } = await signUp(f.gw.t)
    expect((await post(f, '/api/v1/auth/login', { email: account.email, password: account.password })).status).toBe(200)
    expect((await post(f, '/api/v1/auth/login', { email: account.email, password: 'wrong password' })).status).toBe(401)
    expect((await post(f, '/api/v1/auth/login', { email: newAccount().email, password: 'x' })).status).toBe(401)
    expect((await post(f, '/api/v1/auth/login', { email: account.email, password: account.password })).status).toBe(200)
    const res = await post(f, '/api/v1/auth/login', { email: account.email, password: account.password })
    expect(await limited(res)).toEqual({
      status: 429,
      retryAfter: '15',
      body: { detail: 'Too many requests. Try again in 15 seconds.', limit: 4, window: 60, retry_after: 15 },
    })
    f.gw.t.clock.advance(15_000)
    expect((await post(f, '/api/v1/auth/login', { email: account.email, password: account.password })).status).toBe(200)
  })

  it('purchases per account (2/m) and per address (3/m)', async () => {
    f.gw.t.clock.advance(3_600_000)
    const a = await signUp(f.gw.t)
    const b = await signUp(f.gw.t)
    expect((await post(f, '/api/v1/tokens/purchase', { duration_hours: 1 }, a.jwt)).status).toBe(201)
    expect((await post(f, '/api/v1/tokens/purchase', { duration_hours: 1 }, a.jwt)).status).toBe(201)
    expect(await limited(await post(f, '/api/v1/tokens/purchase', { duration_hours: 1 }, a.jwt))).toEqual({
      status: 429,
      retryAfter: '30',
      body: { detail: 'Too many requests. Try again in 30 seconds.', limit: 2, window: 60, retry_after: 30 },
    })
    // b has its own account budget, but shares the address's: 3 from here this minute.
    expect((await post(f, '/api/v1/tokens/purchase', { duration_hours: 1 }, b.jwt)).status).toBe(201)
    expect(await limited(await post(f, '/api/v1/tokens/purchase', { duration_hours: 1 }, b.jwt))).toMatchObject({
      status: 429,
      body: { limit: 3, window: 60 },
    })
    // In-process requests carry no address: only the account's limit applies to them.
    expect((await f.gw.t.request('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: 1 }, bearer: b.jwt })).status).toBe(201)
    expect((await f.gw.t.request('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: 1 }, bearer: b.jwt })).status).toBe(429)
  })

  it('the OpenAPI document describes the 429', async () => {
    const doc = (await (await fetch(`${f.gw.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
      components: { schemas: Record<string, { required?: string[] }> }
    }
    for (const path of ['/api/v1/auth/login', '/api/v1/auth/register', '/api/v1/tokens/purchase']) expect(doc.paths[path]!.post!.responses['429']).toBeDefined()
    expect(doc.components.schemas.LimitError!.required).toEqual(['detail', 'limit', 'window', 'retry_after'])
  })
})

describe('RATE_LIMITS=off', () => {
  const f = gatewayFixture({
    REDIS_URL: '',
    RATE_LIMITS: 'off',
    REGISTER_RATE_PER_ADDRESS: '1/h',
    LOGIN_RATE_PER_ADDRESS: '1/h',
    PURCHASE_RATE_PER_ACCOUNT: '1/h',
  })

  it('lifts every limit, failed-login locks included, and says so at start', async () => {
    expect(f.gw.t.logs.some((l) => l.includes('RATE_LIMITS=off'))).toBe(true)
    for (let i = 0; i < 3; i++) expect((await post(f, '/api/v1/auth/register', newAccount())).status).toBe(201)
    const { account, jwt } = await signUp(f.gw.t)
    for (let i = 0; i < 8; i++) expect((await post(f, '/api/v1/auth/login', { email: account.email, password: 'wrong password' })).status).toBe(401)
    expect((await post(f, '/api/v1/auth/login', { email: account.email, password: account.password })).status).toBe(200)
    for (let i = 0; i < 3; i++) expect((await post(f, '/api/v1/tokens/purchase', { duration_hours: 1 }, jwt)).status).toBe(201)
  })
})
