// Limits across instances: two apps on one Redis count together (the failed-login
// lock, the API limits, the proxy's buckets once synced), and with Redis gone each
// instance goes on limiting with what it counted itself — never without limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { proxyBucketKey } from '../../src/gateway/steps/rate-limit'
import { proxyRequest } from '../gateway/steps/request'
import { purchase, signUp, startApp, type TestApp, type TestDatabase, testDatabase } from '../support/harness'
import { startRedisServer } from '../support/redis-server'
import { services } from '../support/services'

const { redisUrl, redisServerBinary } = services()
if (!redisUrl) console.log('[zenzefi tests] skipped: limits shared by two instances (test/limits/instances.test.ts) — set REDIS_URL to run them')
if (!redisServerBinary) console.log('[zenzefi tests] skipped: limits with Redis down (test/limits/instances.test.ts) — install redis-server to run them')

const login = (t: TestApp, email: string, password: string) => t.request('/api/v1/auth/login', { method: 'POST', json: { email, password } })

let db: TestDatabase
beforeAll(async () => {
  db = await testDatabase()
})
afterAll(async () => {
  await db?.drop()
})

describe.skipIf(!redisUrl)('two instances on one Redis (REDIS_URL)', () => {
  let a: TestApp
  let b: TestApp
  beforeAll(async () => {
    const env = { PURCHASE_RATE_PER_ACCOUNT: '3/m', PROXY_RATE_PER_SECOND: '1', PROXY_RATE_BURST: '10' }
    a = await startApp({ database: db, redisUrl, env })
    // The same moment on both clocks, as NTP would have it.
    b = await startApp({ database: db, redisUrl, env, clock: a.clock })
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
  })

  it('failures on one instance lock the pair on the other', async () => {
    const { account } = await signUp(a)
    for (let i = 0; i < 3; i++) expect((await login(a, account.email, 'wrong password')).status).toBe(401)
    for (let i = 0; i < 2; i++) expect((await login(b, account.email, 'wrong password')).status).toBe(401)
    const [onA, onB] = [await login(a, account.email, account.password), await login(b, account.email, account.password)]
    expect([onA.status, onB.status]).toEqual([429, 429])
    expect(await onA.json()).toEqual(await onB.json())
  })

  it('a success on one instance clears the failures the other counted', async () => {
    const { account } = await signUp(a)
    for (let i = 0; i < 4; i++) expect((await login(b, account.email, 'wrong password')).status).toBe(401)
    expect((await login(a, account.email, account.password)).status).toBe(200)
    for (let i = 0; i < 4; i++) expect((await login(b, account.email, 'wrong password')).status).toBe(401)
    expect((await login(b, account.email, account.password)).status).toBe(200)
  })

  it('purchases per account are counted once across both', async () => {
    const { jwt } = await signUp(a)
    await purchase(a, jwt, 1)
    await purchase(b, jwt, 1)
    await purchase(a, jwt, 1)
    const res = await b.request('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: 1 }, bearer: jwt })
    expect(res.status).toBe(429)
  })

  it("the proxy buckets: what one instance admitted reaches the other's bucket at the next sync", async () => {
    const { jwt } = await signUp(a)
    const { token } = await purchase(a, jwt, 24)
    const run = (t: TestApp) => t.gateway.pipeline.run(proxyRequest({ headers: { 'x-access-token': token } }))
    const now = a.clock.now().getTime()
    // The whole burst on a; nothing waits on Redis.
    for (let i = 0; i < 10; i++) {
      const out = await run(a)
      expect(out.kind).toBe('forward')
      if (out.kind === 'forward') out.release()
    }
    expect((await run(a)).kind).toBe('reply')
    await a.gateway.proxyLimits!.buckets!.flush(now)
    // b has not counted anything of its own: its first sync brings it a's ten.
    const first = await run(b)
    if (first.kind === 'forward') first.release()
    await b.gateway.proxyLimits!.buckets!.flush(now)
    const refused = await run(b)
    expect(refused).toMatchObject({ kind: 'reply', step: 'rate-limit', reply: { status: 429 } })
    expect(proxyBucketKey('x')).toBe('zenzefi:rl:proxy:x')
  })
})

describe.skipIf(!redisServerBinary)('Redis down: per-instance limits', () => {
  let redis: Awaited<ReturnType<typeof startRedisServer>>
  let t: TestApp
  beforeAll(async () => {
    redis = await startRedisServer(redisServerBinary!)
    t = await startApp({ database: db, redisUrl: redis.url, env: { PURCHASE_RATE_PER_ACCOUNT: '2/m' } })
  })
  afterAll(async () => {
    await t?.close()
    await redis?.kill()
  })

  it('keeps counting what this instance saw: a lock begun with Redis up completes with it down', async () => {
    const { account, jwt } = await signUp(t)
    for (let i = 0; i < 3; i++) expect((await login(t, account.email, 'wrong password')).status).toBe(401)
    await purchase(t, jwt, 1)
    await redis.kill()
    for (let i = 0; i < 2; i++) expect((await login(t, account.email, 'wrong password')).status).toBe(401)
    const res = await login(t, account.email, account.password)
    expect(res.status).toBe(429)
    expect(((await res.json()) as { detail: string }).detail).toBe('Too many failed login attempts. Try again in 900 seconds.')
    // Never a 5xx: the purchase limit also goes on, locally.
    await purchase(t, jwt, 1)
    expect((await t.request('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: 1 }, bearer: jwt })).status).toBe(429)
    // A fresh account, all of it with Redis down: still locked after 5.
    const other = await signUp(t)
    for (let i = 0; i < 5; i++) expect((await login(t, other.account.email, 'wrong password')).status).toBe(401)
    expect((await login(t, other.account.email, other.account.password)).status).toBe(429)
    expect(t.logs.some((l) => l.includes('rate limit store unavailable, limiting per instance'))).toBe(true)
  })
})
