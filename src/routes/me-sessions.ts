import { createRoute, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { DeviceSessions } from '../gateway/device-sessions'
import { auditContext } from '../http/audit-context'
import { ApiError } from '../http/errors'
import { type AppEnv, newRouter } from '../http/router'
import type { SessionService } from '../services/sessions'
import { Paging, QueryBool, SESSION_ENDED, SESSION_NOT_FOUND, SessionsOut, sessionOut, TerminateIn, TerminateOut } from './admin/sessions'
import { ErrorOut, errors, jsonBody, jsonResponse } from './schemas'

const list = createRoute({
  method: 'get',
  path: '/',
  tags: ['users'],
  summary: 'Your proxy sessions (each device using one of your tokens), newest first',
  security: [{ Bearer: [] }],
  request: { query: z.object({ active: QueryBool.optional().openapi({ type: 'boolean' }), ...Paging }) },
  responses: { 200: jsonResponse(SessionsOut, 'Sessions'), 401: errors[401], 403: errors[403], 422: errors[422] },
})

const terminate = createRoute({
  method: 'post',
  path: '/{id}/terminate',
  tags: ['users'],
  summary: "End one of your sessions, freeing its place for another device; that device's WebSockets and downloads close",
  security: [{ Bearer: [] }],
  request: { params: z.object({ id: z.uuid() }), body: jsonBody(TerminateIn) },
  responses: {
    200: jsonResponse(TerminateOut, 'The ended session'),
    401: errors[401],
    403: errors[403],
    404: jsonResponse(ErrorOut, '"Session not found"'),
    409: jsonResponse(ErrorOut, '"Session already ended"'),
    422: errors[422],
  },
})

/** Mounted at /api/v1/users/me/sessions: only the caller's own sessions, anyone else's is a 404. */
export function meSessionRoutes(deps: { sessions: SessionService; devices: DeviceSessions | null; auth: MiddlewareHandler<AppEnv> }) {
  const { sessions, devices } = deps
  const router = newRouter()
  router.use('*', deps.auth)
  return router
    .openapi(list, async (c) => {
      const q = c.req.valid('query')
      const { items, total } = await sessions.list({ active: q.active, userId: c.get('user').id, limit: q.limit, offset: q.offset })
      return c.json({ items: items.map((r) => sessionOut(r, devices)), total, limit: q.limit, offset: q.offset }, 200)
    })
    .openapi(terminate, async (c) => {
      const { id } = c.req.valid('param')
      const { reason } = c.req.valid('json')
      const user = c.get('user')
      const ctx = auditContext(c, 'user')
      const done = await sessions.terminate(id, { ownerId: user.id, reason: reason || null, ctx })
      if (done === null) throw new ApiError(404, SESSION_NOT_FOUND)
      if (done === 'ended') throw new ApiError(409, SESSION_ENDED)
      await devices?.announceTerminated(id)
      const [row] = (await sessions.list({ userId: user.id, limit: 1, offset: 0, id })).items
      return c.json({ terminated: true as const, session: sessionOut(row!, devices) }, 200)
    })
}
