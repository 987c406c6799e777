// X-Request-Id and the access line on the real Node server: on every answer (API,
// proxied, the pipeline's refusals, 502/504, WebSocket refusals and 101s, the front
// door's 400/413), forwarded to Zenzefi only when it is ours to send, in our 5xx bodies,
// and in exactly one access line per request with the fields an operator greps for.
import type { IncomingHttpHeaders } from 'node:http'
import { connect as tcp } from 'node:net'
import { beforeAll, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { customer, freePort, gatewayFixture, startGateway } from '../../support/gateway'
import { openWebSocket } from '../../support/ws-client'

const f = gatewayFixture({ ZENZEFI_TIMEOUT_SECONDS: '1' })
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const PREFIX = '/api/v1/proxy'

const upgrades: IncomingHttpHeaders[] = []
let c: Awaited<ReturnType<typeof customer>>
beforeAll(async () => {
  f.gw.t.app.get('/test/boom', () => {
    throw new Error('boom')
  })
  f.gw.t.app.get('/test/unavailable', (c) => c.json({ status: 'unhealthy' }, 503))
  const wss = new WebSocketServer({ noServer: true })
  f.up.server.on('upgrade', (req, socket, head) => {
    upgrades.push(req.headers)
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d) => ws.send(d)))
  })
  c = await customer(f.gw.t)
})

/** The JSON lines the app logged for one path (never with its query string). */
const linesFor = (path: string) => f.gw.t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.path === path)
const accessLines = (path: string) => linesFor(path).filter((l) => ['request', 'proxy', 'websocket'].includes(l.msg as string))

function raw(text: string): Promise<string> {
  const { port } = new URL(f.gw.url)
  return new Promise((resolve, reject) => {
    const s = tcp(Number(port), '127.0.0.1', () => s.write(text))
    let data = ''
    s.on('data', (d) => (data += d))
    s.on('end', () => resolve(data))
    s.on('error', reject)
  })
}

describe('the id', () => {
  it.each([
    ['absent', undefined, null],
    ['acceptable: kept', 'abc-DEF_123', 'abc-DEF_123'],
    ['64 characters: kept', 'a'.repeat(64), 'a'.repeat(64)],
    ['65 characters: replaced', 'a'.repeat(65), null],
    ['other characters: replaced', 'id.with.dots', null],
    ['empty: replaced', '', null],
  ])('%s', async (_name, given, kept) => {
    const res = await fetch(`${f.gw.url}/`, { headers: given === undefined ? {} : { 'x-request-id': given } })
    expect(res.status).toBe(200)
    if (kept) expect(res.headers.get('x-request-id')).toBe(kept)
    else expect(res.headers.get('x-request-id')).toMatch(UUID)
  })

  it('two X-Request-Id headers are no one acceptable id: replaced', async () => {
    const reply = await raw('GET / HTTP/1.1\r\nHost: gw.test\r\nX-Request-Id: one\r\nX-Request-Id: two\r\nConnection: close\r\n\r\n')
    expect(reply).toMatch(/\r\nX-Request-Id: [0-9a-f-]{36}\r\n/i)
  })
})

