// WebSocket limits on the Node relay: a message over WS_MAX_MESSAGE_BYTES from either
// side closes the relay with 1009 at both ends, and one token holds at most
// WS_MAX_PER_TOKEN sockets (the next upgrade is refused with 429 before any 101).
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { customer, type Gateway, startGateway, startUpstream, type Upstream } from '../../support/gateway'
import { type TestDatabase, testDatabase } from '../../support/harness'
import { closed, nextMessage, openWebSocket } from '../../support/ws-client'

const LIMIT = 64 * 1024
let db: TestDatabase
let up: Upstream
let gw: Gateway
const upstreamSockets: WebSocket[] = []
const upstreamClosed: Array<Promise<number>> = []
// Zenzefi's side: echoes, and "big" makes it send a message over the limit. Its own limit is far higher.
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * LIMIT })
wss.on('connection', (ws) => {
  upstreamSockets.push(ws)
  upstreamClosed.push(new Promise((r) => ws.on('close', (code) => r(code))))
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary && data.toString() === 'big') return ws.send(Buffer.alloc(LIMIT + 1))
    ws.send(data, { binary: isBinary })
  })
})

beforeAll(async () => {
  db = await testDatabase()
  up = await startUpstream()
  up.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws)))
  gw = await startGateway({ database: db, upstream: up, env: { WS_MAX_MESSAGE_BYTES: String(LIMIT), WS_MAX_PER_TOKEN: '2' } })
})
afterAll(async () => {
  for (const ws of upstreamSockets) ws.terminate()
  await gw?.close()
  await up?.close()
  await db?.drop()
})

const url = (token: string) => `${gw.url.replace(/^http/, 'ws')}/api/v1/proxy/ws?token=${token}`

describe('message size', () => {
  it('a message at the limit passes; one byte over from the client closes both legs with 1009', async () => {
    const { token } = await customer(gw.t)
    const ws = await openWebSocket(url(token), { maxPayload: 64 * LIMIT })
    ws.send(Buffer.alloc(LIMIT, 7))
    expect((await nextMessage(ws)).data.length).toBe(LIMIT)
    const atClient = closed(ws)
    ws.send(Buffer.alloc(LIMIT + 1))
    expect((await atClient).code).toBe(1009)
    expect(await upstreamClosed.at(-1)).toBe(1009)
  })

  it('…and one over the limit from Zenzefi does the same', async () => {
    const { token } = await customer(gw.t)
    const ws = await openWebSocket(url(token), { maxPayload: 64 * LIMIT })
    const atClient = closed(ws)
    ws.send('big')
    expect((await atClient).code).toBe(1009)
    expect(await upstreamClosed.at(-1)).toBe(1009)
  })
})

describe('sockets per token', () => {
  it('the third socket of one token is refused with 429 before any upgrade; another token is not affected', async () => {
    const { token } = await customer(gw.t)
    const first = await openWebSocket(url(token))
    const second = await openWebSocket(url(token))
    const refused = await openWebSocket(url(token)).then(
      () => null,
      (e: { status?: number; body?: string }) => e,
    )
    expect(refused?.status).toBe(429)
    expect(JSON.parse(refused!.body!)).toEqual({ detail: 'Too many WebSockets open for this access token' })
    const other = await customer(gw.t)
    const elsewhere = await openWebSocket(url(other.token))
    elsewhere.close()
    // A closed socket frees its place.
    const gone = closed(first)
    first.close()
    await gone
    await new Promise((r) => setTimeout(r, 50))
    const again = await openWebSocket(url(token))
    again.close()
    second.close()
  })
})
