import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { type AddressInfo, createServer as createTcpServer, connect as tcp } from 'node:net'
import type { Duplex } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ClientOptions, WebSocket, WebSocketServer } from 'ws'
import { customer, type Gateway, startGateway, startUpstream, type Upstream } from '../support/gateway'
import { type TestDatabase, testDatabase } from '../support/harness'
import { closed, echoes, nextMessage, openWebSocket, until } from '../support/ws-client'

// A real HTTPS Zenzefi stand-in (test CA) speaking WebSocket, the real Node server
// in front of it, and real `ws` clients. Upstream paths:
//   /echo…       echoes every frame with its type; text commands: "close <code> <reason>",
//                "ping <data>", "flood <count>" (1 MiB binary messages)
//   /forbidden   refuses the handshake with 403
//   /hang        never answers the handshake

interface UpstreamConn {
  url: string
  headers: IncomingHttpHeaders
  rawHeaders: string[]
  protocol: string
  pings: Buffer[]
  pongs: Buffer[]
  ws: WebSocket | null
  closed: Promise<{ code: number; reason: string }>
}

const ORIGIN = 'http://gateway.test'
const MiB = 1024 * 1024

let db: TestDatabase
let up: Upstream
let gw: Gateway
const conns: UpstreamConn[] = []
const hung: Duplex[] = []
const upstreamWss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  // Pongs by hand, so a test can see who answered a ping: "silent…" pings go unanswered.
  autoPong: false,
  // Zenzefi picks the second subprotocol offered, or none when asked to.
  handleProtocols: (offered) => {
    const list = [...offered]
    if (list.includes('pick-none')) return false
    return list[1] ?? list[0] ?? false
  },
})

function serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
  socket.on('error', () => {})
  let resolveClosed!: (v: { code: number; reason: string }) => void
  const conn: UpstreamConn & { resolveClosed: typeof resolveClosed } = {
    url: req.url!,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    protocol: '',
    pings: [],
    pongs: [],
    ws: null,
    closed: new Promise((r) => (resolveClosed = r)),
    resolveClosed: (v) => resolveClosed(v),
  }
  conns.push(conn)
  if (req.url!.startsWith('/forbidden')) {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nforbidden')
    return
  }
  if (req.url!.startsWith('/hang')) return void hung.push(socket)
  // The 101 and the first frame in one write, so they reach the gateway in one read.
  if (req.url!.startsWith('/echo/greet')) {
    socket.cork()
    process.nextTick(() => socket.uncork())
  }
  // Zenzefi taking its time over the 101.
  if (req.url!.startsWith('/echo/slow')) return void setTimeout(() => accept(req, socket, head, conn), 300)
  accept(req, socket, head, conn)
}

function accept(req: IncomingMessage, socket: Duplex, head: Buffer, conn: UpstreamConn & { resolveClosed(v: { code: number; reason: string }): void }) {
  upstreamWss.handleUpgrade(req, socket, head, (ws) => {
    conn.ws = ws
    conn.protocol = ws.protocol
    // SockJS's raw-WebSocket endpoint speaks first: "o" right after the 101, in the same write.
    if (req.url!.startsWith('/echo/greet')) ws.send('o')
    ws.on('ping', (d) => {
      conn.pings.push(d)
      if (!d.toString().startsWith('silent')) ws.pong(d)
    })
    ws.on('pong', (d) => conn.pongs.push(d))
    ws.on('close', (code, reason) => conn.resolveClosed({ code, reason: reason.toString() }))
    ws.on('message', (data: Buffer, isBinary) => {
      const text = isBinary ? '' : data.toString()
      if (text.startsWith('close ')) {
        const [, code, ...reason] = text.split(' ')
        return ws.close(Number(code), reason.join(' '))
      }
      if (text.startsWith('ping ')) return ws.ping(text.slice(5))
      if (text === 'drop') return ws.terminate()
      if (text.startsWith('flood ')) {
        const n = Number(text.slice(6))
        for (let i = 0; i < n; i++) ws.send(Buffer.alloc(MiB, i % 256))
        return
      }
      ws.send(data, { binary: isBinary })
    })
  })
}

