// Proxy sessions end to end on the real Node server: one device per token (DEVICE_LIMIT=1),
// the device told apart by X-Device-ID, our cookie or address + browser, counts kept in
// memory and written in batches, and the session's end after SESSION_IDLE_SECONDS.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { and, eq, isNull } from 'drizzle-orm'
import { describe, expect, it, vi } from 'vitest'
import { auditEvents, proxySessions } from '../../src/db/schema'
import { DEVICE_IN_USE } from '../../src/gateway/answers'
import { customer, gatewayFixture } from '../support/gateway'

const IDLE_SECONDS = 60
// Rate limits on (RATE_LIMITS=off would lift the device limit too), set never to refuse here.
const f = gatewayFixture({
  DEVICE_LIMIT: '1',
  SESSION_IDLE_SECONDS: String(IDLE_SECONDS),
  PROXY_RATE_PER_SECOND: '100000',
  PROXY_RATE_BURST: '100000',
  PROXY_MAX_IN_FLIGHT: '1000',
})

/** One GET (or POST) through the gateway (a keep-alive agent for the long run): status, headers and the body's length. */
function get(path: string, headers: Record<string, string>, body?: Buffer, agent: http.Agent | false = false) {
  const url = new URL(f.gw.url)
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; bytes: number }>((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: (f.gw.server.address() as AddressInfo).port, path: `/api/v1/proxy${path}`, method: body ? 'POST' : 'GET', headers, agent },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const all = Buffer.concat(chunks)
          resolve({ status: res.statusCode!, headers: res.headers, body: all.toString(), bytes: all.length })
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

const openRows = (tokenId: string) =>
  f.db.db
    .select()
    .from(proxySessions)
    .where(and(eq(proxySessions.tokenId, tokenId), isNull(proxySessions.endedAt)))

describe('the device limit', () => {
  it('200 parallel first requests from two devices: one device served, the other refused with 409 and Retry-After', async () => {
    const { token, tokenId } = await customer(f.gw.t)
    const all = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const device = i % 2 === 0 ? 'laptop-A' : 'laptop-B'
        return get('/x', { 'x-access-token': token, 'x-device-id': device }).then((r) => ({ device, ...r }))
      }),
    )
    const served = new Set(all.filter((r) => r.status === 200).map((r) => r.device))
    expect(served.size).toBe(1)
    const winner = [...served][0]
    for (const r of all) {
      if (r.device === winner) expect(r.status).toBe(200)
      else {
        expect(r.status).toBe(409)
        expect(JSON.parse(r.body)).toEqual({ detail: DEVICE_IN_USE })
        expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1)
        // Nothing about the other device: not its address, its browser, its id.
        expect(r.body).not.toContain('laptop')
        expect(r.body).not.toContain('127.0.0.1')
      }
    }
    const rows = await openRows(tokenId)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.deviceSource).toBe('header')
    // Only the hash is stored.
    expect(rows[0]!.deviceKey).toMatch(/^[0-9a-f]{64}$/)
    const starts = await f.db.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'session.start'), eq(auditEvents.resourceId, rows[0]!.id)))
    expect(starts).toHaveLength(1)
  })

  it('a WebSocket upgrade from another device is refused before its 101', async () => {
    const { token } = await customer(f.gw.t)
    expect((await get('/x', { 'x-access-token': token, 'x-device-id': 'one' })).status).toBe(200)
    const { openWebSocket } = await import('../support/ws-client')
    const refused = await openWebSocket(`${f.gw.url.replace('http', 'ws')}/api/v1/proxy/ws?token=${token}`, { headers: { 'x-device-id': 'two' } }).catch(
      (e: { status: number; body: string; headers: Record<string, string> }) => e,
    )
    expect((refused as { status: number }).status).toBe(409)
    expect(JSON.parse((refused as { body: string }).body)).toEqual({ detail: DEVICE_IN_USE })
  })

  it('a client that sends no device header is served, identified by address and browser, and gets our cookie', async () => {
    const { token, tokenId } = await customer(f.gw.t)
    const first = await get('/x', { 'x-access-token': token, 'user-agent': 'ZenzefiDesktop/1.0' })
    expect(first.status).toBe(200)
    const cookie = String(first.headers['set-cookie']?.find((c) => c.startsWith('zenzefi_device=')))
    expect(cookie).toMatch(/^zenzefi_device=[A-Za-z0-9_-]{32}; HttpOnly; Path=\/api\/v1\/proxy;/)
    // A client without a cookie jar (the desktop client) stays the same device, answer after answer.
    for (let i = 0; i < 3; i++) expect((await get('/x', { 'x-access-token': token, 'user-agent': 'ZenzefiDesktop/1.0' })).status).toBe(200)
    let rows = await openRows(tokenId)
    expect(rows.map((r) => r.deviceSource)).toEqual(['address'])
    // A browser that keeps the cookie goes on with the same session, now told apart by the cookie.
    const value = cookie.split(';')[0]!
    const withCookie = await get('/x', { 'x-access-token': token, 'user-agent': 'ZenzefiDesktop/1.0', cookie: value })
    expect(withCookie.status).toBe(200)
    expect(withCookie.headers['set-cookie']).toBeUndefined()
    rows = await openRows(tokenId)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.deviceSource).toBe('cookie')
    // Another browser on the same token is another device.
    expect((await get('/x', { 'x-access-token': token, 'user-agent': 'Other/2.0' })).status).toBe(409)
  })

  it('the ?token= redirect sets the device cookie', async () => {
    const { token } = await customer(f.gw.t)
    const res = await get(`/page?token=${token}`, {})
    expect(res.status).toBe(303)
    expect(res.headers['set-cookie']?.some((c) => /^zenzefi_device=[A-Za-z0-9_-]{32}; HttpOnly; Path=\/api\/v1\/proxy/.test(c))).toBe(true)
  })
})

