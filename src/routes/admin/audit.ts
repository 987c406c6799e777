import { createRoute, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { Db } from '../../db/client'
import { requireSuperuser } from '../../http/bearer'
import { type AppEnv, newRouter } from '../../http/router'
import { AUDIT_ACTIONS } from '../../services/audit'
import { type AuditFilters, exportStream, listAudit } from '../../services/audit-log'
import { errors, jsonResponse, Timestamp } from '../schemas'

const AuditEventOut = z
  .object({
    id: z.number().int(),
    occurred_at: Timestamp,
    action: z.string().openapi({ example: 'token.purchase' }),
    outcome: z.enum(['success', 'failure', 'denied']),
    actor_type: z.enum(['user', 'admin', 'system', 'cli', 'anonymous']),
    actor_id: z.uuid().nullable().openapi({ description: 'Who did it (null for anonymous callers, the CLI and the system)' }),
    subject_user_id: z.uuid().nullable().openapi({ description: 'Whose account it concerns' }),
    resource_type: z.string().nullable(),
    resource_id: z.string().nullable(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    request_id: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
  })
  .openapi('AuditEvent')

const AuditEventsOut = z
  .object({ items: z.array(AuditEventOut), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('AuditEvents')

const Filters = {
  user_id: z.uuid().optional().openapi({ description: 'Events the user did or that concern them' }),
  action: z
    .string()
    .max(64)
    .optional()
    .openapi({ description: `One of ${Object.keys(AUDIT_ACTIONS).join(', ')}` }),
  since: z.iso.datetime({ offset: true }).optional().openapi({ description: 'From this moment (inclusive)' }),
  until: z.iso.datetime({ offset: true }).optional().openapi({ description: 'Before this moment (exclusive)' }),
}

export const filtersOf = (q: { user_id?: string; action?: string; since?: string; until?: string }): AuditFilters => ({
  userId: q.user_id,
  action: q.action,
  since: q.since ? new Date(q.since) : undefined,
  until: q.until ? new Date(q.until) : undefined,
})

const list = createRoute({
  method: 'get',
  path: '/audit-logs',
  tags: ['admin'],
  summary: 'Audit events, newest first',
  security: [{ Bearer: [] }],
  request: {
    query: z.object({
      ...Filters,
      limit: z.coerce.number().int().min(1).max(100).default(50),
      offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
    }),
  },
  responses: {
    200: jsonResponse(AuditEventsOut, 'One page of events'),
    401: errors[401],
    403: errors[403],
    422: errors[422],
  },
})

const exportRoute = createRoute({
  method: 'get',
  path: '/audit-logs/export',
  tags: ['admin'],
  summary: 'Every matching audit event, oldest first, streamed as NDJSON or CSV',
  security: [{ Bearer: [] }],
  request: { query: z.object({ ...Filters, format: z.enum(['ndjson', 'csv']).default('ndjson') }) },
  responses: {
    200: {
      description: 'One event per line (NDJSON), or a header row and one row per event (CSV, details as JSON)',
      content: { 'application/x-ndjson': { schema: z.string() }, 'text/csv': { schema: z.string() } },
    },
    401: errors[401],
    403: errors[403],
    422: errors[422],
  },
})

export function adminAuditRoutes(deps: { db: Db; auth: MiddlewareHandler<AppEnv> }) {
  const { db } = deps
  const router = newRouter()
  router.use('/audit-logs', deps.auth, requireSuperuser)
  router.use('/audit-logs/*', deps.auth, requireSuperuser)
  return router
    .openapi(list, async (c) => {
      const { limit, offset, ...q } = c.req.valid('query')
      const page = await listAudit(db, filtersOf(q), { limit, offset })
      return c.json({ ...page, limit, offset } as z.infer<typeof AuditEventsOut>, 200)
    })
    .openapi(exportRoute, (c) => {
      const { format, ...q } = c.req.valid('query')
      const stamp = new Date().toISOString().replace(/[:.]/g, '-')
      return c.body(exportStream(db, filtersOf(q), format), 200, {
        'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        'content-disposition': `attachment; filename="audit-logs-${stamp}.${format}"`,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      }) as never
    })
}
