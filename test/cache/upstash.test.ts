import { randomUUID } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import { Redis } from '@upstash/redis/cloudflare'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TokenGrant } from '../../src/cache/interface'
import { tokenKey } from '../../src/cache/keys'
import { createRedisStore } from '../../src/cache/redis'
import { createTieredCache } from '../../src/cache/tiered'
import { createUpstashStore } from '../../src/cache/upstash'
import { generateAccessToken, hashAccessToken } from '../../src/crypto/access-token'
import { createLogger } from '../../src/logger'
import { freePort } from '../support/gateway'
import { purchase, signUp, startApp, type TestDatabase, testDatabase } from '../support/harness'
import { startRedisServer } from '../support/redis-server'
import { services } from '../support/services'
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge'

const { redisUrl: sharedRedisUrl, redisServerBinary } = services()
const available = Boolean(sharedRedisUrl || redisServerBinary)
if (!available) {
  console.log('[zenzefi tests] skipped: test/cache/upstash.test.ts — the REST bridge needs a real Redis: set REDIS_URL or install redis-server')
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 3000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (ok(v) || Date.now() > until) return v
    await new Promise((r) => setTimeout(r, 20))
  }
}

const grant = (over: Partial<TokenGrant> = {}): TokenGrant => ({
  tokenId: randomUUID(),
  userId: randomUUID(),
  durationHours: 24,
  activatedAt: Date.now(),
  expiresAt: Date.now() + 24 * 3_600_000,
  ...over,
})

/** A real token and its lookup hash, as the app would cache it. */
async function presented() {
  const token = generateAccessToken()
  return { token, hash: await hashAccessToken(token) }
}

function memoryLog() {
  const lines: string[] = []
  return { lines, log: createLogger((l) => lines.push(l), 'debug') }
}

