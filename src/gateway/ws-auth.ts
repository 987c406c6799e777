// Rules every WebSocket relay applies before an upgrade, whatever the runtime.

import type { Config } from '../config'
import type { CloseReason } from './live-sessions'
import { tokenParam } from './proxy-plan'
import { type TokenSource, tokenFromRequest } from './token-source'

export const ORIGIN_NOT_ALLOWED = 'Origin not allowed'
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

/**
 * Can this code be sent in a close frame? 1005 (no code), 1006 (abnormal) and
 * 1015 (TLS) only ever report what happened locally; 1004 is reserved.
 */
export function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
}

/** WebSocket upgrades: `?token=`, then the cookie, then X-Access-Token. */
export function upgradeToken(search: string, header: (name: string) => string | null | undefined): { token: string; source: TokenSource } | null {
  const query = tokenParam(search)
  if (query) return { token: query, source: 'query' }
  return tokenFromRequest(header)
}

/**
 * Origins a cookie-authenticated upgrade may come from: CORS_ORIGINS and our own
 * (BACKEND_URL). Browsers attach cookies to cross-site WebSocket handshakes, so
 * without this any page could open a socket with the visitor's token.
 */
export function originPolicy(config: Pick<Config, 'corsOrigins' | 'backendUrl'>): (origin: string | null | undefined) => boolean {
  const allowed = new Set([...config.corsOrigins, new URL(config.backendUrl).origin])
  return (origin) => typeof origin === 'string' && allowed.has(origin)
}
