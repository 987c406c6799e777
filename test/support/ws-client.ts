import { expect } from 'vitest'
import { type ClientOptions, WebSocket } from 'ws'

/** An open client socket, or a rejection carrying the HTTP status and body the upgrade was refused with. */
export function openWebSocket(url: string, opts: ClientOptions & { protocols?: string[] } = {}) {
  const { protocols, ...options } = opts
  const ws = new WebSocket(url, protocols ?? [], { perMessageDeflate: false, ...options })
  return new Promise<WebSocket>((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c))
      res.on('end', () => {
        ws.terminate()
        reject(Object.assign(new Error(`refused: ${res.statusCode}`), { status: res.statusCode, body, headers: res.headers }))
      })
    })
    ws.on('error', reject)
  })
}

export function nextMessage(ws: WebSocket, ms = 5000) {
  return new Promise<{ data: Buffer; isBinary: boolean }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), ms)
    ws.once('message', (data: Buffer, isBinary) => {
      clearTimeout(timer)
      resolve({ data, isBinary })
    })
  })
}

/** The close the client saw, and when (performance.now()). */
export function closed(ws: WebSocket, ms = 5000) {
  return new Promise<{ code: number; reason: string; at: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not closed')), ms)
    ws.once('close', (code, reason) => {
      clearTimeout(timer)
      resolve({ code, reason: reason.toString(), at: performance.now() })
    })
  })
}

export async function until(check: () => boolean, ms = 3000) {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Text and binary frames come back through the relay with their content and their type. */
export async function echoes(ws: WebSocket) {
  ws.send('héllo ☃')
  const text = await nextMessage(ws)
  expect(text.isBinary).toBe(false)
  expect(text.data.toString()).toBe('héllo ☃')
  const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80])
  ws.send(bytes)
  const bin = await nextMessage(ws)
  expect(bin.isBinary).toBe(true)
  expect(bin.data.equals(bytes)).toBe(true)
  // Valid UTF-8 sent as binary stays binary.
  ws.send(Buffer.from('plain'), { binary: true })
  expect((await nextMessage(ws)).isBinary).toBe(true)
}