describe.skipIf(!available)('the Upstash store (Workers runtime) on a real Redis behind the REST protocol', () => {
  let redisUrl: string
  let ownRedis: Awaited<ReturnType<typeof startRedisServer>> | null = null
  let bridge: UpstashBridge
  /** Direct TCP access to the same Redis, to see what the store really wrote. */
  let inspect: ReturnType<typeof createClient>
  const closers: (() => Promise<unknown>)[] = []
  const touched: string[] = []

  beforeAll(async () => {
    if (sharedRedisUrl) redisUrl = sharedRedisUrl
    else {
      ownRedis = await startRedisServer(redisServerBinary!)
      redisUrl = ownRedis.url
    }
    bridge = await startUpstashBridge({ redisUrl })
    inspect = createClient({ url: redisUrl })
    await inspect.connect()
  })
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => {})
    if (touched.length) await inspect?.del(touched.map(tokenKey)).catch(() => {})
    await inspect?.close().catch(() => {})
    await bridge?.close()
    await ownRedis?.kill()
  })

  const upstash = (over: { url?: string; token?: string } = {}) => createUpstashStore({ url: over.url ?? bridge.url, token: over.token ?? bridge.token })
  const nodeStore = async () => {
    const s = await createRedisStore(redisUrl)
    closers.push(() => s.close())
    return s
  }
  const hashed = async () => {
    const p = await presented()
    touched.push(p.hash)
    return p
  }

  describe('the bridge speaks what @upstash/redis expects', () => {
    it('single commands, pipelines and transactions, with base64 replies, Redis errors and binary-safe values', async () => {
      const client = new Redis({ url: bridge.url, token: bridge.token, enableAutoPipelining: false, enableTelemetry: false })
      const key = `zenzefi:bridge-test:${randomUUID()}`
      try {
        expect(await client.set(key, 'héllo ✓', { ex: 60 })).toBe('OK')
        expect(await client.get(key)).toBe('héllo ✓')
        expect(await client.ping()).toBe('PONG')
        await expect(client.incr(key)).rejects.toThrow(/not an integer/)
        expect(await client.pipeline().set(key, '41', { ex: 60 }).incr(key).get(key).exec()).toEqual(['OK', 42, 42])
        expect(await client.multi().incr(key).get(key).mget(key, `${key}:none`).exec()).toEqual([43, 43, [43, null]])
        await expect(client.pipeline().set(key, 'x').incr(key).exec()).rejects.toThrow(/Command 2 \[ incr \] failed: ERR value is not an integer/)
      } finally {
        await inspect.del(key)
      }
    })

    it('answers in Upstash JSON: base64 on request, 401 for a wrong token, 400 {error} for a bad command', async () => {
      const key = `zenzefi:bridge-test:${randomUUID()}`
      const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
        fetch(`${bridge.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bridge.token}`, 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
        })
      try {
        await inspect.set(key, Buffer.from([0xff, 0x00, 0x41]))
        const b64 = await post('/', ['GET', key], { 'upstash-encoding': 'base64' })
        expect(await b64.json()).toEqual({ result: Buffer.from([0xff, 0x00, 0x41]).toString('base64') })
        expect(await (await post('/pipeline', [['SET', key, 'v', 'EX', 60], ['PING'], ['TTL', key]], { 'upstash-encoding': 'base64' })).json()).toEqual([
          { result: 'OK' },
          { result: Buffer.from('PONG').toString('base64') },
          { result: 60 },
        ])
        expect(await (await post('/', ['GET', key])).json()).toEqual({ result: 'v' })
        const wrong = await post('/', ['GET', key], { authorization: 'Bearer nope' })
        expect(wrong.status).toBe(401)
        expect(await wrong.json()).toEqual({ error: 'Unauthorized' })
        const bad = await post('/', ['NOSUCHCOMMAND'])
        expect(bad.status).toBe(400)
        expect((await bad.json()).error).toMatch(/^ERR unknown command/)
        const aborted = await post('/multi-exec', [
          ['SET', key, 'w'],
          ['SET', key],
        ])
        expect(aborted.status).toBe(400)
        expect((await aborted.json()).error).toMatch(/^EXECABORT/)
        expect(await inspect.get(key)).toBe('v') // nothing of the aborted transaction ran
      } finally {
        await inspect.del(key)
      }
    })
  })

  it('set, get, TTL and delete round-trip over REST, under the hash, with no token in the stored value', async () => {
    const store = upstash()
    expect(store.kind).toBe('upstash')
    const { token, hash } = await hashed()
    const g = grant()
    const before = bridge.requests()
    await store.set(hash, g, 90)
    expect(await store.get(hash)).toEqual(g)
    expect(bridge.requests()).toBeGreaterThan(before) // really over the REST bridge

    const key = `zenzefi:token:${hash}`
    expect(tokenKey(hash)).toBe(key)
    const ttl = await inspect.ttl(key)
    expect(ttl).toBeGreaterThan(85)
    expect(ttl).toBeLessThanOrEqual(90)
    const raw = await inspect.get(key)
    expect(JSON.parse(String(raw))).toEqual(g)
    expect(raw).not.toContain(token)
    expect(await inspect.keys(`*${token}*`)).toEqual([])

    await store.set(hash, g, 0.2) // a sub-second remainder still expires, never lingers
    expect(await inspect.ttl(key)).toBe(1)

    await store.delete([hash])
    expect(await store.get(hash)).toBeNull()
    expect(await inspect.exists(key)).toBe(0)
    await store.ping()
  })

  it('reads what the Node (node-redis) store writes and the other way round: one key scheme, one encoding', async () => {
    const worker = upstash()
    const node = await nodeStore()
    const a = await hashed()
    const b = await hashed()
    const ga = grant({ activatedAt: null, expiresAt: null })
    const gb = grant()
    await node.set(a.hash, ga, 60)
    await worker.set(b.hash, gb, 60)
    expect(await worker.get(a.hash)).toEqual(ga)
    expect(await node.get(b.hash)).toEqual(gb)
    await worker.delete([a.hash, b.hash])
    expect(await node.get(a.hash)).toBeNull()
    expect(await node.get(b.hash)).toBeNull()
  })

  it('a wrong REST token is an error, which the real tiered cache turns into a miss without logging the command', async () => {
    const { hash } = await hashed()
    await upstash().set(hash, grant(), 60)
    const wrong = upstash({ token: 'not-the-token' })
    await expect(wrong.get(hash)).rejects.toThrow(/Unauthorized/)

    const { lines, log } = memoryLog()
    const cache = await createTieredCache(wrong, log)
    expect(cache.kind).toBe('upstash')
    expect(await cache.get(hash)).toBeNull()
    await cache.set(hash, grant(), 60) // swallowed: the caller has the database
    await expect(cache.ping()).rejects.toThrow(/Unauthorized/)
    expect(lines.join('\n')).toContain('token cache unavailable')
    expect(lines.join('\n')).not.toContain(hash) // Upstash errors quote the command; the store strips it
  })

  it('an unreachable Upstash is a miss within half a second: refused connections and a server that never answers', async () => {
    const closedPort = await freePort()
    const held = new Set<Socket>()
    const hung: Server = createServer((s) => void held.add(s)) // accepts, then says nothing
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r))
    closers.push(() => {
      for (const s of held) s.destroy()
      return new Promise((r) => hung.close(r))
    })
    const hungPort = (hung.address() as { port: number }).port
    const { hash } = await presented()

    for (const url of [`http://127.0.0.1:${closedPort}`, `http://127.0.0.1:${hungPort}`]) {
      const { log } = memoryLog()
      const store = upstash({ url })
      const cache = await createTieredCache(store, log)
      let started = performance.now()
      expect(await cache.get(hash)).toBeNull()
      expect(performance.now() - started).toBeLessThan(500)
      started = performance.now()
      await cache.set(hash, grant(), 60)
      await cache.invalidate([hash])
      expect(performance.now() - started).toBeLessThan(1000) // two commands, each bounded
      started = performance.now()
      await expect(store.get(hash)).rejects.toThrow(/upstash get failed/)
      expect(performance.now() - started).toBeLessThan(500)
    }
  })

  it('a revoke in a Worker is heard by Node instances subscribed over TCP: their in-process copy goes at once', async () => {
    const node = await nodeStore()
    const heard: string[][] = []
    await node.onInvalidation((hashes) => heard.push(hashes))
    const worker = upstash()
    const a = await hashed()
    const b = await hashed()
    await worker.publishInvalidation([a.hash, b.hash])
    const got = await eventually(
      async () => heard.find((h) => h.includes(a.hash)),
      (h) => h !== undefined,
    )
    expect(got).toEqual([a.hash, b.hash]) // same channel, same message format

    // Through both tiered caches, as the two runtimes wire them.
    const g = grant()
    const nodeCache = await createTieredCache(await nodeStore(), memoryLog().log, { localTtlMs: 60_000 })
    const closedOnNode: string[][] = []
    nodeCache.onInvalidate((hashes) => closedOnNode.push(hashes))
    const workerCache = await createTieredCache(upstash(), memoryLog().log, { localTtlMs: 1_000 })
    const { hash } = await hashed()
    await nodeCache.set(hash, g, 3600)
    expect(await workerCache.get(hash)).toEqual(g) // from Redis, over REST
    await workerCache.invalidate([hash])
    expect(await workerCache.get(hash)).toBeNull()
    expect(await inspect.exists(tokenKey(hash))).toBe(0)
    // Node's local tier would answer for a minute; only the published invalidation can empty it.
    expect(
      await eventually(
        async () => nodeCache.get(hash),
        (v) => v === null,
      ),
    ).toBeNull()
    expect(closedOnNode.some((h) => h.includes(hash))).toBe(true)
  })

  it('a revoke on Node reaches a Worker isolate no later than its short local TTL (no push over REST)', async () => {
    let now = Date.now()
    const workerStore = upstash()
    const seen: string[][] = []
    await workerStore.onInvalidation((hashes) => seen.push(hashes)) // recorded, never pushed from elsewhere
    const workerCache = await createTieredCache(workerStore, memoryLog().log, { localTtlMs: 2_000, now: () => now })
    const nodeCache = await createTieredCache(await nodeStore(), memoryLog().log)
    const { hash } = await hashed()
    const g = grant()
    await nodeCache.set(hash, g, 3600)
    expect(await workerCache.get(hash)).toEqual(g) // now in the isolate's local tier
    await nodeCache.invalidate([hash])
    await new Promise((r) => setTimeout(r, 100)) // time for a push, were there one
    expect(seen.some((h) => h.includes(hash))).toBe(false)
    expect(await workerCache.get(hash)).toEqual(g) // the documented window…
    now += 2_001
    expect(await workerCache.get(hash)).toBeNull() // …closes with the local TTL: Redis no longer has it

    // The isolate's own revocations do reach its listeners (the interface's "including this one").
    await workerCache.invalidate([hash])
    expect(seen.some((h) => h.includes(hash))).toBe(true)
  })

  describe('the real app with the Upstash store as its shared cache', () => {
    let db: TestDatabase
    beforeAll(async () => {
      db = await testDatabase()
    })
    afterAll(async () => {
      await db?.drop()
    })

    it('purchase → activate → revoke → refused, and a Node instance on the same Redis refuses it too', async () => {
      const { lines, log } = memoryLog()
      const worker = await startApp({
        database: db,
        cache: await createTieredCache(upstash(), log, { localTtlMs: 1_000 }),
        env: { UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: bridge.token },
      })
      const node = await startApp({ database: db, redisUrl })
      try {
        const { jwt } = await signUp(worker)
        const bought = await purchase(worker, jwt, 1)
        const hash = await hashAccessToken(bought.token)
        touched.push(hash)

        const first = await worker.services.tokens.validateAndActivate(bought.token)
        expect(first).toMatchObject({ tokenId: bought.id, activatedAt: expect.any(Number), expiresAt: expect.any(Number) })
        const stored = await inspect.get(tokenKey(hash))
        expect(JSON.parse(String(stored))).toEqual(first)
        expect(stored).not.toContain(bought.token)
        const ttl = await inspect.ttl(tokenKey(hash))
        expect(ttl).toBeGreaterThan(3590)
        expect(ttl).toBeLessThanOrEqual(3600)

        // The Node instance finds the Worker's activation in Redis: one expiry for both, now held in its local tier.
        expect((await node.services.tokens.validateAndActivate(bought.token))?.expiresAt).toBe(first!.expiresAt)

        const health = await (await worker.request('/health/detailed')).json()
        expect(health.checks.redis).toMatchObject({ status: 'up' })

        const res = await worker.request(`/api/v1/tokens/${bought.id}`, { method: 'DELETE', bearer: jwt })
        expect(res.status).toBe(200)
        expect(await worker.services.tokens.validateAndActivate(bought.token)).toBeNull()
        expect(await inspect.exists(tokenKey(hash))).toBe(0)
        expect(
          await eventually(
            () => node.services.tokens.validateAndActivate(bought.token),
            (v) => v === null,
          ),
        ).toBeNull()

        expect([...lines, ...worker.logs].join('\n')).not.toContain(bought.token)
      } finally {
        await worker.close()
        await node.close()
      }
    })
  })
})
