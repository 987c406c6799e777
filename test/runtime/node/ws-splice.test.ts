// The Node relay splices the two sockets: frames cross as they were sent (the client's
// masked frames keep their own masks), however TCP cuts them, while the gateway still
// enforces the message cap (1009) and the protocol's header rules (1002), and closes a
// relay (1008) only at a frame boundary, so both ends get a well-formed close frame.
// Real gateway, a real `ws` Zenzefi stand-in (HTTPS, test CA), `ws` and raw TCP clients.
import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { type Socket, connect as tcp } from 'node:net'
import type { Duplex } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { customer, type Gateway, startGateway, startUpstream, type Upstream } from '../../support/gateway'
import { type TestDatabase, testDatabase } from '../../support/harness'
import { closed, nextMessage, openWebSocket, until } from '../../support/ws-client'
import { frame } from '../../support/ws-frame'

const LIMIT = 256 * 1024
const KiB = 1024
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const acceptOf = (key: string) => createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')

/** The unmasked frames in `bytes` (what a client receives), as far as they are complete. */
function frames(bytes: Buffer) {
  const out: Array<{ opcode: number; fin: boolean; payload: Buffer }> = []
  let pos = 0
  while (pos + 2 <= bytes.length) {
    let len = bytes[pos + 1]! & 0x7f
    let head = 2
    if (len === 126) [len, head] = [bytes.readUInt16BE(pos + 2), 4]
    else if (len === 127) [len, head] = [Number(bytes.readBigUInt64BE(pos + 2)), 10]
    if (pos + head + len > bytes.length) break
    out.push({ opcode: bytes[pos]! & 0x0f, fin: (bytes[pos]! & 0x80) !== 0, payload: bytes.subarray(pos + head, pos + head + len) })
    pos += head + len
  }
  return out
}
const closeOf = (f: { payload: Buffer }) => ({ code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString() })

interface Conn {
  url: string
  ws: WebSocket
  socket: Duplex
  protocol: string
  /** Every byte Zenzefi received after its 101. */
  raw: Buffer[]
  messages: Buffer[]
  errors: Error[]
  closed: Promise<{ code: number; reason: string }>
}

let db: TestDatabase
let up: Upstream
let gw: Gateway
const conns: Conn[] = []
const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: 64 * LIMIT,
  // Zenzefi picks the second subprotocol offered, or none when asked to.
  handleProtocols: (offered) => {
    const list = [...offered]
    return list.includes('pick-none') ? false : (list[1] ?? list[0] ?? false)
  },
})

/** Zenzefi's 101s that a client must not accept: each breaks one rule of the handshake. */
function brokenAnswer(req: IncomingMessage): string | null {
  const key = req.headers['sec-websocket-key']!
  const base = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
  if (req.url!.startsWith('/bad-accept')) return `${base}Sec-WebSocket-Accept: ${acceptOf('A'.repeat(22).concat('=='))}\r\n\r\n`
  if (req.url!.startsWith('/extension')) return `${base}Sec-WebSocket-Accept: ${acceptOf(key)}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`
  if (req.url!.startsWith('/unoffered')) return `${base}Sec-WebSocket-Accept: ${acceptOf(key)}\r\nSec-WebSocket-Protocol: never-offered\r\n\r\n`
  return null
}

beforeAll(async () => {
  db = await testDatabase()
  up = await startUpstream()
  up.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {})
    const broken = brokenAnswer(req)
    if (broken) return void socket.end(broken)
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: Conn = { url: req.url!, ws, socket, protocol: ws.protocol, raw: [], messages: [], errors: [], closed: null! }
      conn.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })))
      // A copy, taken before `ws` reads it: `ws` unmasks payloads in place.
      socket.prependListener('data', (d: Buffer) => conn.raw.push(Buffer.from(d)))
      ws.on('error', (err) => conn.errors.push(err))
      ws.on('message', (data: Buffer, isBinary) => {
        conn.messages.push(data)
        const text = isBinary ? '' : data.toString()
        if (text === 'fragments') {
          // Three fragments, each under the cap; the message is over it.
          for (const fin of [false, false, true]) ws.send(Buffer.alloc(LIMIT / 2 + 1), { fin })
          return
        }
        if (text === 'masked') return void socket.write(frame(0x1, 'servers never mask'))
        if (text === 'trickle')
          return void trickle(socket, [frame(0x1, 'tric', { fin: false, mask: null }), frame(0x9, 'mid', { mask: null }), frame(0x0, 'kled', { mask: null })])
        if (text === 'half') return // the test writes that frame itself
        ws.send(data, { binary: isBinary })
      })
      conns.push(conn)
    })
  })
  gw = await startGateway({ database: db, upstream: up, env: { WS_MAX_MESSAGE_BYTES: String(LIMIT) } })
})
afterAll(async () => {
  for (const c of conns) c.ws.terminate()
  await gw?.close()
  await up?.close()
  await db?.drop()
})

