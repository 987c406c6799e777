// Frames between two open WebSockets: messages keep their type, pings and pongs
// and close codes cross over, and a slow receiver pauses the sender.

import type { RawData, WebSocket } from 'ws'
import { MESSAGE_TOO_BIG, sendableCloseCode } from '../../gateway/websocket-close'

/** Past this many bytes queued for the receiving side, the sending side stops being read. */
export const HIGH_WATER_BYTES = 1024 * 1024
/** …and it is read again once the queue has drained below this. */
export const LOW_WATER_BYTES = 256 * 1024
/** After the gateway closes a relay (revocation, expiry), how long a peer gets to finish the close handshake. */
export const FORCE_CLOSE_MS = 2_000

const OPEN = 1
const CLOSED = 3

export type Side = 'client' | 'upstream'

export interface PipeEnd {
  /** Who closed first: a side, or the gateway itself (with why). */
  by: Side | 'gateway'
  /** The close code that side reported (1005: none given, 1006: connection lost). */
  code: number
  reason?: string
}

type Deliver = (act: (to: WebSocket) => void) => void

/** Close `to` the way `from` was closed; codes that can't be sent become a plain close. */
function passClose(to: WebSocket, code: number, reason: Buffer) {
  // A paused side could never read the peer's answer to our close frame.
  to.resume()
  if (to.readyState === CLOSED) return
  if (sendableCloseCode(code)) to.close(code, reason)
  else to.close()
}

/** One direction of frames, from `from` to whichever socket `deliver` hands over. */
function wire(from: WebSocket, deliver: Deliver) {
  let paused = false
  let tooBig = false
  let target: WebSocket | null = null
  // One callback per direction, not a closure per message: called as each frame is flushed.
  const flushed = () => {
    if (paused && target !== null && target.bufferedAmount <= LOW_WATER_BYTES) {
      paused = false
      from.resume()
    }
  }
  from.on('message', (data: RawData, isBinary: boolean) =>
    deliver((to) => {
      target = to
      to.send(data as Buffer, { binary: isBinary }, flushed)
      if (!paused && to.bufferedAmount > HIGH_WATER_BYTES && to.readyState === OPEN) {
        paused = true
        from.pause()
      }
    }),
  )
  // `ws` reports a bad frame or an over-size message (it then closes that leg itself, with 1009 for
  // the size); the close event that follows tells the other side. No listener would crash the process.
  from.on('error', (err: Error & { code?: string }) => {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') tooBig = true
  })
  // Auto-pong is off on both legs: the far end answers, and its pong comes back the same way.
  from.on('ping', (data: Buffer) => deliver((to) => to.ping(data)))
  from.on('pong', (data: Buffer) => deliver((to) => to.pong(data)))
  return {
    /** The close code to hand the other side: 1009 when this side sent a message over the limit. */
    closeCode: (code: number) => (tooBig ? MESSAGE_TOO_BIG[0] : code),
  }
}

/**
 * Starts relaying from an upstream socket that may still be connecting: its
 * listeners are attached now (the first frame can arrive in the same tick as the
 * 101), and what it sends is held until `attach` gives it the client's socket.
 */
export function createPipe(upstream: WebSocket, onEnd: (end: PipeEnd) => void) {
  let client: WebSocket | null = null
  const held: Array<(to: WebSocket) => void> = []
  let first: PipeEnd | null = null
  let closedSides = 0
  let forceTimer: ReturnType<typeof setTimeout> | null = null

  const sideClosed = (end: PipeEnd) => {
    first ??= end
    if (++closedSides < 2) return
    if (forceTimer) clearTimeout(forceTimer)
    onEnd(first)
  }

  const fromUpstream = wire(upstream, (act) => (client ? act(client) : held.push(act)))
  // Before `attach` the upstream's close waits with its frames; it is counted once the client is there.
  let upstreamEnd: PipeEnd | null = null
  upstream.on('close', (closed: number, reason: Buffer) => {
    const code = fromUpstream.closeCode(closed)
    upstreamEnd = { by: 'upstream', code, reason: reason.toString() }
    if (!client) return void held.push((to) => passClose(to, code, reason))
    passClose(client, code, reason)
    sideClosed(upstreamEnd)
  })

  return {
    /** The client's socket, once its upgrade completed: frames held so far go out first. */
    attach(socket: WebSocket) {
      client = socket
      const fromClient = wire(socket, (act) => act(upstream))
      socket.on('close', (closed: number, reason: Buffer) => {
        const code = fromClient.closeCode(closed)
        passClose(upstream, code, reason)
        sideClosed({ by: 'client', code, reason: reason.toString() })
      })
      for (const act of held.splice(0)) act(socket)
      if (upstreamEnd) sideClosed(upstreamEnd)
    },

    /** The gateway ends the relay (token revoked or expired): both sides get this code, and at most FORCE_CLOSE_MS to answer. */
    close(code: number, reason: string) {
      first ??= { by: 'gateway', code, reason }
      for (const ws of [client, upstream]) {
        if (!ws) continue
        ws.resume()
        if (ws.readyState === OPEN) ws.close(code, reason)
      }
      forceTimer ??= setTimeout(() => {
        client?.terminate()
        upstream.terminate()
      }, FORCE_CLOSE_MS)
      forceTimer.unref()
    },
  }
}

export type Pipe = ReturnType<typeof createPipe>
