import { createRoute, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { DeviceSessions } from '../../gateway/device-sessions'
import { auditContext } from '../../http/audit-context'
import { requireSuperuser } from '../../http/bearer'
import { ApiError } from '../../http/errors'
import { type AppEnv, newRouter } from '../../http/router'
import type { SessionListRow, SessionService } from '../../services/sessions'
import { ErrorOut, errors, iso, jsonBody, jsonResponse, plainText, Timestamp } from '../schemas'

export const SessionOut = z
  .object({
    id: z.uuid(),
    user: z.object({ id: z.uuid(), email: z.string(), username: z.string() }),
    token_id: z.uuid(),
    device: z.object({
      source: z.enum(['header', 'cookie', 'address']).openapi({ description: 'X-Device-ID, the zenzefi_device cookie, or address and browser' }),
    }),
    first_ip: z.string().nullable(),
    last_ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    started_at: Timestamp,
    last_seen_at: Timestamp,
    ended_at: Timestamp.nullable(),
    end_reason: z.enum(['idle', 'revoked', 'expired', 'terminated']).nullable(),
    requests: z.number().int(),
    bytes_in: z.number().int(),
    bytes_out: z.number().int(),
    websockets_open: z.number().int(),
  })
  .openapi('ProxySession')

export const SessionsOut = z
  .object({ items: z.array(SessionOut), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('ProxySessions')

export const QueryBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')
export const Paging = {
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
}

export const TerminateIn = z
  .object({ reason: plainText(z.string().trim().max(500)).nullable().optional().openapi({ example: 'Lost laptop' }) })
  .openapi('SessionTerminate')
export const TerminateOut = z.object({ terminated: z.literal(true), session: SessionOut }).openapi('SessionTerminated')

/** A row as listed: with what this instance counted and has not yet written. */
export function sessionOut(r: SessionListRow, devices: DeviceSessions | null): z.infer<typeof SessionOut> {
  const live = r.endedAt ? null : (devices?.unflushed(r.id) ?? null)
  return {
    id: r.id,
    user: { id: r.userId, email: r.email, username: r.username },
    token_id: r.tokenId,
    device: { source: r.deviceSource as 'header' | 'cookie' | 'address' },
    first_ip: r.firstIp,
    last_ip: r.lastIp,
    user_agent: r.userAgent,
    started_at: r.startedAt.toISOString(),
    last_seen_at: live && live.lastSeen > r.lastSeenAt.getTime() ? new Date(live.lastSeen).toISOString() : r.lastSeenAt.toISOString(),
    ended_at: iso(r.endedAt),
    end_reason: r.endReason as z.infer<typeof SessionOut>['end_reason'],
    requests: Number(r.requests) + (live?.requests ?? 0),
    bytes_in: Number(r.bytesIn) + (live?.bytesIn ?? 0),
    bytes_out: Number(r.bytesOut) + (live?.bytesOut ?? 0),
    websockets_open: live ? live.websockets : r.endedAt ? 0 : r.websocketsOpen,
  }
}

const list = createRoute({
  method: 'get',
  path: '/sessions',
  tags: ['admin'],
  summary: 'Proxy sessions (one device on one token), newest first',
  security: [{ Bearer: [] }],
  request: {
    query: z.object({
      active: QueryBool.optional().openapi({ type: 'boolean', description: 'true: open sessions only; false: ended only' }),
      user_id: z.uuid().optional(),
      token_id: z.uuid().optional(),
      ...Paging,
    }),
  },
  responses: {
    200: jsonResponse(SessionsOut, 'Sessions'),
    401: errors[401],
    403: jsonResponse(ErrorOut, '"Superuser permissions required"'),
    422: errors[422],
  },
})

const terminate = createRoute({
  method: 'post',
  path: '/sessions/{id}/terminate',
  tags: ['admin'],
  summary: "End a session: that device's WebSockets (1008) and downloads close within 2 s on every instance",
  security: [{ Bearer: [] }],
  request: { params: z.object({ id: z.uuid() }), body: jsonBody(TerminateIn) },
  responses: {
    200: jsonResponse(TerminateOut, 'The ended session'),
    401: errors[401],
    403: jsonResponse(ErrorOut, '"Superuser permissions required"'),
    404: jsonResponse(ErrorOut, '"Session not found"'),
    409: jsonResponse(ErrorOut, '"Session already ended"'),
    422: errors[422],
  },
})

export const SESSION_NOT_FOUND = 'Session not found'
export const SESSION_ENDED = 'Session already ended'

export function adminSessionRoutes(deps: { sessions: SessionService; devices: DeviceSessions | null; auth: MiddlewareHandler<AppEnv> }) {
  const { sessions, devices } = deps
  const router = newRouter()
  router.use('/sessions', deps.auth, requireSuperuser)
  router.use('/sessions/*', deps.auth, requireSuperuser)
  return router
    .openapi(list, async (c) => {
      const q = c.req.valid('query')
      const { items, total } = await sessions.list({ active: q.active, userId: q.user_id, tokenId: q.token_id, limit: q.limit, offset: q.offset })
      return c.json({ items: items.map((r) => sessionOut(r, devices)), total, limit: q.limit, offset: q.offset }, 200)
    })
    .openapi(terminate, async (c) => {
      const { id } = c.req.valid('param')
      const { reason } = c.req.valid('json')
      const ctx = auditContext(c, 'admin')
      const done = await sessions.terminate(id, { reason: reason || null, ctx })
      if (done === null) throw new ApiError(404, SESSION_NOT_FOUND)
      if (done === 'ended') throw new ApiError(409, SESSION_ENDED)
      await devices?.announceTerminated(id)
      const [row] = (await sessions.list({ userId: done.userId, limit: 1, offset: 0, id })).items
      return c.json({ terminated: true as const, session: sessionOut(row!, devices) }, 200)
    })
}
