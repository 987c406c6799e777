// Which access token the request presents, in the contract's order:
// HTTP cookie then X-Access-Token; upgrades ?token=, then cookie, then header.
import { AUTH_REQUIRED, detailReply } from '../answers'
import type { Step } from '../pipeline'
import { tokenFromRequest, upgradeToken } from '../token-source'

export function tokenSource(): Step {
  return {
    name: 'token-source',
    run(state) {
      const { req } = state
      state.presented = req.kind === 'websocket' ? upgradeToken(req.search, req.header) : tokenFromRequest(req.header)
      if (!state.presented) return detailReply(401, AUTH_REQUIRED)
    },
  }
}
