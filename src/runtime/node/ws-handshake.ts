// The client's side of a WebSocket upgrade before anything is relayed: is it a
// well-formed handshake, which subprotocols does it offer, how to refuse it with a
// plain HTTP answer on the raw socket, and how to accept it with a 101.

import { createHash } from 'node:crypto'
import { type IncomingMessage, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { detailReply, type Reply } from '../../gateway/answers'
import { REQUEST_ID_HEADER } from '../../gateway/request-id'

/** What a refused upgrade is answered with, before any 101: one of the gateway's replies. */
export type Refusal = Reply

/**
 * Writes an HTTP/1.1 answer with a `{"detail"}` body on the socket of an upgrade
 * that will not happen, then closes it once the answer is flushed.
 */
export function writeRefusal(socket: Duplex, refusal: Refusal): void {
  if (socket.destroyed || !socket.writable) return void socket.destroy()
  let head = `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Error'}\r\n`
  for (let i = 0; i < refusal.headers.length; i += 2) head += `${refusal.headers[i]}: ${refusal.headers[i + 1]}\r\n`
  socket.once('finish', () => socket.destroy())
  socket.end(`${head}Content-Length: ${Buffer.byteLength(refusal.body)}\r\nConnection: close\r\n\r\n${refusal.body}`)
}

/** The Sec-WebSocket-Accept that answers `key` (RFC 6455 §4.2.2). */
export function acceptKeyOf(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
}

/** The client's 101, written by hand on its raw socket: the subprotocol Zenzefi chose ('' for none), and our request id. */
export function writeSwitching(socket: Duplex, key: string, protocol: string, requestId: string): void {
  let head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKeyOf(key)}\r\n`
  if (protocol) head += `Sec-WebSocket-Protocol: ${protocol}\r\n`
  socket.write(`${head}${REQUEST_ID_HEADER}: ${requestId}\r\n\r\n`, 'latin1')
}

const KEY = /^[+/0-9A-Za-z]{22}==$/

/**
 * What a client's handshake must be for us to answer it with a 101 (the checks a
 * WebSocket server makes), made up front so a handshake that could never complete
 * is refused before we authenticate or dial Zenzefi.
 */
export function handshakeProblem(req: IncomingMessage): Refusal | null {
  if (req.method !== 'GET') return detailReply(405, 'Method Not Allowed', ['Allow', 'GET'])
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return detailReply(400, 'Invalid Upgrade header: only websocket is supported')
  const key = req.headers['sec-websocket-key']
  if (key === undefined || !KEY.test(key)) return detailReply(400, 'Missing or invalid Sec-WebSocket-Key header')
  const version = Number(req.headers['sec-websocket-version'])
  if (version !== 13 && version !== 8) {
    return detailReply(400, 'Missing or invalid Sec-WebSocket-Version header', ['Sec-WebSocket-Version', '13, 8'])
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