beforeAll(async () => {
  db = await testDatabase()
  up = await startUpstream()
  up.server.on('upgrade', serveUpgrade)
  gw = await startGateway({ database: db, upstream: up, env: { BACKEND_URL: ORIGIN } })
})
afterAll(async () => {
  for (const c of conns) c.ws?.terminate()
  for (const s of hung) s.destroy()
  await gw?.close()
  await up?.close()
  await db?.drop()
})

const wsUrl = (g: Gateway, path: string) => `${g.url.replace(/^http/, 'ws')}/api/v1/proxy${path}`

/** An open client socket through the gateway, or the HTTP refusal it got instead. */
const connect = (g: Gateway, path: string, opts: ClientOptions & { protocols?: string[] } = {}) => openWebSocket(wsUrl(g, path), opts)

/** The refusal of an upgrade that must not happen: status and parsed body. */
async function refusal(g: Gateway, path: string, opts: ClientOptions = {}) {
  const err = await connect(g, path, opts).then(
    (ws) => {
      ws.terminate()
      throw new Error('upgrade unexpectedly succeeded')
    },
    (e: { status?: number; body?: string }) => e,
  )
  if (err.status === undefined) throw err as Error
  return { status: err.status, body: JSON.parse(err.body!) as { detail: string } }
}

const lastConn = () => conns[conns.length - 1]!

describe('relaying frames, by each token source', () => {
  it('?token= — text and binary echo with their types', async () => {
    const { token } = await customer(gw.t)
    const ws = await connect(gw, `/echo?token=${token}`)
    await echoes(ws)
    ws.close()
  })

  it('cookie from the gateway’s own origin (BACKEND_URL) and from a CORS origin', async () => {
    const { token } = await customer(gw.t)
    for (const origin of [ORIGIN, 'https://127.0.0.1:61000']) {
      const ws = await connect(gw, '/echo', { headers: { Cookie: `zenzefi_access_token=${token}`, Origin: origin } })
      await echoes(ws)
      ws.close()
    }
  })

  it('X-Access-Token header, with no Origin at all (a tool, not a browser)', async () => {
    const { token } = await customer(gw.t)
    const ws = await connect(gw, '/echo', { headers: { 'X-Access-Token': token } })
    await echoes(ws)
    ws.close()
  })

  it('?token= wins over a cookie and a header carrying other (invalid) tokens', async () => {
    const { token } = await customer(gw.t)
    const bogus = 'x'.repeat(64)
    const ws = await connect(gw, `/echo?token=${token}`, { headers: { Cookie: `zenzefi_access_token=${bogus}`, 'X-Access-Token': bogus } })
    await echoes(ws)
    ws.close()
  })

  it('a burst the client is slow to read is held back at Zenzefi (backpressure), then arrives whole and in order', async () => {
    const { token } = await customer(gw.t)
    const ws = await connect(gw, `/echo?token=${token}`)
    const received: Buffer[] = []
    ws.on('message', (d: Buffer) => received.push(d))
    ws.pause()
    ws.send('flood 64')
    const conn = lastConn()
    // The gateway stops reading Zenzefi once ~1 MiB waits for the client: most of the 64 MiB stays queued upstream.
    await until(() => (conn.ws?.bufferedAmount ?? 0) > 0)
    await new Promise((r) => setTimeout(r, 500))
    expect(conn.ws!.bufferedAmount).toBeGreaterThan(32 * MiB)
    ws.resume()
    await until(() => received.length === 64, 20_000)
    expect(received.every((b, i) => b.length === MiB && b[0] === i % 256 && b[MiB - 1] === i % 256)).toBe(true)
    ws.close()
  })
})

