// The Zenzefi leg of a relayed WebSocket: send the Upgrade request with node:http(s)
// over the upstream agent (its TLS trust settings), check the 101 the way a client
// must, and say how it went (open with its socket, refused, unreachable, too slow).

import http, { type Agent as HttpAgent, type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import { acceptKeyOf } from './ws-handshake'

export type UpstreamOutcome =
  /** `socket` is paused; `head` holds what Zenzefi sent right behind its 101. */
  | { kind: 'open'; protocol: string; socket: Socket; head: Buffer }
  | { kind: 'refused'; status: number }
  | { kind: 'failed'; error: Error }
  | { kind: 'timeout' }
  | { kind: 'cancelled' }

export interface DialOptions {
  /** Zenzefi's origin (ZENZEFI_TARGET_URL). */
  target: URL
  /** The request-target, sent as it is. */
  path: string
  protocols: string[]
  headers: Record<string, string>
  /** The client's Sec-WebSocket-Key and -Version: Zenzefi's Accept then answers the client's key too. */
  key: string
  version: string
  agent: HttpAgent
  timeoutMs: number
}

/** Why a 101 can't be relayed; null when it is a valid answer to our handshake. */
function badAnswer(res: IncomingMessage, opts: DialOptions): string | null {
  if ((res.headers.upgrade ?? '').toLowerCase() !== 'websocket') return 'Invalid Upgrade header'
  if (res.headers['sec-websocket-accept'] !== acceptKeyOf(opts.key)) return 'Invalid Sec-WebSocket-Accept header'
  const protocol = res.headers['sec-websocket-protocol']
  // RFC 6455 lets a server choose none of the offered subprotocols; one we didn't offer is a failure.
  if (protocol !== undefined && !opts.protocols.includes(protocol)) return 'Server sent an invalid subprotocol'
  // We offer no extension (so RSV bits stay 0): a server that accepts one anyway is broken.
  if (res.headers['sec-websocket-extensions'] !== undefined) return 'Server sent a Sec-WebSocket-Extensions header but no extension was requested'
  return null
}

/** Starts the handshake; throws (synchronously) if the request can't even be formed. */
export function dialUpstream(opts: DialOptions): { outcome: Promise<UpstreamOutcome>; cancel(): void } {
  const headers: Record<string, string> = {
    ...opts.headers,
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-key': opts.key,
    'sec-websocket-version': opts.version,
  }
  if (opts.protocols.length > 0) headers['sec-websocket-protocol'] = opts.protocols.join(',')
  const secure = opts.target.protocol === 'https:'
  const req = (secure ? https : http).request({
    agent: opts.agent,
    protocol: opts.target.protocol,
    hostname: opts.target.hostname,
    port: opts.target.port,
    method: 'GET',
    path: opts.path,
    headers,
  })

  let settled = false
  let settle!: (o: UpstreamOutcome) => void
  const outcome = new Promise<UpstreamOutcome>((resolve) => {
    settle = (o) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(o)
    }
  })
  const timer = setTimeout(() => {
    settle({ kind: 'timeout' })
    req.destroy()
  }, opts.timeoutMs)

  req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
    // Its frames wait until the client has its 101 and the splice reads them.
    socket.pause()
    socket.on('error', () => {})
    // Too late (timed out or cancelled), or not a 101 we may relay.
    const problem = settled ? 'settled' : badAnswer(res, opts)
    if (problem) {
      socket.destroy()
      return settle({ kind: 'failed', error: new Error(problem) })
    }
    const protocol = res.headers['sec-websocket-protocol']
    settle({ kind: 'open', protocol: protocol ?? '', socket, head })
  })
  req.on('response', (res: IncomingMessage) => {
    settle({ kind: 'refused', status: res.statusCode ?? 502 })
    res.resume()
    req.destroy()
  })
  // After a timeout or a cancel this is the destroy's own error: the outcome is already settled.
  req.on('error', (error) => settle({ kind: 'failed', error }))
  req.end()

  return {
    outcome,
    cancel() {
      settle({ kind: 'cancelled' })
      req.destroy()
    },
  }
}