const wsUrl = (path: string) => `${gw.url.replace(/^http/, 'ws')}/api/v1/proxy${path}`
const lastConn = () => conns[conns.length - 1]!
const received = (c: Conn) => Buffer.concat(c.raw)

/** Writes `parts` one byte per write, each in its own TCP segment (no Nagle, a pause between). */
async function trickle(socket: Duplex, parts: Buffer[]) {
  ;(socket as Socket).setNoDelay?.(true)
  for (const byte of Buffer.concat(parts)) {
    socket.write(Buffer.from([byte]))
    await sleep(1)
  }
}

/** A client speaking raw TCP: its upgrade, the 101's head, and every byte after it. */
async function rawClient(path: string, protocols?: string) {
  const { port } = new URL(gw.url)
  const socket = tcp(Number(port), '127.0.0.1')
  socket.setNoDelay(true)
  socket.on('error', () => {})
  const key = randomBytes(16).toString('base64')
  let buf = Buffer.alloc(0)
  socket.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])))
  socket.write(
    `GET /api/v1/proxy${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${protocols ? `Sec-WebSocket-Protocol: ${protocols}\r\n` : ''}\r\n`,
  )
  await until(() => buf.includes('\r\n\r\n'))
  const end = buf.indexOf('\r\n\r\n') + 4
  return { socket, key, head: buf.subarray(0, end).toString('latin1'), after: () => buf.subarray(end) }
}

/** The relay's one access line, once it has ended. */
async function accessLine(path: string) {
  const find = () => gw.t.logs.find((l) => l.includes('"msg":"websocket"') && l.includes(`"path":"/api/v1/proxy${path}"`))
  await until(() => find() !== undefined)
  return JSON.parse(find()!) as Record<string, unknown>
}

async function revoke(c: { tokenId: string; jwt: string }) {
  expect((await gw.t.request(`/api/v1/tokens/${c.tokenId}`, { method: 'DELETE', bearer: c.jwt })).status).toBe(200)
}

describe('frames cross as they were sent', () => {
  it('the client’s masked frames reach Zenzefi byte for byte, mask keys included; Zenzefi’s reach the client unchanged', async () => {
    const { token } = await customer(gw.t)
    const client = await rawClient(`/echo?token=${token}`)
    const conn = lastConn()
    // Text, binary at each length encoding (7-bit, 16-bit, 64-bit), and a ping: all in one write.
    const payloads: Array<[number, Buffer]> = [
      [0x1, Buffer.from('héllo ☃')],
      [0x2, randomBytes(125)],
      [0x2, randomBytes(126)],
      [0x2, randomBytes(70_000)],
      [0x9, Buffer.from('are you there')],
    ]
    const sent = Buffer.concat(payloads.map(([op, p]) => frame(op, p)))
    client.socket.write(sent)
    // Zenzefi echoes each message with its type and answers the ping with a pong.
    const expected = Buffer.concat(payloads.map(([op, p]) => frame(op === 0x9 ? 0xa : op, p, { mask: null })))
    await until(() => client.after().length >= expected.length)
    expect(received(conn).equals(sent)).toBe(true)
    expect(client.after().equals(expected)).toBe(true)
    client.socket.destroy()
  })

  it('a frame written one byte at a time (its header cut too) arrives whole, both ways', async () => {
    const { token } = await customer(gw.t)
    const client = await rawClient(`/echo?token=${token}`)
    const conn = lastConn()
    const text = 'x'.repeat(130) // a 16-bit length: an 8-byte masked header to cut
    const sent = [frame(0x1, text), frame(0x9, 'ping')]
    await trickle(client.socket, sent)
    await until(() => frames(client.after()).length === 2)
    expect(received(conn).equals(Buffer.concat(sent))).toBe(true)
    expect(frames(client.after()).map((f) => [f.opcode, f.payload.toString()])).toEqual([
      [0x1, text],
      [0xa, 'ping'],
    ])
    client.socket.destroy()

    // Zenzefi → client: a fragmented message with a ping between its fragments, one byte per write; a `ws` client parses it.
    const ws = await openWebSocket(wsUrl(`/echo?token=${token}`))
    const errors: Error[] = []
    ws.on('error', (err) => errors.push(err))
    const ping = new Promise<Buffer>((r) => ws.once('ping', r))
    const message = nextMessage(ws, 10_000)
    ws.send('trickle')
    expect((await ping).toString()).toBe('mid')
    expect((await message).data.toString()).toBe('trickled')
    expect(errors).toEqual([])
    ws.close()
  })
})

