// The GCRA script on a real Redis: node-redis (Node) and Upstash REST (Workers,
// through the test bridge) run the same script on the same keys, and count
// exactly under bursts sent in parallel over several connections.
import { randomUUID } from 'node:crypto'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GCRA_SCRIPT, scriptSha } from '../../src/limits/gcra'
import type { Charge, Limiter, Mode, Rule } from '../../src/limits/interface'
import { createMemoryLimiter } from '../../src/limits/memory'
import { createRedisLimiter } from '../../src/limits/redis'
import { createUpstashLimiter } from '../../src/limits/upstash'
import { startRedisServer } from '../support/redis-server'
import { services } from '../support/services'
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge'

const { redisUrl: sharedRedisUrl, redisServerBinary } = services()
const available = Boolean(sharedRedisUrl || redisServerBinary)
if (!available) console.log('[zenzefi tests] skipped: test/limits/redis.test.ts — needs a real Redis: set REDIS_URL or install redis-server')

const T0 = 1_800_000_000_000

describe.skipIf(!available)('the GCRA script on a real Redis', () => {
  let redisUrl: string
  let own: Awaited<ReturnType<typeof startRedisServer>> | null = null
  let bridge: UpstashBridge
  let inspect: ReturnType<typeof createClient>
  const limiters: Limiter[] = []
  const prefix = `zenzefi:rl:test:${randomUUID()}:`
  const key = (name: string) => prefix + name

  const redisLimiter = async () => {
    const l = await createRedisLimiter(redisUrl)
    limiters.push(l)
    return l
  }
  const upstashLimiter = () => createUpstashLimiter({ url: bridge.url, token: bridge.token, timeoutMs: 5_000 })

  beforeAll(async () => {
    if (sharedRedisUrl) redisUrl = sharedRedisUrl
    else {
      own = await startRedisServer(redisServerBinary!)
      redisUrl = own.url
    }
    bridge = await startUpstashBridge({ redisUrl })
    inspect = createClient({ url: redisUrl })
    await inspect.connect()
  })
  afterAll(async () => {
    for (const l of limiters) await l.close()
    const keys = await inspect?.keys(`${prefix}*`).catch(() => [])
    if (keys?.length) await inspect.del(keys)
    await inspect?.close().catch(() => {})
    await bridge?.close()
    await own?.kill()
  })

  /** `total` calls at one instant, spread over `connections` limiters and sent all at once. */
  async function burst(make: () => Promise<Limiter> | Limiter, connections: number, total: number, name: string, rule: Rule) {
    const ls = await Promise.all(Array.from({ length: connections }, make))
    const calls = Array.from({ length: total }, (_, i) => ls[i % connections]!.apply([{ key: key(name), rule }], 'take', T0))
    return (await Promise.all(calls)).filter((d) => d.allowed).length
  }

  it('node-redis: exactly the burst out of 400 calls sent in parallel over 4 connections', async () => {
    expect(await burst(redisLimiter, 4, 400, 'node-burst', { intervalMs: 1000, burst: 57 })).toBe(57)
    // The state is one key holding the TAT in µs, expiring when the bucket is empty again.
    const raw = await inspect.get(key('node-burst'))
    expect(Number(raw)).toBe((T0 + 57_000) * 1000)
    const ttl = await inspect.pTTL(key('node-burst'))
    expect(ttl).toBeGreaterThan(56_000)
    expect(ttl).toBeLessThanOrEqual(57_000)
  })

  it('Upstash REST: exactly the burst out of 300 requests in flight at once', async () => {
    expect(await burst(upstashLimiter, 3, 300, 'upstash-burst', { intervalMs: 1000, burst: 41 })).toBe(41)
  })

  it('node-redis and Upstash count the same keys together', async () => {
    const rule = { intervalMs: 1000, burst: 10 }
    const node = await redisLimiter()
    const rest = upstashLimiter()
    const both = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? node : rest).apply([{ key: key('mixed'), rule }], 'take', T0)))
    expect(both.filter((d) => d.allowed)).toHaveLength(10)
  })

  it('gives the in-process limiter’s answers, call for call (check, take, force, refunds, several keys)', async () => {
    const redis = await redisLimiter()
    const rest = upstashLimiter()
    const memory = createMemoryLimiter()
    const id = randomUUID()
    const a: Rule = { intervalMs: 333.3333, burst: 3 }
    const b: Rule = { intervalMs: 60_000, burst: 5 }
    const script: [Mode, number, Charge[]][] = [
      ['take', 0, [{ key: 'a', rule: a }]],
      [
        'take',
        0,
        [
          { key: 'a', rule: a, cost: 2 },
          { key: 'b', rule: b },
        ],
      ],
      [
        'take',
        10,
        [
          { key: 'a', rule: a },
          { key: 'b', rule: b },
        ],
      ],
      ['check', 200, [{ key: 'a', rule: a }]],
      [
        'force',
        300,
        [
          { key: 'a', rule: a, cost: 4 },
          { key: 'b', rule: b, cost: 7 },
        ],
      ],
      ['take', 700, [{ key: 'b', rule: b }]],
      ['force', 700, [{ key: 'b', rule: b, cost: -3 }]],
      [
        'check',
        1500,
        [
          { key: 'a', rule: a, cost: 0 },
          { key: 'b', rule: b, cost: 0 },
        ],
      ],
      ['take', 2400, [{ key: 'a', rule: a }]],
      ['force', 2400, [{ key: 'b', rule: b, cost: -100 }]],
      ['take', 400_000, [{ key: 'b', rule: b, cost: 5 }]],
    ]
    for (const [mode, dt, charges] of script) {
      const named = (p: string) => charges.map((c) => ({ ...c, key: key(`${p}-${id}-${c.key}`) }))
      const expected = await memory.apply(named('m'), mode, T0 + dt)
      expect(await redis.apply(named('r'), mode, T0 + dt), `${mode} at +${dt}`).toEqual(expected)
      expect(await rest.apply(named('u'), mode, T0 + dt), `${mode} at +${dt} (upstash)`).toEqual(expected)
    }
  })

  it('EVALSHA, and EVAL when Redis has lost the script (NOSCRIPT)', async () => {
    const l = await redisLimiter()
    const rest = upstashLimiter()
    const rule = { intervalMs: 1000, burst: 2 }
    await inspect.scriptFlush()
    expect((await inspect.scriptExists(await scriptSha()))[0]).toBeFalsy()
    expect((await l.apply([{ key: key('noscript'), rule }], 'take', T0)).allowed).toBe(true)
    // The fallback EVAL put it back: the next call is a plain EVALSHA.
    expect((await inspect.scriptExists(await scriptSha()))[0]).toBeTruthy()
    await inspect.scriptFlush()
    expect((await rest.apply([{ key: key('noscript'), rule }], 'take', T0)).allowed).toBe(true)
    expect((await l.apply([{ key: key('noscript'), rule }], 'take', T0)).allowed).toBe(false)
    expect(await scriptSha()).toMatch(/^[0-9a-f]{40}$/)
    expect(GCRA_SCRIPT).toContain("redis.call('SET'")
  })

  it('reset forgets a key everywhere', async () => {
    const l = await redisLimiter()
    const rule = { intervalMs: 1000, burst: 1 }
    await l.apply([{ key: key('reset'), rule }], 'take', T0)
    expect((await l.apply([{ key: key('reset'), rule }], 'take', T0)).allowed).toBe(false)
    await upstashLimiter().reset([key('reset')])
    expect((await l.apply([{ key: key('reset'), rule }], 'take', T0)).allowed).toBe(true)
  })
})
