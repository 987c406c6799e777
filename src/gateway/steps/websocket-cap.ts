// WebSockets per token on this instance: each relayed socket may hold messages of up
// to WS_MAX_MESSAGE_BYTES in memory, so one token can't open an unbounded number.
import { detailReply, TOO_MANY_SOCKETS } from '../answers'
import type { LiveSessions } from '../live-sessions'
import type { Step } from '../pipeline'

export function websocketCap(deps: { sessions: LiveSessions; max: number }): Step {
  return {
    name: 'websocket-cap',
    on: 'websocket',
    run({ auth }) {
      if (deps.sessions.count(auth!.hash, 'websocket') >= deps.max) return detailReply(429, TOO_MANY_SOCKETS, ['Retry-After', '5'])
    },
  }
}
