// A relayed WebSocket after both 101s: the client's and Zenzefi's sockets spliced
// both ways (ws-pipe.ts), the protocol's cheap rules enforced on frame headers, and
// the relay ended once, when both sockets are gone.

import type { Socket } from 'node:net'
import { MESSAGE_TOO_BIG } from '../../gateway/websocket-close'
import { closeFrameBytes, FrameReader } from './ws-frames'
import { createPipe, FORCE_CLOSE_MS } from './ws-pipe'

export type Side = 'client' | 'upstream'

export interface SpliceEnd {
  /** Who closed first: a side, or the gateway itself. */
  by: Side | 'gateway'
  /** The close code that side sent (1005: none given, 1006: connection lost without a close frame). */
  code: number
}

export interface SpliceOptions {
  maxMessageBytes: number
  /** Bytes the client sent before its 101 (the upgrade's head, early frames). */
  clientFirst: Buffer[]
  /** Bytes Zenzefi sent right behind its 101. */
  upstreamFirst: Buffer
}

export function splice(client: Socket, upstream: Socket, opts: SpliceOptions, onEnd: (end: SpliceEnd) => void) {
  let first: SpliceEnd | null = null
  let forceTimer: ReturnType<typeof setTimeout> | null = null
  const note = (end: SpliceEnd) => {
    first ??= end
  }
  // Once closing, each peer gets FORCE_CLOSE_MS to answer and hang up before both sockets are cut.
  const force = () => {
    forceTimer ??= setTimeout(() => {
      client.destroy()
      upstream.destroy()
    }, FORCE_CLOSE_MS).unref()
  }
  // Zenzefi is a server: what goes to it is masked, like any client's frames; what goes to the client is not.
  const shut = (code: number, reason: string) => {
    toUpstream.inject(closeFrameBytes(code, reason, true))
    toClient.inject(closeFrameBytes(code, reason, false))
    force()
  }
  const violated = (by: Side) => (code: number) => {
    note({ by, code })
    shut(code, code === MESSAGE_TOO_BIG[0] ? MESSAGE_TOO_BIG[1] : '')
  }

  const toUpstream = createPipe(client, upstream, new FrameReader(true, opts.maxMessageBytes), {
    onClose: (code) => note({ by: 'client', code }),
    onViolation: violated('client'),
  })
  const toClient = createPipe(upstream, client, new FrameReader(false, opts.maxMessageBytes), {
    onClose: (code) => note({ by: 'upstream', code }),
    onViolation: violated('upstream'),
  })

  let open = 2
  const watch = (socket: Socket, by: Side, pipe: typeof toUpstream) => {
    socket.setNoDelay(true)
    // Gone (with or without its close frame): the other side gets a close without a code if it had none yet
    // (1006, "connection lost", is never sent), then its end.
    const gone = () => {
      note({ by, code: 1006 })
      pipe.end(closeFrameBytes(null, '', by === 'client'))
    }
    socket.once('end', gone)
    socket.once('close', () => {
      gone()
      force()
      if (--open > 0) return
      if (forceTimer) clearTimeout(forceTimer)
      onEnd(first!)
    })
  }
  watch(client, 'client', toUpstream)
  watch(upstream, 'upstream', toClient)
  toClient.start([opts.upstreamFirst])
  toUpstream.start(opts.clientFirst)

  return {
    /** The gateway ends the relay (revoked, expired, shutting down): both sides get this close at their next frame boundary. */
    close(code: number, reason: string) {
      note({ by: 'gateway', code })
      shut(code, reason)
    },
  }
}

export type Splice = ReturnType<typeof splice>