describe('the upstream handshake', () => {
  it('a frame Zenzefi sends together with its 101 reaches the client first', async () => {
    const { token } = await customer(gw.t)
    const ws = new WebSocket(wsUrl(gw, `/echo/greet?token=${token}`))
    const first = nextMessage(ws)
    await new Promise((r) => ws.once('open', r))
    expect((await first).data.toString()).toBe('o')
    ws.send('next')
    expect((await nextMessage(ws)).data.toString()).toBe('next')
    ws.close()
  })

  it('drops the token parameter and keeps every other one byte for byte', async () => {
    const { token } = await customer(gw.t)
    const ws = await connect(gw, `/echo/sockjs/123/abc/websocket?a=1&token=${token}&b=x%20y&a=2&c=%2F%3D&d=a+b&e=&%74oken=${token}`)
    expect(lastConn().url).toBe('/echo/sockjs/123/abc/websocket?a=1&b=x%20y&a=2&c=%2F%3D&d=a+b&e=')
    ws.close()
  })

  it('sends the request-target as the client did, not re-normalised (a raw apostrophe stays raw)', async () => {
    const { token } = await customer(gw.t)
    const target = `/api/v1/proxy/echo/raw?q=it's&token=${token}&e=%7e`
    // finishRequest sends our exact request-target (ws would percent-encode the apostrophe).
    const ws = await connect(gw, '/echo/raw', {
      finishRequest: (req: ClientRequest) => {
        req.path = target
        req.end()
      },
    })
    expect(lastConn().url).toBe("/echo/raw?q=it's&e=%7e")
    ws.close()
  })

  it('sets identity and forwarding headers; drops our credentials and client copies of X-User-Id/X-Token-Id in any spelling', async () => {
    const { token, tokenId, user } = await customer(gw.t)
    const ws = await connect(gw, '/echo', {
      headers: {
        Cookie: `JSESSIONID=keep; zenzefi_access_token=${token}; theme=dark`,
        Origin: ORIGIN,
        'X-Access-Token': token,
        'X-Local-Url': 'https://127.0.0.1:61000',
        'X-User-Id': 'attacker',
        X_User_Id: 'attacker',
        'x-token-id': 'attacker',
        X_TOKEN_ID: 'attacker',
        'X-Forwarded-For': '6.6.6.6',
        'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
        'X-Custom': 'kept',
      },
    })
    const seen = lastConn()
    const raw = seen.rawHeaders.join('\n')
    expect(raw).not.toContain(token)
    expect(raw).not.toContain('attacker')
    expect(raw).not.toContain('6.6.6.6')
    expect(raw.toLowerCase()).not.toContain('x-access-token')
    expect(raw.toLowerCase()).not.toContain('x-local-url')
    expect(raw.toLowerCase()).not.toMatch(/x_user_id|x_token_id/)
    expect(seen.headers['x-user-id']).toBe(user.id)
    expect(seen.headers['x-token-id']).toBe(tokenId)
    expect(seen.headers.cookie).toBe('JSESSIONID=keep; theme=dark')
    expect(seen.headers.host).toBe(`127.0.0.1:${up.port}`)
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(seen.headers['x-forwarded-proto']).toBe('http')
    expect(seen.headers['x-forwarded-host']).toBe(new URL(gw.url).host)
    expect(seen.headers['x-custom']).toBe('kept')
    // One handshake of the gateway's own: a single key and version, and no compression offered.
    expect(seen.rawHeaders.filter((h) => /^sec-websocket-key$/i.test(h))).toHaveLength(1)
    expect(seen.headers['sec-websocket-extensions']).toBeUndefined()
    expect(ws.extensions).toBe('')
    ws.close()
  })

  it('the client gets exactly the subprotocol Zenzefi chose (the second of two offered)', async () => {
    const { token } = await customer(gw.t)
    const ws = await connect(gw, `/echo?token=${token}`, { protocols: ['v10.stomp', 'v12.stomp'] })
    expect(lastConn().headers['sec-websocket-protocol']).toBe('v10.stomp,v12.stomp')
    expect(lastConn().protocol).toBe('v12.stomp')
    expect(ws.protocol).toBe('v12.stomp')
    ws.close()
  })

  it('a frame the client sends before its 101 (while Zenzefi is still answering) is relayed, not lost', async () => {
    const { token } = await customer(gw.t)
    const { port } = new URL(gw.url)
    const socket = tcp(Number(port), '127.0.0.1')
    let buf = Buffer.alloc(0)
    socket.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])))
    socket.write(
      `GET /api/v1/proxy/echo/slow?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    )
    await new Promise((r) => setTimeout(r, 100))
    // A masked text frame "early" (mask key 0), sent well before the 101.
    socket.write(Buffer.concat([Buffer.from([0x81, 0x85, 0, 0, 0, 0]), Buffer.from('early')]))
    await until(() => buf.includes(Buffer.from('early')))
    const text = buf.toString('latin1')
    expect(text).toMatch(/^HTTP\/1\.1 101 /)
    expect(buf.subarray(buf.indexOf('\r\n\r\n') + 4)).toEqual(Buffer.concat([Buffer.from([0x81, 0x05]), Buffer.from('early')]))
    socket.destroy()
  })

  it('…and none when Zenzefi chose none of the offered ones (the 101 then names no subprotocol, as RFC 6455 allows)', async () => {
    const { token } = await customer(gw.t)
    // By hand: `ws` as a client refuses a 101 without a subprotocol after offering some; browsers accept it.
    const { port } = new URL(gw.url)
    const socket = tcp(Number(port), '127.0.0.1')
    const head = await new Promise<string>((resolve, reject) => {
      let buf = ''
      socket.on('data', (d) => {
        buf += d.toString('latin1')
        if (buf.includes('\r\n\r\n')) resolve(buf.slice(0, buf.indexOf('\r\n\r\n')))
      })
      socket.on('error', reject)
      socket.write(
        `GET /api/v1/proxy/echo?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: pick-none, v12.stomp\r\n\r\n',
      )
    })
    socket.destroy()
    expect(lastConn().headers['sec-websocket-protocol']).toBe('pick-none,v12.stomp')
    expect(lastConn().protocol).toBe('')
    expect(head).toMatch(/^HTTP\/1\.1 101 /)
    expect(head).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
    expect(head.toLowerCase()).not.toContain('sec-websocket-protocol')
  })
})

