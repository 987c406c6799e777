// Proxy sessions for operators and their users: the listing (live counts merged in),
// terminate — that device's WebSocket closed with 1008 within 2 s, on another instance
// too when REDIS_URL gives them a shared channel — and users seeing and ending only their own.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { auditEvents, users } from '../../../src/db/schema'
import { customer, type Gateway, startGateway, startUpstream, type Upstream } from '../../support/gateway'
import { signUp, type TestDatabase, testDatabase } from '../../support/harness'
import { services } from '../../support/services'
import { closed, nextMessage, openWebSocket } from '../../support/ws-client'

const { redisUrl } = services()
if (!redisUrl) console.log('[zenzefi tests] terminate across instances runs on one instance (test/routes/admin/sessions.test.ts) — set REDIS_URL for two')

let db: TestDatabase
let up: Upstream
let a: Gateway
/** Another instance on the same database (and Redis): where the operator's terminate lands. */
let b: Gateway
let adminJwt: string
const upstreamWss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
const env = { DEVICE_LIMIT: '1', PROXY_RATE_PER_SECOND: '100000', PROXY_RATE_BURST: '100000' }

beforeAll(async () => {
  db = await testDatabase()
  up = await startUpstream()
  up.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    upstreamWss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin }))),
  )
  a = await startGateway({ database: db, upstream: up, env })
  b = redisUrl ? await startGateway({ database: db, upstream: up, env }) : a
  const admin = await signUp(a.t)
  await db.db.update(users).set({ isSuperuser: true }).where(eq(users.id, admin.user.id))
  adminJwt = admin.jwt
})
afterAll(async () => {
  for (const ws of upstreamWss.clients) ws.terminate()
  if (b !== a) await b?.close()
  await a?.close()
  await up?.close()
  await db?.drop()
})

const proxied = (g: Gateway, token: string, device: string) =>
  fetch(`${g.url}/api/v1/proxy/x`, { headers: { 'x-access-token': token, 'x-device-id': device, 'user-agent': 'TestBrowser/1' } })

type Item = Record<string, unknown> & { id: string; requests: number; end_reason: string | null; websockets_open: number }
const list = async (g: Gateway, query: string, jwt = adminJwt) => {
  const res = await g.t.request(`/api/v1/admin/sessions${query}`, { bearer: jwt })
  return { status: res.status, body: (await res.json()) as { items: Item[]; total: number; limit: number; offset: number; detail?: string } }
}

describe('GET /api/v1/admin/sessions', () => {
  it('lists sessions with their owner, device source and counts — those not yet written included', async () => {
    const { token, tokenId, user } = await customer(a.t)
    for (let i = 0; i < 3; i++) expect((await proxied(a, token, 'desk')).status).toBe(200)
    const { status, body } = await list(a, `?active=true&token_id=${tokenId}`)
    expect(status).toBe(200)
    expect(body.total).toBe(1)
    expect(body.limit).toBe(50)
    expect(body.offset).toBe(0)
    const [item] = body.items
    expect(Object.keys(item!).sort()).toEqual(
      [
        'id',
        'user',
        'token_id',
        'device',
        'first_ip',
        'last_ip',
        'user_agent',
        'started_at',
        'last_seen_at',
        'ended_at',
        'end_reason',
        'requests',
        'bytes_in',
        'bytes_out',
        'websockets_open',
      ].sort(),
    )
    expect(item).toMatchObject({
      user: { id: user.id, email: user.email, username: user.username },
      token_id: tokenId,
      device: { source: 'header' },
      first_ip: '127.0.0.1',
      user_agent: 'TestBrowser/1',
      ended_at: null,
      end_reason: null,
      requests: 3,
      bytes_out: 6,
    })
    // Written or not, the same figures.
    await a.t.gateway.devices!.flush()
    expect((await list(a, `?token_id=${tokenId}`)).body.items[0]).toMatchObject({ requests: 3, bytes_out: 6 })
    expect((await list(a, `?user_id=${user.id}`)).body.total).toBe(1)
    expect((await list(a, `?active=false&token_id=${tokenId}`)).body.total).toBe(0)
  })

  it('is for superusers only, and limit is 1–100', async () => {
    const other = await signUp(a.t)
    expect(await list(a, '', other.jwt)).toMatchObject({ status: 403, body: { detail: 'Superuser permissions required' } })
    expect((await list(a, '?limit=0')).status).toBe(422)
    expect((await list(a, '?limit=101')).status).toBe(422)
    expect((await list(a, '?user_id=nope')).status).toBe(422)
  })
})

