// Operator locks and deactivation against the real Node server: a proxied request or WebSocket
// upgrade with a locked token gets 403 with the lock's message, open sockets close with 1008
// within 2 s — on another instance sharing Redis when REDIS_URL is set (else on the same one).
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { users } from '../../src/db/schema'
import { customer, type Gateway, startGateway, startUpstream, type Upstream } from '../support/gateway'
import { purchase, signUp, type TestDatabase, testDatabase } from '../support/harness'
import { services } from '../support/services'
import { closed, nextMessage, openWebSocket } from '../support/ws-client'

const { redisUrl } = services()
if (!redisUrl) console.log('[zenzefi tests] admin locks on another instance (test/gateway/admin-locks.test.ts) run on one instance — set REDIS_URL for two')

// The device limit is another feature's: sockets and fetches here come from different "devices".
const ENV = { DEVICE_LIMIT: '0' }

let db: TestDatabase
let up: Upstream
/** Where operators act. */
let a: Gateway
/** Where the customer is connected: another instance on the same database and Redis when there is one. */
let b: Gateway
let adminJwt: string
const upstreamWss = new WebSocketServer({ noServer: true, perMessageDeflate: false })

beforeAll(async () => {
  db = await testDatabase()
  up = await startUpstream()
  up.server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {})
    upstreamWss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data: Buffer, isBinary) => ws.send(data, { binary: isBinary })))
  })
  a = await startGateway({ database: db, upstream: up, env: ENV })
  b = redisUrl ? await startGateway({ database: db, upstream: up, env: ENV }) : a
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

const admin = (method: string, path: string, json?: unknown) => a.t.request(`/api/v1/admin${path}`, { method, bearer: adminJwt, json })
const socket = (token: string) => openWebSocket(`${b.url.replace(/^http/, 'ws')}/api/v1/proxy/echo?token=${token}`)

async function http(token: string) {
  const res = await fetch(`${b.url}/api/v1/proxy/page`, { headers: { 'x-access-token': token } })
  const text = await res.text()
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text }
}

/**
 * Instance b's answer once a lock change made on a has reached it: at once on one instance; on two, within the
 * delay of the Redis broadcast that empties b's in-process tier (a loaded machine can make that tens of ms).
 */
async function httpOnceHeard(token: string, heard: (r: Awaited<ReturnType<typeof http>>) => boolean) {
  const deadline = Date.now() + 2_000
  let r = await http(token)
  while (b !== a && !heard(r) && Date.now() < deadline) {
    await new Promise((done) => setTimeout(done, 20))
    r = await http(token)
  }
  return r
}
const detail = (message: string) => (r: { body: unknown }) => (r.body as { detail?: string })?.detail === message

async function upgrade(token: string) {
  return socket(token).then(
    (ws) => {
      ws.close()
      return { status: 101, body: null }
    },
    (err: { status?: number; body?: string }) => {
      if (err.status === undefined) throw err
      return { status: err.status, body: JSON.parse(err.body!) as unknown }
    },
  )
}

/** Opens a socket on B (which caches the grant there) and proves it relays. */
async function liveSocket(token: string): Promise<WebSocket> {
  const ws = await socket(token)
  ws.send('ping')
  expect((await nextMessage(ws)).data.toString()).toBe('ping')
  return ws
}

/** Runs an operator's change and says how soon the socket closed after it began. */
async function closedBy(ws: WebSocket, change: () => Promise<Response>, status: number) {
  const done = closed(ws)
  const started = performance.now()
  const res = await change()
  expect(res.status, await res.clone().text()).toBe(status)
  const end = await done
  expect(end).toMatchObject({ code: 1008 })
  expect(end.at - started).toBeLessThan(2000)
  return res
}

describe('deactivation', () => {
  it('closes the user’s open socket with 1008 within 2 s, and their token is refused from then on', async () => {
    const c = await customer(a.t)
    const other = await customer(a.t)
    const ws = await liveSocket(c.token)
    const bystander = await liveSocket(other.token)
    await closedBy(ws, () => admin('PATCH', `/users/${c.user.id}`, { is_active: false }), 200)
    expect((await http(c.token)).status).toBe(401)
    expect((await upgrade(c.token)).status).toBe(401)
    // Only that user's sockets.
    bystander.send('still here')
    expect((await nextMessage(bystander)).data.toString()).toBe('still here')
    bystander.close()
  })
})

