// The proxy's per-token limits on the real Node server in front of a real upstream:
// what is over the limit is answered 429 here and never reaches Zenzefi.

import type { ServerResponse } from 'node:http'
import http from 'node:http'
import { describe, expect, it } from 'vitest'
import { customer, gatewayFixture } from '../support/gateway'
import { openWebSocket, until } from '../support/ws-client'

type Fixture = ReturnType<typeof gatewayFixture>
const get = (f: Fixture, path: string, token: string) => fetch(`${f.gw.url}/api/v1/proxy${path}`, { headers: { 'x-access-token': token } })
const reached = (f: Fixture, path: string) => f.up.received.filter((r) => r.url === path).length

describe('PROXY_RATE_BURST / PROXY_RATE_PER_SECOND', () => {
  const f = gatewayFixture({ PROXY_RATE_PER_SECOND: '1', PROXY_RATE_BURST: '20' })

  it('a burst of 35 in parallel: 20 reach Zenzefi, 15 get 429 with Retry-After, none of those upstream', async () => {
    f.up.on((_req, res) => res.end('ok'))
    const { token } = await customer(f.gw.t)
    const answers = await Promise.all(Array.from({ length: 35 }, () => get(f, '/burst', token)))
    const statuses = answers.map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(20)
    expect(statuses.filter((s) => s === 429)).toHaveLength(15)
    expect(reached(f, '/burst')).toBe(20)
    const refused = answers.find((r) => r.status === 429)!
    expect(refused.headers.get('retry-after')).toBe('1')
    expect(refused.headers.get('content-type')).toBe('application/json')
    expect(refused.headers.get('x-request-id')).toBeTruthy()
    expect(await refused.json()).toEqual({ detail: 'Too many requests. Try again in 1 seconds.', limit: 1, window: 1, retry_after: 1 })
    for (const r of answers) if (r !== refused) await r.body?.cancel()
    // The WebSocket upgrade goes through the same step: refused before any upgrade.
    const ws = openWebSocket(`${f.gw.url.replace('http', 'ws')}/api/v1/proxy/ws?token=${token}`)
    await expect(ws).rejects.toMatchObject({ status: 429 })
    // One second on the gateway's clock buys one more request.
    f.gw.t.clock.advance(1_000)
    expect((await get(f, '/burst', token)).status).toBe(200)
    expect((await get(f, '/burst', token)).status).toBe(429)
    expect(reached(f, '/burst')).toBe(21)
    // Another customer's token is not concerned.
    const other = await customer(f.gw.t)
    expect((await get(f, '/burst', other.token)).status).toBe(200)
  })
})

describe('PROXY_MAX_IN_FLIGHT', () => {
  const f = gatewayFixture({ PROXY_MAX_IN_FLIGHT: '3' })

  it('3 slow requests of one token in flight: the 4th is a 429 that never reaches Zenzefi; a place frees when one ends', async () => {
    // Upstream holds every /slow request open; the three may arrive in any order.
    const held = new Map<string, ServerResponse>()
    f.up.on((req, res) => {
      if (req.url!.startsWith('/slow')) held.set(req.url!, res)
      else res.end('fast')
    })
    const { token } = await customer(f.gw.t)
    const slow = [0, 1, 2].map((n) => get(f, `/slow?${n}`, token))
    await until(() => held.size === 3)
    const fourth = await get(f, '/fast', token)
    expect(fourth.status).toBe(429)
    expect(await fourth.json()).toEqual({
      detail: 'Too many requests in progress for this access token. Try again in 1 seconds.',
      limit: 3,
      window: 0,
      retry_after: 1,
    })
    expect(reached(f, '/fast')).toBe(0)
    held.get('/slow?0')!.end('done')
    held.delete('/slow?0')
    expect(await (await slow[0]!).text()).toBe('done')
    await until(() => f.gw.t.gateway.proxyLimits!.inFlight.values().next().value === 2)
    expect((await get(f, '/fast', token)).status).toBe(200)
    // A client that goes away gives its place back too.
    const gone = http.get(`${f.gw.url}/api/v1/proxy/slow?gone`, { headers: { 'x-access-token': token } })
    gone.on('error', () => {})
    await until(() => held.size === 3)
    gone.destroy()
    await until(() => f.gw.t.gateway.proxyLimits!.inFlight.values().next().value === 2)
    expect((await get(f, '/fast', token)).status).toBe(200)
    for (const res of held.values()) res.end('done')
    await Promise.all(slow.slice(1).map(async (p) => (await p).text()))
    await until(() => f.gw.t.gateway.proxyLimits!.inFlight.size === 0)
  })
})

describe('RATE_LIMITS=off', () => {
  const f = gatewayFixture({ RATE_LIMITS: 'off', PROXY_RATE_PER_SECOND: '1', PROXY_RATE_BURST: '2', PROXY_MAX_IN_FLIGHT: '1' })

  it('lifts the proxy limits', async () => {
    f.up.on((_req, res) => setTimeout(() => res.end('ok'), 20))
    const { token } = await customer(f.gw.t)
    const answers = await Promise.all(Array.from({ length: 12 }, () => get(f, '/free', token)))
    expect(answers.map((r) => r.status)).toEqual(Array(12).fill(200))
    expect(reached(f, '/free')).toBe(12)
    expect(f.gw.t.gateway.proxyLimits).toBeNull()
  })
})