describe('POST /api/v1/admin/sessions/{id}/terminate', () => {
  it(`closes that device's WebSocket with 1008 within 2 s${redisUrl ? ' on another instance' : ''}, and frees the token for another device`, async () => {
    const { token, tokenId } = await customer(a.t)
    const ws = await openWebSocket(`${a.url.replace('http', 'ws')}/api/v1/proxy/ws?token=${token}`, { headers: { 'x-device-id': 'tablet' } })
    ws.send('hi')
    expect((await nextMessage(ws)).data.toString()).toBe('hi')
    await a.t.gateway.devices!.flush()
    const [item] = (await list(b, `?active=true&token_id=${tokenId}`)).body.items
    expect(item!.websockets_open).toBe(1)
    expect((await proxied(a, token, 'phone')).status).toBe(409)

    const shut = closed(ws, 5000)
    const sent = performance.now()
    const res = await b.t.request(`/api/v1/admin/sessions/${item!.id}/terminate`, { method: 'POST', json: { reason: 'Shared account' }, bearer: adminJwt })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { terminated: boolean; session: Item }
    expect(body.terminated).toBe(true)
    expect(body.session).toMatchObject({ id: item!.id, end_reason: 'terminated' })
    const end = await shut
    expect(end.code).toBe(1008)
    expect(end.at - sent).toBeLessThan(2000)

    expect((await list(b, `?token_id=${tokenId}`)).body.items[0]).toMatchObject({ end_reason: 'terminated', websockets_open: 0 })
    const events = await db.db.select().from(auditEvents).where(eq(auditEvents.resourceId, item!.id))
    expect(events.map((e) => e.action).sort()).toEqual(['session.end', 'session.start', 'session.terminate'])
    expect(JSON.parse(events.find((e) => e.action === 'session.terminate')!.details)).toEqual({ reason: 'Shared account' })
    // Its place is free: another device may start.
    expect((await proxied(a, token, 'phone')).status).toBe(200)
    // Terminating it again: already ended.
    const again = await b.t.request(`/api/v1/admin/sessions/${item!.id}/terminate`, { method: 'POST', json: {}, bearer: adminJwt })
    expect(again.status).toBe(409)
  })

  it('an unknown session is a 404', async () => {
    const res = await a.t.request('/api/v1/admin/sessions/00000000-0000-4000-8000-000000000000/terminate', { method: 'POST', json: {}, bearer: adminJwt })
    expect(res.status).toBe(404)
  })
})

describe('/api/v1/users/me/sessions', () => {
  it('users see and end only their own sessions', async () => {
    const mine = await customer(a.t)
    const theirs = await customer(a.t)
    expect((await proxied(a, mine.token, 'm')).status).toBe(200)
    expect((await proxied(a, theirs.token, 't')).status).toBe(200)
    const res = await a.t.request('/api/v1/users/me/sessions', { bearer: mine.jwt })
    expect(res.status).toBe(200)
    const own = (await res.json()) as { items: Item[]; total: number }
    expect(own.total).toBe(1)
    expect(own.items[0]!.token_id).toBe(mine.tokenId)
    const [theirItem] = (await list(a, `?token_id=${theirs.tokenId}`)).body.items
    const refused = await a.t.request(`/api/v1/users/me/sessions/${theirItem!.id}/terminate`, { method: 'POST', json: {}, bearer: mine.jwt })
    expect(refused.status).toBe(404)
    expect((await list(a, `?token_id=${theirs.tokenId}`)).body.items[0]!.end_reason).toBeNull()
    const ended = await a.t.request(`/api/v1/users/me/sessions/${own.items[0]!.id}/terminate`, {
      method: 'POST',
      json: { reason: 'lost my laptop' },
      bearer: mine.jwt,
    })
    expect(ended.status).toBe(200)
    expect(((await ended.json()) as { session: Item }).session.end_reason).toBe('terminated')
    expect((await a.t.request('/api/v1/users/me/sessions')).status).toBe(403)
  })
})
