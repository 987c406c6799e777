// The Zenzefi leg of a relayed WebSocket: dial it, and say how the handshake went
// (open with the subprotocol it chose, refused with a status, unreachable, too slow).

import type { ClientRequest, Agent as HttpAgent } from 'node:http'
import { WebSocket } from 'ws'

export type UpstreamOutcome =
  | { kind: 'open'; protocol: string }
  | { kind: 'refused'; status: number }
  | { kind: 'failed'; error: Error }
  | { kind: 'timeout' }
  | { kind: 'cancelled' }

export interface DialOptions {
  /** ws(s)://host/path?query; what `ws` connects to. */
  url: string
  /**
   * The request-target to send instead of the WHATWG-normalised one `ws` derives from
   * `url`, so the path and query reach Zenzefi byte for byte as the client sent them.
   */
  requestTarget: string | null
  protocols: string[]
  headers: Record<string, string>
  agent: HttpAgent
  timeoutMs: number
  /** Largest message Zenzefi may send; past it the upstream leg closes with 1009. */
  maxPayload: number
}

/**
 * Opens the upstream socket. Its listeners for frames must be attached by the
 * caller right after this returns (before awaiting `outcome`).
 */
export function dialUpstream(opts: DialOptions): { socket: WebSocket; outcome: Promise<UpstreamOutcome>; cancel(): void } {
  const socket = new WebSocket(opts.url, opts.protocols, {
    agent: opts.agent,
    headers: opts.headers,
    perMessageDeflate: false,
    autoPong: false,
    followRedirects: false,
    maxPayload: opts.maxPayload,
    finishRequest: (req: ClientRequest) => {
      if (opts.requestTarget !== null) req.path = opts.requestTarget
      req.end()
    },
  })
  socket.binaryType = 'nodebuffer'

  let chosen = ''
  socket.on('upgrade', (res) => {
    const protocol = res.headers['sec-websocket-protocol']
    chosen = typeof protocol === 'string' ? protocol : ''
    // RFC 6455 lets a server pick none of the offered subprotocols; `ws` would fail that
    // handshake. We note "none" (the client will be given none) and let `ws` carry on.
    if (protocol === undefined && opts.protocols.length > 0) res.headers['sec-websocket-protocol'] = opts.protocols[0]
  })

  let settle!: (o: UpstreamOutcome) => void
  const outcome = new Promise<UpstreamOutcome>((resolve) => (settle = resolve))
  let timedOut = false
  let cancelled = false
  const timer = setTimeout(() => {
    timedOut = true
    socket.terminate()
  }, opts.timeoutMs)

  socket.once('open', () => {
    clearTimeout(timer)
    settle({ kind: 'open', protocol: chosen })
  })
  socket.on('unexpected-response', (_req, res) => {
    clearTimeout(timer)
    settle({ kind: 'refused', status: res.statusCode ?? 502 })
    socket.terminate()
  })
  // Also the listener for errors after the handshake (bad frames, resets): the 'close' that follows ends the relay.
  socket.on('error', (error) => {
    clearTimeout(timer)
    settle(cancelled ? { kind: 'cancelled' } : timedOut ? { kind: 'timeout' } : { kind: 'failed', error })
  })

  return {
    socket,
    outcome,
    cancel() {
      cancelled = true
      clearTimeout(timer)
      settle({ kind: 'cancelled' })
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate()
    },
  }
}
