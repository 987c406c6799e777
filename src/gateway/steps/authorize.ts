// The three-tier token check; the first proxied request or upgrade starts the clock.
import type { TokenService } from '../../services/tokens'
import { detailReply, INVALID_TOKEN } from '../answers'
import type { Step } from '../pipeline'

export function authorize(tokens: TokenService): Step {
  return {
    name: 'authorize',
    async run(state) {
      state.auth = await tokens.authorize(state.presented!.token)
      if (!state.auth) return detailReply(401, INVALID_TOKEN)
    },
  }
}