describe('on every answer', () => {
  it('the API, with the one access line naming it, never the query string', async () => {
    const res = await fetch(`${f.gw.url}/api/v1/users/me?secret=q1`, { headers: { 'x-request-id': 'api-me-1', authorization: `Bearer ${c.jwt}` } })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-request-id')).toBe('api-me-1')
    const lines = accessLines('/api/v1/users/me').filter((l) => l.request_id === 'api-me-1')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ msg: 'request', method: 'GET', status: 200, mode: 'api', client_ip: '127.0.0.1', user_id: c.user.id })
    expect(typeof lines[0]!.ms).toBe('number')
    expect(f.gw.t.logs.join('\n')).not.toContain('q1')
  })

  it('an API 500: {"detail", "request_id"}, and the error line names the id', async () => {
    const res = await fetch(`${f.gw.url}/test/boom`, { headers: { 'x-request-id': 'boom-1' } })
    expect(res.status).toBe(500)
    expect(res.headers.get('x-request-id')).toBe('boom-1')
    expect(await res.json()).toEqual({ detail: 'Internal Server Error', request_id: 'boom-1' })
    const lines = linesFor('/test/boom')
    expect(lines.map((l) => [l.msg, l.request_id])).toEqual([
      ['unhandled error', 'boom-1'],
      ['request', 'boom-1'],
    ])
  })

  it('a route’s own 5xx JSON body gets request_id too', async () => {
    const res = await fetch(`${f.gw.url}/test/unavailable`)
    expect(res.status).toBe(503)
    expect(await res.json()).toEqual({ status: 'unhealthy', request_id: res.headers.get('x-request-id') })
  })

  it('the front door’s 413 and 400, each with its one access line', async () => {
    const big = await fetch(`${f.gw.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'big-1' },
      body: JSON.stringify({ email: 'x'.repeat(70_000) }),
    })
    expect([big.status, big.headers.get('x-request-id')]).toEqual([413, 'big-1'])
    expect(accessLines('/api/v1/auth/login').filter((l) => l.request_id === 'big-1')).toMatchObject([{ status: 413, mode: 'api' }])

    const invalid = await raw('GET * HTTP/1.1\r\nHost: gw.test\r\nX-Request-Id: star-1\r\nConnection: close\r\n\r\n')
    expect(invalid).toMatch(/^HTTP\/1\.1 400 /)
    expect(invalid).toMatch(/\r\nX-Request-Id: star-1\r\n/i)
    expect(f.gw.t.logs.filter((l) => l.includes('"request_id":"star-1"'))).toHaveLength(1)
  })

  it('a proxied answer: the client’s acceptable id reaches Zenzefi and comes back in place of Zenzefi’s own', async () => {
    f.up.on((_req, res) => res.writeHead(200, { 'x-request-id': 'zenzefi-own', 'content-type': 'text/plain' }).end('hello'))
    const res = await fetch(`${f.gw.url}${PREFIX}/rid?x=1`, { headers: { 'x-access-token': c.token, 'x-request-id': 'proxied-1' } })
    expect(await res.text()).toBe('hello')
    expect(res.headers.get('x-request-id')).toBe('proxied-1')
    expect(f.up.last().headers['x-request-id']).toBe('proxied-1')
    const lines = accessLines(`${PREFIX}/rid`)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({
      msg: 'proxy',
      method: 'GET',
      status: 200,
      mode: 'direct',
      client_ip: '127.0.0.1',
      user_id: c.user.id,
      token_id: c.tokenId,
      request_id: 'proxied-1',
      bytes_in: 0,
      bytes_out: 5,
    })
    expect(typeof lines[0]!.upstream_ms).toBe('number')
  })

  it('an id that is not acceptable never reaches Zenzefi, in any spelling; Zenzefi gets the fresh one', async () => {
    f.up.on((_req, res) => res.end('ok'))
    const res = await fetch(`${f.gw.url}${PREFIX}/rid-bad`, {
      method: 'POST',
      headers: { 'x-access-token': c.token, 'x-request-id': 'bad id!', x_request_id: 'sneaky', 'x-local-url': 'https://127.0.0.1:61000' },
      body: 'twelve bytes',
    })
    await res.text()
    const given = res.headers.get('x-request-id')!
    expect(given).toMatch(UUID)
    const seen = f.up.last()
    expect(seen.headers['x-request-id']).toBe(given)
    expect(seen.rawHeaders.join('\n')).not.toMatch(/bad id!|sneaky/)
    expect(accessLines(`${PREFIX}/rid-bad`)).toMatchObject([{ request_id: given, mode: 'desktop', bytes_in: 12, method: 'POST' }])
  })

  it('a pipeline refusal (401) carries it, with its access line', async () => {
    const res = await fetch(`${f.gw.url}${PREFIX}/nobody`, { headers: { 'x-request-id': 'refused-1' } })
    expect([res.status, res.headers.get('x-request-id')]).toEqual([401, 'refused-1'])
    expect(accessLines(`${PREFIX}/nobody`)).toMatchObject([{ status: 401, request_id: 'refused-1', mode: 'direct' }])
  })

  it('the proxy’s 504 and 502 bodies carry request_id', async () => {
    f.up.on(() => {}) // never answers
    const slow = await fetch(`${f.gw.url}${PREFIX}/slow`, { headers: { 'x-access-token': c.token, 'x-request-id': 'slow-1' } })
    expect(slow.status).toBe(504)
    expect(slow.headers.get('x-request-id')).toBe('slow-1')
    expect(await slow.json()).toEqual({ detail: 'Gateway Timeout: Zenzefi server did not respond', request_id: 'slow-1' })
    expect(accessLines(`${PREFIX}/slow`)).toMatchObject([{ status: 504, request_id: 'slow-1', user_id: c.user.id }])

    const dead = await startGateway({ database: f.db, upstream: { url: `https://127.0.0.1:${await freePort()}` } })
    try {
      const res = await fetch(`${dead.url}${PREFIX}/dead`, { headers: { 'x-access-token': c.token, 'x-request-id': 'dead-1' } })
      expect(res.status).toBe(502)
      expect(res.headers.get('x-request-id')).toBe('dead-1')
      expect(await res.json()).toEqual({ detail: 'Bad Gateway: Unable to reach Zenzefi server (connection refused)', request_id: 'dead-1' })
      expect(dead.t.logs.filter((l) => l.includes('"request_id":"dead-1"'))).toHaveLength(1)
    } finally {
      await dead.close()
    }
  })
})

