// The three-tier token check; the first proxied request or upgrade starts the clock.
// An operator's lock rides in the grant: while in force, 403 with its message.
import { lockInForce } from '../../services/locks'
import { andThen } from '../../services/maybe-async'
import type { TokenService } from '../../services/tokens'
import { detailReply, INVALID_TOKEN, type Reply } from '../answers'
import type { Step } from '../pipeline'

export function authorize(tokens: TokenService, now: () => number = Date.now): Step {
  return {
    name: 'authorize',
    // A cached, activated token is decided synchronously: no promise for most proxied requests.
    run: (state) =>
      andThen(tokens.authorize(state.presented!.token, state.req), (auth): Reply | undefined => {
        state.auth = auth
        if (!auth) return detailReply(401, INVALID_TOKEN)
        const { grant } = auth
        // A grant left unactivated was locked when tokens.authorize looked: refused even if the lock lapsed since.
        const lock = lockInForce(grant, now()) ?? (grant.activatedAt === null ? grant.lock : undefined)
        if (lock) return detailReply(403, lock.message)
      }),
  }
}
