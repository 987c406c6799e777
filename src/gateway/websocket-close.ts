// How the gateway ends a relayed WebSocket, whatever the runtime.

import type { CloseReason } from './live-sessions'

/** The close frame a relay sends when the gateway ends a connection: 1008 (policy) when the token stopped being valid, 1001 when we shut down. */
export function closeFrame(reason: CloseReason): [code: number, reason: string] {
  switch (reason) {
    case 'revoked':
      return [1008, 'Token revoked']
    case 'expired':
      return [1008, 'Token expired']
    case 'shutdown':
      return [1001, 'Server shutting down']
  }
}

/** 1009: a message over WS_MAX_MESSAGE_BYTES, from either side. */
export const MESSAGE_TOO_BIG: [code: number, reason: string] = [1009, 'Message too big']

/**
 * Can this code be sent in a close frame? 1005 (no code), 1006 (abnormal) and
 * 1015 (TLS) only ever report what happened locally; 1004 is reserved.
 */
export function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
}
