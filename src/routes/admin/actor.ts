import type { Context } from 'hono'
import type { AppEnv } from '../../http/router'
import type { AuditContext } from '../../services/audit'

/** Who made an admin change and from where, as the audit log records it. */
export const adminActor = (c: Context<AppEnv>): AuditContext => ({
  actorType: 'admin',
  actorId: c.get('user').id,
  ip: c.get('clientIp') || null,
  userAgent: c.req.header('user-agent') ?? null,
  requestId: c.get('requestId') ?? null,
})