describe('locks', () => {
  const MESSAGE = 'Access suspended: please contact support'

  it('a token lock closes its socket within 2 s; HTTP and upgrades get 403 with the message until unlocked', async () => {
    const c = await customer(a.t)
    const sibling = await purchase(a.t, c.jwt)
    const ws = await liveSocket(c.token)
    const res = await closedBy(ws, () => admin('POST', `/tokens/${c.tokenId}/lock`, { message: MESSAGE }), 201)
    expect(await res.json()).toMatchObject({ target_type: 'token', target_id: c.tokenId, message: MESSAGE, expires_at: null })
    expect(await http(c.token)).toEqual({ status: 403, body: { detail: MESSAGE } })
    expect(await upgrade(c.token)).toEqual({ status: 403, body: { detail: MESSAGE } })
    // The owner's other token is not locked.
    expect((await http(sibling.token)).status).toBe(200)
    const lifted = await admin('DELETE', `/tokens/${c.tokenId}/lock`)
    expect(lifted.status).toBe(200)
    expect(await lifted.json()).toEqual({ lifted: true, target_type: 'token', target_id: c.tokenId })
    expect((await http(c.token)).status).toBe(200)
    expect((await upgrade(c.token)).status).toBe(101)
    const again = await admin('DELETE', `/tokens/${c.tokenId}/lock`)
    expect(again.status).toBe(404)
  })

  it('a user lock covers every token of theirs and lapses at expires_at by the gateway’s clock', async () => {
    const c = await customer(a.t)
    const second = await purchase(a.t, c.jwt)
    const ws = await liveSocket(c.token)
    const until = new Date(b.t.clock.now().getTime() + 5 * 60_000)
    await closedBy(ws, () => admin('POST', `/users/${c.user.id}/lock`, { message: MESSAGE, expires_at: until.toISOString() }), 201)
    for (const token of [c.token, second.token]) {
      expect(await http(token)).toEqual({ status: 403, body: { detail: MESSAGE } })
      expect(await upgrade(token)).toEqual({ status: 403, body: { detail: MESSAGE } })
    }
    // Refused while locked, the never-used token's clock has not started.
    const mine = (await (await a.t.request('/api/v1/tokens/my-tokens', { bearer: c.jwt })).json()) as { id: string; activated_at: string | null }[]
    expect(mine.find((t) => t.id === second.id)!.activated_at).toBeNull()
    b.t.clock.advance(5 * 60_000 + 1000)
    expect((await http(c.token)).status).toBe(200)
    expect((await http(second.token)).status).toBe(200)
    expect((await upgrade(second.token)).status).toBe(101)
    // Lapsed on the operators' instance too: nothing left to lift.
    a.t.clock.set(until.getTime() + 1000)
    expect((await admin('DELETE', `/users/${c.user.id}/lock`)).status).toBe(404)
  })

  it('a new lock replaces the one in force; its message is what requests read', async () => {
    const c = await customer(a.t)
    expect((await admin('POST', `/users/${c.user.id}/lock`, { message: 'First' })).status).toBe(201)
    expect((await http(c.token)).body).toEqual({ detail: 'First' })
    expect((await admin('POST', `/users/${c.user.id}/lock`, { message: 'Second' })).status).toBe(201)
    expect((await httpOnceHeard(c.token, detail('Second'))).body).toEqual({ detail: 'Second' })
    // A token lock and a user lock: the stronger (no expiry) one speaks.
    const soon = new Date(a.t.clock.now().getTime() + 60_000).toISOString()
    expect((await admin('POST', `/tokens/${c.tokenId}/lock`, { message: 'Token, briefly', expires_at: soon })).status).toBe(201)
    expect((await http(c.token)).body).toEqual({ detail: 'Second' })
    expect((await admin('DELETE', `/users/${c.user.id}/lock`)).status).toBe(200)
    expect((await httpOnceHeard(c.token, detail('Token, briefly'))).body).toEqual({ detail: 'Token, briefly' })
    expect((await admin('DELETE', `/tokens/${c.tokenId}/lock`)).status).toBe(200)
    expect((await httpOnceHeard(c.token, (r) => r.status === 200)).status).toBe(200)
  })

  it('refusals: an expiry in the past or malformed, no message, unknown targets, non-superusers', async () => {
    const c = await customer(a.t)
    const past = new Date(a.t.clock.now().getTime() - 1000).toISOString()
    const inPast = await admin('POST', `/users/${c.user.id}/lock`, { message: MESSAGE, expires_at: past })
    expect(inPast.status).toBe(422)
    expect(await inPast.json()).toEqual({ detail: 'expires_at must be in the future' })
    for (const json of [{ message: MESSAGE, expires_at: 'tomorrow' }, { message: '' }, {}, { message: 'a\u0000b' }]) {
      expect((await admin('POST', `/users/${c.user.id}/lock`, json)).status, JSON.stringify(json)).toBe(422)
    }
    const nobody = '00000000-0000-4000-8000-000000000000'
    expect(await (await admin('POST', `/users/${nobody}/lock`, { message: MESSAGE })).json()).toEqual({ detail: 'User not found' })
    expect(await (await admin('POST', `/tokens/${nobody}/lock`, { message: MESSAGE })).json()).toEqual({ detail: 'Token not found' })
    expect((await admin('DELETE', `/users/${c.user.id}/lock`)).status).toBe(404)
    const denied = await a.t.request(`/api/v1/admin/users/${c.user.id}/lock`, { method: 'POST', bearer: c.jwt, json: { message: 'mine' } })
    expect(denied.status).toBe(403)
    expect((await http(c.token)).status).toBe(200)
  })
})