describe('WebSocket upgrades', () => {
  const wsUrl = (path: string) => `${f.gw.url.replace('http', 'ws')}${path}`

  it('a refusal carries it, with its access line', async () => {
    const err = (await openWebSocket(wsUrl(`${PREFIX}/ws-refused`), { headers: { 'x-request-id': 'ws-refused-1' } }).catch((e) => e)) as {
      status: number
      headers: IncomingHttpHeaders
      body: string
    }
    expect(err.status).toBe(401)
    expect(err.headers['x-request-id']).toBe('ws-refused-1')
    expect(accessLines(`${PREFIX}/ws-refused`)).toMatchObject([{ msg: 'websocket', status: 401, request_id: 'ws-refused-1' }])
    const notProxied = (await openWebSocket(wsUrl('/api/v1/users/me'), { headers: { 'x-request-id': 'ws-api-1' } }).catch((e) => e)) as {
      status: number
      headers: IncomingHttpHeaders
    }
    expect([notProxied.status, notProxied.headers['x-request-id']]).toEqual([404, 'ws-api-1'])
    expect(accessLines('/api/v1/users/me').filter((l) => l.request_id === 'ws-api-1')).toHaveLength(1)
  })

  it('the 101 carries it, Zenzefi gets it, and the one access line is written when the relay ends', async () => {
    const ws = new WebSocket(wsUrl(`${PREFIX}/ws-open?token=${c.token}`), { headers: { 'x-request-id': 'ws-open-1' } })
    const upgraded = new Promise<IncomingHttpHeaders>((resolve) => ws.once('upgrade', (res) => resolve(res.headers)))
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    expect((await upgraded)['x-request-id']).toBe('ws-open-1')
    expect(upgrades.at(-1)!['x-request-id']).toBe('ws-open-1')
    ws.send('ping')
    await new Promise((resolve) => ws.once('message', resolve))
    ws.close(1000)
    await new Promise((resolve) => ws.once('close', resolve))
    const deadline = Date.now() + 3000
    while (accessLines(`${PREFIX}/ws-open`).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const lines = accessLines(`${PREFIX}/ws-open`)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ msg: 'websocket', status: 101, request_id: 'ws-open-1', user_id: c.user.id, token_id: c.tokenId, mode: 'direct' })
    expect(lines[0]!.bytes_in).toBeGreaterThan(0)
    expect(lines[0]!.bytes_out).toBeGreaterThan(0)
  })
})
