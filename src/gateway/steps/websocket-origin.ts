// Browsers attach cookies to cross-site WebSocket handshakes, so a cookie-authenticated
// upgrade must come from CORS_ORIGINS or our own origin (BACKEND_URL); otherwise any
// page could open a socket with its visitor's token. Checked before the token is looked
// at, so a hijacking page can't even start the token's clock.
import type { Config } from '../../config'
import { detailReply, ORIGIN_NOT_ALLOWED } from '../answers'
import type { Step } from '../pipeline'

export function websocketOrigin(config: Pick<Config, 'corsOrigins' | 'backendUrl'>): Step {
  const allowed = new Set([...config.corsOrigins, new URL(config.backendUrl).origin])
  return {
    name: 'websocket-origin',
    on: 'websocket',
    run({ req, presented }) {
      if (presented?.source !== 'cookie') return
      const origin = req.header('origin')
      if (typeof origin !== 'string' || !allowed.has(origin)) return detailReply(403, ORIGIN_NOT_ALLOWED)
    },
  }
}