describe('control frames and closing', () => {
  it('pings and pongs pass through: the far end answers, never the gateway', async () => {
    const { token } = await customer(gw.t)
    const ws = await connect(gw, `/echo?token=${token}`, { autoPong: false })
    const conn = lastConn()
    const pongs: string[] = []
    ws.on('pong', (d) => pongs.push(d.toString()))
    // Client → Zenzefi: answered by Zenzefi's pong.
    ws.ping('are-you-there')
    await until(() => pongs.length === 1)
    expect(pongs).toEqual(['are-you-there'])
    // A ping Zenzefi leaves unanswered stays unanswered.
    ws.ping('silent please')
    await until(() => conn.pings.length === 2)
    await new Promise((r) => setTimeout(r, 300))
    expect(conn.pings.map(String)).toEqual(['are-you-there', 'silent please'])
    expect(pongs).toEqual(['are-you-there'])
    // Zenzefi → client: the client's own pong (here sent by hand) is what Zenzefi gets.
    const ping = new Promise<Buffer>((r) => ws.once('ping', r))
    ws.send('ping from-zenzefi')
    expect((await ping).toString()).toBe('from-zenzefi')
    await new Promise((r) => setTimeout(r, 300))
    expect(conn.pongs).toEqual([])
    ws.pong('answer')
    await until(() => conn.pongs.length === 1)
    expect(conn.pongs.map(String)).toEqual(['answer'])
    ws.close()
  })

  it('Zenzefi’s close code and reason reach the client', async () => {
    const { token } = await customer(gw.t)
    const ws = await connect(gw, `/echo?token=${token}`)
    const done = closed(ws)
    ws.send('close 4001 session over')
    expect(await done).toMatchObject({ code: 4001, reason: 'session over' })
  })

  it('the client’s close code and reason reach Zenzefi, and the relay is forgotten and logged without the token', async () => {
    const { token } = await customer(gw.t)
    const before = gw.server.sessions.size
    const ws = await connect(gw, `/echo/logged?token=${token}&x=1`)
    const conn = lastConn()
    expect(gw.server.sessions.size).toBe(before + 1)
    ws.close(4002, 'client done')
    expect(await conn.closed).toEqual({ code: 4002, reason: 'client done' })
    await until(() => gw.t.logs.some((l) => l.includes('"msg":"websocket"') && l.includes('/echo/logged')))
    const line = JSON.parse(gw.t.logs.find((l) => l.includes('"msg":"websocket"') && l.includes('/echo/logged'))!)
    expect(line).toMatchObject({ path: '/api/v1/proxy/echo/logged', status: 101, code: 4002, closedBy: 'client' })
    expect(typeof line.ms).toBe('number')
    await until(() => gw.server.sessions.size === before)
    expect(gw.t.logs.join('\n')).not.toContain(token)
    expect(gw.t.logs.join('\n')).not.toContain('x=1')
  })

  it('Zenzefi dropping the connection without a close frame (1006, unsendable) → a plain close for the client', async () => {
    const { token } = await customer(gw.t)
    const ws = await connect(gw, `/echo?token=${token}`)
    const done = closed(ws)
    ws.send('drop')
    expect(await done).toMatchObject({ code: 1005, reason: '' })
  })

  it('a close without a code passes on as a close without a code', async () => {
    const { token } = await customer(gw.t)
    const ws = await connect(gw, `/echo?token=${token}`)
    const conn = lastConn()
    ws.close()
    expect(await conn.closed).toEqual({ code: 1005, reason: '' })
  })
})

