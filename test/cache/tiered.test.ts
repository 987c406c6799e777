import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashAccessToken } from '../../src/crypto/access-token'
import { customer, type Gateway, startGateway, startUpstream, type Upstream } from '../support/gateway'
import { purchase, signUp, startApp, type TestDatabase, testDatabase } from '../support/harness'
import { startRedisServer } from '../support/redis-server'
import { services } from '../support/services'
import { startTcpProxy } from '../support/tcp-proxy'

async function eventually(fn: () => Promise<unknown>, ms = 5000) {
  const until = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > until) throw err
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

const { redisUrl, redisServerBinary } = services()

let db: TestDatabase
beforeAll(async () => {
  db = await testDatabase()
})
afterAll(async () => {
  await db?.drop()
})

describe.skipIf(!redisUrl)('two instances on one database and one Redis', () => {
  // Real servers: "the next request" reaches B over a socket, as it would from a client.
  let up: Upstream
  let a: Gateway
  let b: Gateway
  beforeAll(async () => {
    up = await startUpstream()
    up.on((_req, res) => res.end('ok'))
    a = await startGateway({ database: db, upstream: up })
    b = await startGateway({ database: db, upstream: up })
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await up?.close()
  })
  const viaB = (token: string) => fetch(`${b.url}/api/v1/proxy/x`, { headers: { 'x-access-token': token } }).then((r) => r.status)

  it('a revoke on one instance is refused by the other on its very next request', async () => {
    const { token, tokenId, jwt } = await customer(a.t)
    expect(await viaB(token)).toBe(200)
    expect(await viaB(token)).toBe(200) // B's in-process tier now holds it
    const res = await a.t.request(`/api/v1/tokens/${tokenId}`, { method: 'DELETE', bearer: jwt })
    expect(res.status).toBe(200)
    expect(await viaB(token)).toBe(401)
  })

  it('deactivating a user on one instance refuses their tokens on the other at once', async () => {
    const { token, user } = await customer(a.t)
    expect(await viaB(token)).toBe(200)
    await a.t.services.accounts.setActive(user.id, false)
    expect(await viaB(token)).toBe(401)
  })

  it('activation on one instance is seen by the other: one expiry for both', async () => {
    const { token } = await customer(a.t, 12)
    expect(await b.t.services.tokens.checkStatus(token)).toMatchObject({ activatedAt: null })
    const first = await a.t.services.tokens.validateAndActivate(token)
    const second = await b.t.services.tokens.validateAndActivate(token)
    expect(second!.expiresAt).toBe(first!.expiresAt)
  })

  it('keeps the grant in Redis under its hash with a TTL of the time left', async () => {
    const { token } = await customer(a.t, 1)
    await a.t.services.tokens.validateAndActivate(token)
    const redis = createClient({ url: redisUrl! })
    await redis.connect()
    try {
      const key = `zenzefi:token:${await hashAccessToken(token)}`
      const ttl = await redis.ttl(key)
      expect(ttl).toBeGreaterThan(3590)
      expect(ttl).toBeLessThanOrEqual(3600)
      expect(await redis.get(key)).not.toContain(token)
      expect(await redis.keys(`*${token}*`)).toEqual([])
    } finally {
      await redis.close()
    }
  })
})

describe.skipIf(!redisServerBinary)('when Redis fails', () => {
  it('a killed Redis is a cache miss: tokens keep working from Postgres, revocation still bites, health says unhealthy', async () => {
    const redis = await startRedisServer(redisServerBinary!)
    const t = await startApp({ database: db, redisUrl: redis.url })
    try {
      const { jwt } = await signUp(t)
      const token = await purchase(t, jwt)
      const other = await purchase(t, jwt)
      expect(await t.services.tokens.validateAndActivate(token.token)).not.toBeNull()
      expect((await t.request('/health/detailed')).status).not.toBe(503)

      await redis.kill()
      const started = performance.now()
      expect(await t.services.tokens.validateAndActivate(other.token)).not.toBeNull() // never cached: straight from Postgres
      expect(await t.services.tokens.validateAndActivate(token.token)).not.toBeNull()
      expect(performance.now() - started).toBeLessThan(2000)

      const res = await t.request(`/api/v1/tokens/${token.id}`, { method: 'DELETE', bearer: jwt })
      expect(res.status).toBe(200)
      expect(await t.services.tokens.validateAndActivate(token.token)).toBeNull()

      const health = await t.request('/health/detailed')
      expect(health.status).toBe(503)
      const report = await health.json()
      expect(report.status).toBe('unhealthy')
      expect(report.checks.redis.status).toBe('down')
      expect(report.checks.database.status).toBe('up')
    } finally {
      await t.close()
      await redis.kill()
    }
  })

  it('a revoke made while Redis was unreachable is not undone when Redis comes back', async () => {
    const redis = await startRedisServer(redisServerBinary!)
    const link = await startTcpProxy(redis.port)
    const url = `redis://127.0.0.1:${link.port}/0`
    const a = await startApp({ database: db, redisUrl: url })
    try {
      const { jwt } = await signUp(a)
      const token = await purchase(a, jwt)
      await a.services.tokens.validateAndActivate(token.token) // the grant is now in Redis
      link.cut() // a partition: the revoke below cannot reach Redis
      expect((await a.request(`/api/v1/tokens/${token.id}`, { method: 'DELETE', bearer: jwt })).status).toBe(200)
      expect(await a.services.tokens.validateAndActivate(token.token)).toBeNull()
      link.heal()
      await eventually(() => a.deps.cache.ping())
      await a.services.tokens.checkStatus('A'.repeat(64)) // the next lookup that reaches Redis replays the invalidation
      // A fresh instance trusts Redis before Postgres: the stale grant must be gone.
      const b = await startApp({ database: db, redisUrl: redis.url })
      try {
        expect(await b.services.tokens.validateAndActivate(token.token)).toBeNull()
      } finally {
        await b.close()
      }
    } finally {
      await a.close()
      await link.close()
      await redis.kill()
    }
  })
})
