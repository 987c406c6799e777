// Ending one of your own proxy sessions from the page (frees its device place; its sockets close).
import { Hono } from 'hono'
import type { DeviceSessions } from '../../gateway/device-sessions'
import { auditContext } from '../../http/audit-context'
import type { AppEnv } from '../../http/router'
import type { AccountSessions } from '../../services/account-sessions'
import type { SessionService } from '../../services/sessions'
import { UUID } from '../../services/uuid'
import { signedIn } from '../signed-in'

export function sessionPageRoutes(deps: { accountSessions: AccountSessions; sessions: SessionService; devices: DeviceSessions | null }) {
  const router = new Hono<AppEnv>()
  router.post('/sessions/:id/end', signedIn(deps.accountSessions), async (c) => {
    const id = c.req.param('id')
    // Someone else's session, an unknown one or one already over: the page simply shows what is left.
    if (UUID.test(id)) {
      const done = await deps.sessions.terminate(id, { ownerId: c.get('user').id, reason: 'ended from the account page', ctx: auditContext(c, 'user') })
      if (done && done !== 'ended') await deps.devices?.announceTerminated(id)
    }
    return c.redirect('/?notice=ended', 303)
  })
  return router
}
