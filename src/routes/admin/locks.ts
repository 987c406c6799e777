import { createRoute, z } from '@hono/zod-openapi'
import { auditContext } from '../../http/audit-context'
import { newRouter } from '../../http/router'
import type { Locks, LockTarget } from '../../services/locks'
import { ErrorOut, errors, iso, jsonBody, jsonResponse, plainText, Timestamp } from '../schemas'

const LockIn = z
  .object({
    message: plainText(z.string().trim().min(1).max(500)).openapi({
      description: 'What every refused request reads, as {"detail": message}',
      example: 'Access suspended: please contact support',
    }),
    expires_at: z.iso
      .datetime({ offset: true })
      .nullable()
      .optional()
      .openapi({ description: 'When the lock lapses on its own (ISO 8601 with offset, in the future); absent: until lifted' }),
  })
  .openapi('LockRequest')

const LockOut = z
  .object({
    id: z.uuid(),
    target_type: z.enum(['user', 'token']),
    target_id: z.uuid(),
    message: z.string(),
    created_by: z.uuid().nullable(),
    created_at: Timestamp,
    expires_at: Timestamp.nullable(),
  })
  .openapi('Lock')

const LiftedOut = z.object({ lifted: z.literal(true), target_type: z.enum(['user', 'token']), target_id: z.uuid() }).openapi('LockLifted')

const denied = jsonResponse(ErrorOut, '"Superuser permissions required"')

const routesFor = (type: LockTarget['type']) => {
  const param = type === 'user' ? 'user_id' : 'token_id'
  const path = `/${type}s/{${param}}/lock`
  const params = z.object({ [param]: z.uuid() }) as z.ZodObject<Record<string, z.ZodUUID>>
  const noTarget = jsonResponse(ErrorOut, type === 'user' ? 'No such user' : 'No such token')
  return {
    param,
    create: createRoute({
      method: 'post',
      path,
      tags: ['admin'],
      summary: `Lock a ${type}: every proxied request and WebSocket upgrade with ${type === 'user' ? 'their tokens' : 'it'} gets 403 with the message; open sockets and streams close within 2 s`,
      security: [{ Bearer: [] }],
      request: { params, body: jsonBody(LockIn) },
      responses: {
        201: jsonResponse(LockOut, 'The lock in force (it replaces any earlier one)'),
        401: errors[401],
        403: denied,
        404: noTarget,
        422: errors[422],
      },
    }),
    lift: createRoute({
      method: 'delete',
      path,
      tags: ['admin'],
      summary: `Lift the lock on a ${type}`,
      security: [{ Bearer: [] }],
      request: { params },
      responses: {
        200: jsonResponse(LiftedOut, 'Lifted'),
        401: errors[401],
        403: denied,
        404: jsonResponse(ErrorOut, `No such ${type}, or no lock in force on it`),
        422: errors[422],
      },
    }),
  }
}

export function adminLockRoutes(deps: { locks: Locks }) {
  const { locks } = deps
  const router = newRouter()
  for (const type of ['user', 'token'] as const) {
    const r = routesFor(type)
    router.openapi(r.create, async (c) => {
      const id = c.req.valid('param')[r.param]!
      const input = c.req.valid('json')
      const lock = await locks.lock(
        { type, id },
        { message: input.message, expiresAt: input.expires_at ? new Date(input.expires_at) : null },
        auditContext(c, 'admin'),
      )
      return c.json(
        {
          id: lock.id,
          target_type: lock.targetType,
          target_id: lock.targetId,
          message: lock.message,
          created_by: lock.createdBy,
          created_at: lock.createdAt.toISOString(),
          expires_at: iso(lock.expiresAt),
        },
        201,
      )
    })
    router.openapi(r.lift, async (c) => {
      const id = c.req.valid('param')[r.param]!
      await locks.lift({ type, id }, auditContext(c, 'admin'))
      return c.json({ lifted: true as const, target_type: type, target_id: id }, 200)
    })
  }
  return router
}