describe('counting', () => {
  it('10,000 requests: a handful of session writes, and bytes_out equal to what the upstream sent', async () => {
    const { token, tokenId } = await customer(f.gw.t)
    const payload = Buffer.alloc(1500, 7)
    f.up.on((_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': payload.length }).end(payload))
    const sessions = f.gw.t.services.sessions
    const starts = vi.spyOn(sessions, 'start')
    const flushes = vi.spyOn(sessions, 'flush')
    const devices = f.gw.t.gateway.devices!
    // The flush timer's work, at a pace far quicker than SESSION_FLUSH_SECONDS.
    let ticks = 0
    const timer = setInterval(() => {
      ticks++
      void devices.flush()
    }, 1000)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 })
    let received = 0
    try {
      const headers = { 'x-access-token': token, 'x-device-id': 'counting' }
      let next = 0
      const worker = async () => {
        while (next < 10_000) {
          next++
          const r = await get('/blob', headers, undefined, agent)
          expect(r.status).toBe(200)
          received += r.bytes
        }
      }
      await Promise.all(Array.from({ length: 32 }, worker))
      // Uploads are counted in too.
      for (let i = 0; i < 5; i++) {
        const r = await get('/upload', { ...headers, 'content-type': 'application/octet-stream' }, Buffer.alloc(1000, 1))
        expect(r.status).toBe(200)
        received += r.bytes
      }
    } finally {
      clearInterval(timer)
      agent.destroy()
    }
    await devices.flush()
    expect(starts).toHaveBeenCalledTimes(1)
    // One statement per flush, whatever the traffic: each call is one UPDATE, and none is made per request.
    expect(flushes.mock.calls.length).toBeLessThanOrEqual(ticks + 1)
    expect(flushes.mock.calls.length).toBeLessThan(100)
    const [row] = await openRows(tokenId)
    expect(flushes.mock.calls.every(([rows]) => rows.filter((r) => r.id === row!.id).length <= 1)).toBe(true)
    expect(row!.requests).toBe(10_005)
    expect(received).toBe(10_005 * payload.length)
    expect(row!.bytesOut).toBe(received)
    expect(row!.bytesIn).toBe(5000)
    expect(row!.lastIp).toBe('127.0.0.1')
    starts.mockRestore()
    flushes.mockRestore()
    f.up.on((_req, res) => res.end('ok'))
  }, 120_000)
})

describe('the end of a session', () => {
  it(`ends after SESSION_IDLE_SECONDS with no request, and the other device can then start`, async () => {
    const { token, tokenId } = await customer(f.gw.t)
    const a = { 'x-access-token': token, 'x-device-id': 'first' }
    const b = { 'x-access-token': token, 'x-device-id': 'second' }
    expect((await get('/x', a)).status).toBe(200)
    await f.gw.t.gateway.devices!.flush()
    const refused = await get('/x', b)
    expect(refused.status).toBe(409)
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(IDLE_SECONDS - 5)
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(IDLE_SECONDS)
    f.gw.t.clock.advance(IDLE_SECONDS * 1000 + 1000)
    // The sweeper ends it as idle, with its session.end event.
    const ended = await f.gw.t.services.sessions.sweep(IDLE_SECONDS, { exclusive: false })
    expect(ended!.some((e) => e.reason === 'idle')).toBe(true)
    const [old] = await f.db.db.select().from(proxySessions).where(eq(proxySessions.tokenId, tokenId))
    expect(old!.endReason).toBe('idle')
    const endEvents = await f.db.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'session.end'), eq(auditEvents.resourceId, old!.id)))
    expect(endEvents).toHaveLength(1)
    expect(JSON.parse(endEvents[0]!.details)).toMatchObject({ reason: 'idle', requests: 1 })
    expect((await get('/x', b)).status).toBe(200)
    expect((await get('/x', a)).status).toBe(409)
  })

  it('without the sweeper, the next device ends the idle session itself', async () => {
    const { token } = await customer(f.gw.t)
    expect((await get('/x', { 'x-access-token': token, 'x-device-id': 'p' })).status).toBe(200)
    f.gw.t.clock.advance(IDLE_SECONDS * 1000 + 1000)
    expect((await get('/x', { 'x-access-token': token, 'x-device-id': 'q' })).status).toBe(200)
  })

  it("a revoked token's sessions end as revoked", async () => {
    const { token, tokenId, jwt } = await customer(f.gw.t)
    expect((await get('/x', { 'x-access-token': token, 'x-device-id': 'r' })).status).toBe(200)
    const del = await f.gw.t.request(`/api/v1/tokens/${tokenId}`, { method: 'DELETE', bearer: jwt })
    expect(del.status).toBe(200)
    await f.gw.t.services.sessions.sweep(IDLE_SECONDS, { exclusive: false })
    const [row] = await f.db.db.select().from(proxySessions).where(eq(proxySessions.tokenId, tokenId))
    expect(row!.endReason).toBe('revoked')
  })
})
