import { describe, expect, it } from 'vitest'
import { detailReply } from '../../../src/gateway/answers'
import { createLiveSessions } from '../../../src/gateway/live-sessions'
import { createPipeline, type Step } from '../../../src/gateway/pipeline'
import { type ProxyLimits, rateLimit } from '../../../src/gateway/steps/rate-limit'
import { createLocalBuckets } from '../../../src/limits/local-buckets'
import { createMemoryLimiter } from '../../../src/limits/memory'
import { appFixture, purchase, signUp } from '../../support/harness'
import { proxyRequest } from './request'

const f = appFixture({ PROXY_RATE_PER_SECOND: '2', PROXY_RATE_BURST: '5', PROXY_MAX_IN_FLIGHT: '2' })

async function tokenOf() {
  const { jwt } = await signUp(f.t)
  return (await purchase(f.t, jwt)).token
}
const run = (token: string, kind: 'http' | 'websocket' = 'http') => f.t.gateway.pipeline.run(proxyRequest({ kind, headers: { 'x-access-token': token } }))
const bodyOf = (out: Awaited<ReturnType<typeof run>>) => (out.kind === 'reply' ? JSON.parse(out.reply.body) : null)
const headerOf = (out: Awaited<ReturnType<typeof run>>, name: string) => {
  if (out.kind !== 'reply') return null
  const i = out.reply.headers.findIndex((h, j) => j % 2 === 0 && h.toLowerCase() === name)
  return i < 0 ? null : out.reply.headers[i + 1]
}

describe('rate-limit', () => {
  it('a burst of PROXY_RATE_BURST, then 429 with Retry-After and the limit, until the bucket refills', async () => {
    const token = await tokenOf()
    for (let i = 0; i < 5; i++) {
      const out = await run(token)
      expect(out.kind).toBe('forward')
      if (out.kind === 'forward') out.release()
    }
    const refused = await run(token)
    expect(refused).toMatchObject({ kind: 'reply', step: 'rate-limit', reply: { status: 429 } })
    expect(headerOf(refused, 'retry-after')).toBe('1')
    expect(bodyOf(refused)).toEqual({ detail: 'Too many requests. Try again in 1 seconds.', limit: 2, window: 1, retry_after: 1 })
    // Upgrades spend the same bucket.
    expect((await run(token, 'websocket')).kind).toBe('reply')
    f.t.clock.advance(500)
    const again = await run(token, 'websocket')
    expect(again.kind).toBe('forward')
    expect((await run(token)).kind).toBe('reply')
    // Another token has its own bucket.
    const other = await run(await tokenOf())
    expect(other.kind).toBe('forward')
    if (other.kind === 'forward') other.release()
  })

  it('PROXY_MAX_IN_FLIGHT HTTP requests at once per token; a place comes back when one ends', async () => {
    const token = await tokenOf()
    const a = await run(token)
    const b = await run(token)
    if (a.kind !== 'forward' || b.kind !== 'forward') throw new Error('refused')
    const third = await run(token)
    expect(third).toMatchObject({ kind: 'reply', step: 'rate-limit', reply: { status: 429 } })
    expect(bodyOf(third)).toEqual({
      detail: 'Too many requests in progress for this access token. Try again in 1 seconds.',
      limit: 2,
      window: 0,
      retry_after: 1,
    })
    // WebSockets are not HTTP requests in flight (websocket-cap counts them).
    const ws = await run(token, 'websocket')
    expect(ws.kind).toBe('forward')
    a.release()
    a.release() // twice is once
    const c = await run(token)
    expect(c.kind).toBe('forward')
    expect((await run(token)).kind).toBe('reply')
    b.release()
    if (c.kind === 'forward') c.release()
    expect(f.t.gateway.proxyLimits!.inFlight.size).toBe(0)
  })

  it('a refusal for requests in flight does not spend the rate', async () => {
    const token = await tokenOf()
    const held = [await run(token), await run(token)]
    for (let i = 0; i < 10; i++) expect((await run(token)).kind).toBe('reply')
    for (const h of held) if (h.kind === 'forward') h.release()
    // 2 of the burst of 5 were spent, 3 are left.
    for (let i = 0; i < 3; i++) {
      const out = await run(token)
      expect(out.kind).toBe('forward')
      if (out.kind === 'forward') out.release()
    }
    expect(bodyOf(await run(token))).toMatchObject({ limit: 2, window: 1 })
  })
})

