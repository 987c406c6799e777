import type { Context } from 'hono'
import type { ActorType, AuditContext } from '../services/audit'
import type { AppEnv } from './router'

/** Who is acting and from where, as the audit log records it: the signed-in user unless told otherwise. */
export function auditContext(c: Context<AppEnv>, actorType: ActorType, actorId: string | null = c.var.user?.id ?? null): AuditContext {
  return {
    actorType,
    actorId,
    ip: c.get('clientIp') || null,
    userAgent: c.req.header('user-agent') ?? null,
    requestId: c.get('requestId') ?? null,
  }
}

/** The request's side of an event whose actor the service decides (a login: the user only once the password matched). */
export function requestFacts(c: Context<AppEnv>): Omit<AuditContext, 'actorType' | 'actorId'> {
  const { actorType: _a, actorId: _b, ...facts } = auditContext(c, 'anonymous', null)
  return facts
}