describe('limits and protocol rules the relay enforces', () => {
  it('a fragmented message over WS_MAX_MESSAGE_BYTES from the client → 1009 at both ends, though each fragment is under it', async () => {
    const { token } = await customer(gw.t)
    const ws = await openWebSocket(wsUrl(`/echo/too-big?token=${token}`))
    const conn = lastConn()
    const atClient = closed(ws)
    for (const fin of [false, false, true]) ws.send(Buffer.alloc(LIMIT / 2 + 1), { fin })
    expect((await atClient).code).toBe(1009)
    expect((await conn.closed).code).toBe(1009)
    // Zenzefi never got the message (its first fragments, yes; never its end).
    expect(conn.messages).toEqual([])
    expect(conn.errors).toEqual([])
    expect(await accessLine('/echo/too-big')).toMatchObject({ status: 101, closedBy: 'client', code: 1009 })
  })

  it('…and from Zenzefi the same', async () => {
    const { token } = await customer(gw.t)
    const ws = await openWebSocket(wsUrl(`/echo?token=${token}`), { maxPayload: 64 * LIMIT })
    const conn = lastConn()
    const got: Buffer[] = []
    ws.on('message', (d: Buffer) => got.push(d))
    const atClient = closed(ws)
    ws.send('fragments')
    expect((await atClient).code).toBe(1009)
    expect((await conn.closed).code).toBe(1009)
    expect(got).toEqual([])
  })

  it.each([
    ['unmasked', frame(0x1, 'no mask', { mask: null })],
    ['with RSV1 set (no extension was negotiated)', frame(0x1, 'compressed?', { rsv: 4 })],
    ['with a reserved opcode', frame(0x3, 'what')],
    ['a ping over 125 bytes', frame(0x9, Buffer.alloc(126))],
    ['a fragmented ping', frame(0x9, 'half', { fin: false })],
    ['a continuation with no message begun', frame(0x0, 'orphan')],
  ])('a client frame %s → 1002 at both ends, and Zenzefi never sees it', async (_name, bad) => {
    const { token } = await customer(gw.t)
    const client = await rawClient(`/echo?token=${token}`)
    const conn = lastConn()
    const ok = frame(0x1, 'ok')
    client.socket.write(Buffer.concat([ok, bad]))
    // The gateway closes both sides at once: Zenzefi's echo of "ok", if it comes, comes too late.
    await until(() => frames(client.after()).some((f) => f.opcode === 0x8))
    expect(
      frames(client.after())
        .filter((f) => f.opcode === 0x8)
        .map((f) => closeOf(f).code),
    ).toEqual([1002])
    expect((await conn.closed).code).toBe(1002)
    expect(conn.messages.map(String)).toEqual(['ok'])
    expect(received(conn).subarray(0, ok.length).equals(ok)).toBe(true)
    expect(received(conn).includes(bad)).toBe(false)
    client.socket.destroy()
  })

  it('a masked frame from Zenzefi (servers must not mask) → 1002 at both ends', async () => {
    const { token } = await customer(gw.t)
    const ws = await openWebSocket(wsUrl(`/echo?token=${token}`))
    const conn = lastConn()
    const errors: Error[] = []
    ws.on('error', (err) => errors.push(err))
    const atClient = closed(ws)
    ws.send('masked')
    expect((await atClient).code).toBe(1002)
    expect((await conn.closed).code).toBe(1002)
    // The client got a close frame, not the bad frame: `ws` found nothing to complain about.
    expect(errors).toEqual([])
  })
})

