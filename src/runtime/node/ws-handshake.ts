// The client's side of a WebSocket upgrade before anything is relayed: is it a
// well-formed handshake, which subprotocols does it offer, is its Origin one we
// trust, and how to refuse it with a plain HTTP answer on the raw socket.

import { type IncomingMessage, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'

/** What a refused upgrade is answered with, before any 101. */
export interface Refusal {
  status: number
  detail: string
  headers?: Record<string, string>
}

/**
 * Writes an HTTP/1.1 answer with a `{"detail"}` body on the socket of an upgrade
 * that will not happen, then closes it once the answer is flushed.
 */
export function writeRefusal(socket: Duplex, refusal: Refusal): void {
  if (socket.destroyed || !socket.writable) return void socket.destroy()
  const body = JSON.stringify({ detail: refusal.detail })
  const extra = Object.entries(refusal.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  socket.once('finish', () => socket.destroy())
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      extra +
      'Connection: close\r\n\r\n' +
      body,
  )
}

const KEY = /^[+/0-9A-Za-z]{22}==$/

/**
 * The checks `ws`'s server makes when completing an upgrade, made up front so a
 * handshake that could never complete is refused before we authenticate or dial Zenzefi.
 */
export function handshakeProblem(req: IncomingMessage): Refusal | null {
  if (req.method !== 'GET') return { status: 405, detail: 'Method Not Allowed', headers: { Allow: 'GET' } }
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return { status: 400, detail: 'Invalid Upgrade header: only websocket is supported' }
  const key = req.headers['sec-websocket-key']
  if (key === undefined || !KEY.test(key)) return { status: 400, detail: 'Missing or invalid Sec-WebSocket-Key header' }
  const version = Number(req.headers['sec-websocket-version'])
  if (version !== 13 && version !== 8) {
    return { status: 400, detail: 'Missing or invalid Sec-WebSocket-Version header', headers: { 'Sec-WebSocket-Version': '13, 8' } }
  }
  return null
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * The subprotocols the client offers, in its order; [] for none; null when the
 * header is malformed (empty names, separators, duplicates — what `ws` refuses too).
 */
export function offeredProtocols(header: string | undefined): string[] | null {
  if (header === undefined) return []
  const names = header.split(',').map((p) => p.trim())
  if (names.some((n) => !TOKEN.test(n)) || new Set(names).size !== names.length) return null
  return names
}