describe('the in-flight place is given back however the request ends', () => {
  const limits = (): ProxyLimits => ({ buckets: null, ratePerSecond: 0, maxInFlight: 1, inFlight: new Map() })
  const authorized: Step = {
    name: 'authorize',
    run: (s) => {
      s.auth = { hash: 'h', grant: { tokenId: 't', userId: 'u', durationHours: 1, activatedAt: null, expiresAt: null } }
      return undefined
    },
  }
  const req = () => proxyRequest({ requestId: 'r' } as never)

  it('a later step answering, or throwing, releases it in the pipeline', async () => {
    const l = limits()
    const answering = createPipeline([authorized, rateLimit(l, Date.now), { name: 'later', run: () => detailReply(409, 'no') }], () => null)
    expect((await answering.run(req())).kind).toBe('reply')
    expect(l.inFlight.size).toBe(0)
    const throwing = createPipeline([authorized, rateLimit(l, Date.now), { name: 'later', run: () => Promise.reject(new Error('bug')) }], () => null)
    await expect(throwing.run(req())).rejects.toThrow('bug')
    expect(l.inFlight.size).toBe(0)
  })

  it('a live session registered with it releases it once: on its end, a revocation or expiry', async () => {
    const listeners: ((hashes: string[]) => void)[] = []
    let now = 1_000
    const sessions = createLiveSessions({ cache: { onInvalidate: (l: (h: string[]) => void) => listeners.push(l) } as never, now: () => now })
    let released = 0
    const end = sessions.register(
      'h',
      null,
      () => {},
      'stream',
      () => released++,
    )
    end()
    end()
    expect(released).toBe(1)
    sessions.register(
      'h',
      null,
      () => {},
      'stream',
      () => released++,
    )
    for (const l of listeners) l(['h'])
    expect(released).toBe(2)
    const owned = sessions.registerOwned(
      'h',
      null,
      () => {},
      'stream',
      () => released++,
    )
    for (const l of listeners) l(['h'])
    await new Promise((r) => setTimeout(r, 0))
    owned()
    expect(released).toBe(3)
    sessions.register(
      'h',
      1_500,
      () => {},
      'stream',
      () => released++,
    )
    now = 2_000
    await new Promise((r) => setTimeout(r, 1_100))
    expect(released).toBe(4)
    sessions.stop()
  })
})

describe('local buckets synced in the background', () => {
  it('decide at once; the shared store only hears of it later, and a dead store changes nothing', async () => {
    const shared = createMemoryLimiter()
    let wall = 0
    const buckets = createLocalBuckets({ rule: { intervalMs: 100, burst: 3 }, shared, keyOf: (id) => `k:${id}`, wallNow: () => wall })
    const T = 1_800_000_000_000
    expect([buckets.take('a', T), buckets.take('a', T), buckets.take('a', T), buckets.take('a', T)].map((d) => d.allowed)).toEqual([true, true, true, false])
    await buckets.flush(T)
    expect((await shared.apply([{ key: 'k:a', rule: { intervalMs: 100, burst: 3 } }], 'check', T)).results[0]!.remaining).toBe(0)
    // Another instance's traffic arrives with the next sync.
    await shared.apply([{ key: 'k:b', rule: { intervalMs: 100, burst: 3 }, cost: 3 }], 'force', T)
    expect(buckets.take('b', T).allowed).toBe(true)
    await buckets.flush(T)
    // Shared: their 3 and our 1, one over the burst of 3: 200 ms until a place.
    expect(buckets.take('b', T)).toEqual({ allowed: false, retryAfterMs: 200 })
    const dead = createLocalBuckets({
      rule: { intervalMs: 100, burst: 2 },
      shared: { kind: 'redis', apply: () => Promise.reject(new Error('down')), reset: async () => {}, close: async () => {} },
      keyOf: (id) => id,
      wallNow: () => (wall += 1_000),
    })
    expect([dead.take('a', T), dead.take('a', T), dead.take('a', T)].map((d) => d.allowed)).toEqual([true, true, false])
    await dead.flush(T)
    expect(dead.take('a', T).allowed).toBe(false)
    expect(dead.take('a', T + 100).allowed).toBe(true)
  })
})