describe('the gateway closing a relay mid-frame', () => {
  const BIG = 200 * KiB

  it('revoked while Zenzefi’s large frame is half through: the frame is finished, then a well-formed 1008 at both ends', async () => {
    const c = await customer(gw.t)
    const ws = await openWebSocket(wsUrl(`/echo/mid-frame?token=${c.token}`))
    const conn = lastConn()
    const errors: Error[] = []
    ws.on('error', (err) => errors.push(err))
    const got: Buffer[] = []
    ws.on('message', (d: Buffer) => got.push(d))
    const atClient = closed(ws, 10_000)
    ws.send('half')
    await until(() => conn.messages.length === 1)
    // Zenzefi stops reading (so it answers our close only later) and sends half a frame.
    conn.ws.pause()
    const payload = randomBytes(BIG)
    const whole = frame(0x2, payload, { mask: null })
    const cut = 10 + BIG / 4
    conn.socket.write(whole.subarray(0, cut))
    await sleep(100)
    await revoke(c)
    await sleep(300)
    expect(got).toEqual([])
    conn.socket.write(whole.subarray(cut))
    conn.ws.resume()
    expect(await atClient).toMatchObject({ code: 1008, reason: 'Token revoked' })
    expect(got).toHaveLength(1)
    expect(got[0]!.equals(payload)).toBe(true)
    expect(errors).toEqual([])
    expect(await conn.closed).toEqual({ code: 1008, reason: 'Token revoked' })
    expect(conn.errors).toEqual([])
    expect(await accessLine('/echo/mid-frame')).toMatchObject({ status: 101, closedBy: 'revoked', code: 1008 })
  })

  it('revoked while the client’s large frame is half through: the client hears 1008 at once, Zenzefi after the frame', async () => {
    const c = await customer(gw.t)
    const client = await rawClient(`/echo?token=${c.token}`)
    const conn = lastConn()
    const payload = randomBytes(BIG)
    const whole = frame(0x2, payload)
    const cut = 14 + BIG / 4
    client.socket.write(whole.subarray(0, cut))
    await until(() => received(conn).length >= cut)
    await revoke(c)
    // The client's direction is between frames: its close goes at once.
    await until(() => frames(client.after()).some((f) => f.opcode === 0x8))
    expect(frames(client.after()).map(closeOf)).toEqual([{ code: 1008, reason: 'Token revoked' }])
    expect(conn.messages).toEqual([])
    client.socket.write(whole.subarray(cut))
    expect(await conn.closed).toEqual({ code: 1008, reason: 'Token revoked' })
    expect(conn.messages).toHaveLength(1)
    expect(conn.messages[0]!.equals(payload)).toBe(true)
    expect(conn.errors).toEqual([])
    client.socket.destroy()
  })
})

describe('the handshakes', () => {
  it('the client gets the subprotocol Zenzefi chose, in a 101 the `ws` client accepts', async () => {
    const { token } = await customer(gw.t)
    const ws = await openWebSocket(wsUrl(`/echo?token=${token}`), { protocols: ['v10.stomp', 'v12.stomp'] })
    expect(lastConn().protocol).toBe('v12.stomp')
    expect(ws.protocol).toBe('v12.stomp')
    ws.send('still relayed')
    expect((await nextMessage(ws)).data.toString()).toBe('still relayed')
    ws.close()
  })

  it('…and none when Zenzefi chose none: the 101 answers the key and names no subprotocol', async () => {
    const { token } = await customer(gw.t)
    const client = await rawClient(`/echo?token=${token}`, 'pick-none, v12.stomp')
    expect(lastConn().protocol).toBe('')
    expect(client.head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/)
    expect(client.head).toContain(`\r\nSec-WebSocket-Accept: ${acceptOf(client.key)}\r\n`)
    expect(client.head).toMatch(/\r\nX-Request-Id: [^\r]+\r\n/)
    expect(client.head.toLowerCase()).not.toContain('sec-websocket-protocol')
    expect(client.head.toLowerCase()).not.toContain('sec-websocket-extensions')
    client.socket.write(frame(0x1, 'and relayed'))
    await until(() => frames(client.after()).length === 1)
    expect(frames(client.after())[0]!.payload.toString()).toBe('and relayed')
    client.socket.destroy()
  })

  it.each([
    ['an Accept that doesn’t answer the key', '/bad-accept'],
    ['an extension we never offered', '/extension'],
    ['a subprotocol we never offered', '/unoffered'],
  ])('Zenzefi’s 101 with %s → 502, no 101 for the client', async (_name, path) => {
    const { token } = await customer(gw.t)
    const err = await openWebSocket(wsUrl(`${path}?token=${token}`), { protocols: ['v12.stomp'] }).then(
      () => null,
      (e: { status?: number }) => e,
    )
    expect(err?.status).toBe(502)
  })
})