describe('other Upgrade requests', () => {
  it('an Upgrade that isn’t websocket (curl --http2’s h2c) is answered as the plain request it also is', async () => {
    const { port } = new URL(gw.url)
    const reply = await new Promise<string>((resolve, reject) => {
      const s = tcp(Number(port), '127.0.0.1', () =>
        s.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n'),
      )
      let data = ''
      s.on('data', (c) => (data += c))
      s.on('end', () => resolve(data))
      s.on('error', reject)
    })
    expect(reply).toMatch(/^HTTP\/1\.1 200 /)
    expect(reply).toMatch(/"status":"(healthy|degraded|unhealthy)"/)
  })
})

describe('refused before any upgrade', () => {
  it.each([
    ['no token', {}, 401, 'Authentication required: provide cookie or X-Access-Token header'],
    ['a malformed token', { headers: { 'X-Access-Token': 'nope' } }, 401, 'Invalid or expired access token'],
    ['an unknown token', { headers: { 'X-Access-Token': 'A'.repeat(64) } }, 401, 'Invalid or expired access token'],
  ] as const)('%s → %i', async (_name, opts, status, detail) => {
    const before = conns.length
    const res = await refusal(gw, '/echo', opts)
    expect(res).toEqual({ status, body: { detail } })
    expect(conns.length).toBe(before)
  })

  it('a bad ?token= → 401', async () => {
    const res = await refusal(gw, `/echo?token=${'B'.repeat(64)}`)
    expect(res).toEqual({ status: 401, body: { detail: 'Invalid or expired access token' } })
  })

  it('a revoked token → 401', async () => {
    const { token, tokenId, jwt } = await customer(gw.t)
    expect((await gw.t.request(`/api/v1/tokens/${tokenId}`, { method: 'DELETE', bearer: jwt })).status).toBe(200)
    expect((await refusal(gw, `/echo?token=${token}`)).status).toBe(401)
  })

  it('cookie from a foreign Origin → 403, and the token is not activated', async () => {
    const { token, jwt } = await customer(gw.t)
    const before = conns.length
    const res = await refusal(gw, '/echo', { headers: { Cookie: `zenzefi_access_token=${token}`, Origin: 'https://evil.example' } })
    expect(res).toEqual({ status: 403, body: { detail: 'Origin not allowed' } })
    expect(conns.length).toBe(before)
    const [mine] = (await (await gw.t.request('/api/v1/tokens/my-tokens', { bearer: jwt })).json()) as { activated_at: string | null }[]
    expect(mine!.activated_at).toBeNull()
  })

  it('cookie with no Origin → 403', async () => {
    const { token } = await customer(gw.t)
    const res = await refusal(gw, '/echo', { headers: { Cookie: `zenzefi_access_token=${token}` } })
    expect(res).toEqual({ status: 403, body: { detail: 'Origin not allowed' } })
  })

  it('an origin that only looks like ours (other scheme or port) → 403', async () => {
    const { token } = await customer(gw.t)
    for (const origin of ['https://gateway.test', 'http://gateway.test:8080', 'null']) {
      expect((await refusal(gw, '/echo', { headers: { Cookie: `zenzefi_access_token=${token}`, Origin: origin } })).status).toBe(403)
    }
  })

  it('an upgrade outside /api/v1/proxy/ → 404', async () => {
    const { token } = await customer(gw.t)
    const url = `${gw.url.replace(/^http/, 'ws')}/api/v1/tokens/ws?token=${token}`
    const err = await new Promise<{ status: number; body: string }>((resolve) => {
      const ws = new WebSocket(url)
      ws.on('error', () => {})
      ws.once('unexpected-response', (_req, res) => {
        let body = ''
        res.on('data', (c) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
      })
    })
    expect(err.status).toBe(404)
    expect(JSON.parse(err.body)).toHaveProperty('detail')
  })
})

describe('tokens and live sockets', () => {
  it('first use through a WebSocket activates the token', async () => {
    const { token, jwt } = await customer(gw.t)
    const ws = await connect(gw, `/echo?token=${token}`)
    const [mine] = (await (await gw.t.request('/api/v1/tokens/my-tokens', { bearer: jwt })).json()) as {
      activated_at: string | null
      expires_at: string | null
    }[]
    expect(mine!.activated_at).not.toBeNull()
    expect(mine!.expires_at).not.toBeNull()
    ws.close()
  })

  it('revoking the token closes its open socket with 1008 within 2 s, at the client and at Zenzefi', async () => {
    const { token, tokenId, jwt } = await customer(gw.t)
    const ws = await connect(gw, `/echo?token=${token}`)
    const conn = lastConn()
    const other = await customer(gw.t)
    const bystander = await connect(gw, `/echo?token=${other.token}`)
    const done = closed(ws)
    const revokedAt = performance.now()
    expect((await gw.t.request(`/api/v1/tokens/${tokenId}`, { method: 'DELETE', bearer: jwt })).status).toBe(200)
    const end = await done
    expect(end).toMatchObject({ code: 1008, reason: 'Token revoked' })
    expect(end.at - revokedAt).toBeLessThan(2000)
    expect(await conn.closed).toEqual({ code: 1008, reason: 'Token revoked' })
    // Only that token's sockets.
    expect(bystander.readyState).toBe(WebSocket.OPEN)
    bystander.send('still here')
    expect((await nextMessage(bystander)).data.toString()).toBe('still here')
    bystander.close()
  })
})

describe('Zenzefi failing the handshake', () => {
  it('the token revoked while Zenzefi is still answering → 401, and the upstream attempt is dropped', async () => {
    const { token, tokenId, jwt } = await customer(gw.t)
    const before = conns.length
    const res = refusal(gw, `/hang/revoked?token=${token}`)
    await until(() => conns.length > before)
    const upstreamSocket = hung[hung.length - 1]!
    const dropped = new Promise((r) => upstreamSocket.once('close', r))
    expect((await gw.t.request(`/api/v1/tokens/${tokenId}`, { method: 'DELETE', bearer: jwt })).status).toBe(200)
    expect(await res).toEqual({ status: 401, body: { detail: 'Invalid or expired access token' } })
    await dropped
  })

  it('the client leaving while Zenzefi is still answering drops the upstream attempt', async () => {
    const { token } = await customer(gw.t)
    const before = conns.length
    const ws = new WebSocket(wsUrl(gw, `/hang/left?token=${token}`))
    ws.on('error', () => {})
    await until(() => conns.length > before)
    const upstreamSocket = hung[hung.length - 1]!
    const dropped = new Promise((r) => upstreamSocket.once('close', r))
    ws.terminate()
    await dropped
    await until(() => gw.t.logs.some((l) => l.includes('/hang/left') && l.includes('"status":499')))
  })

  it('refusing it with 403 → the client gets 403', async () => {
    const { token } = await customer(gw.t)
    const res = await refusal(gw, `/forbidden?token=${token}`)
    expect(res.status).toBe(403)
    expect(res.body).toHaveProperty('detail')
  })
})

describe('with other gateway settings', () => {
  it('an activated token whose expiry passes: its socket closes with 1008 within 2 s', async () => {
    const g = await startGateway({ database: db, upstream: up, env: { BACKEND_URL: ORIGIN } })
    try {
      const { token } = await customer(g.t, 1)
      const ws = await connect(g, `/echo?token=${token}`)
      const conn = lastConn()
      ws.send('alive')
      await nextMessage(ws)
      const done = closed(ws)
      g.t.clock.advance(61 * 60_000)
      const movedAt = performance.now()
      const end = await done
      expect(end).toMatchObject({ code: 1008, reason: 'Token expired' })
      expect(end.at - movedAt).toBeLessThan(2000)
      expect((await conn.closed).code).toBe(1008)
      expect((await refusal(g, `/echo?token=${token}`)).status).toBe(401)
    } finally {
      await g.close()
    }
  })

  it('a graceful shutdown ends open sockets with 1001 at once instead of leaving them hanging', async () => {
    const g = await startGateway({ database: db, upstream: up, env: { BACKEND_URL: ORIGIN } })
    const { token } = await customer(g.t)
    const ws = await connect(g, `/echo?token=${token}`)
    const conn = lastConn()
    const done = closed(ws)
    const stopped = new Promise<void>((r) => g.server.shutdown(r))
    expect(await done).toMatchObject({ code: 1001, reason: 'Server shutting down' })
    expect((await conn.closed).code).toBe(1001)
    await stopped
    await g.t.close()
  })

  it('Zenzefi unreachable → 502', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = createTcpServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo
        s.close(() => resolve(port))
      })
    })
    const g = await startGateway({ database: db, upstream: { url: `https://127.0.0.1:${closedPort}`, caFile: up.caFile } })
    try {
      const { token } = await customer(g.t)
      expect(await refusal(g, `/echo?token=${token}`)).toEqual({
        status: 502,
        body: { detail: 'Bad Gateway: Unable to reach Zenzefi server', request_id: expect.any(String) },
      })
    } finally {
      await g.close()
    }
  })

  it('Zenzefi with a certificate we don’t trust (no ZENZEFI_CA_FILE) → 502; ZENZEFI_TLS_INSECURE=true connects', async () => {
    const strict = await startGateway({ database: db, upstream: { url: up.url } })
    const insecure = await startGateway({ database: db, upstream: { url: up.url }, env: { ZENZEFI_TLS_INSECURE: 'true' } })
    try {
      const { token } = await customer(strict.t)
      expect((await refusal(strict, `/echo?token=${token}`)).status).toBe(502)
      const ws = await connect(insecure, `/echo?token=${token}`)
      await echoes(ws)
      ws.close()
    } finally {
      await strict.close()
      await insecure.close()
    }
  })

  it('Zenzefi not answering the handshake within ZENZEFI_TIMEOUT_SECONDS → 504', async () => {
    const g = await startGateway({ database: db, upstream: up, env: { ZENZEFI_TIMEOUT_SECONDS: '1' } })
    try {
      const { token } = await customer(g.t)
      const started = performance.now()
      expect(await refusal(g, `/hang?token=${token}`)).toEqual({
        status: 504,
        body: { detail: 'Gateway Timeout: Zenzefi server did not respond', request_id: expect.any(String) },
      })
      expect(performance.now() - started).toBeLessThan(3000)
    } finally {
      await g.close()
    }
  })
})
