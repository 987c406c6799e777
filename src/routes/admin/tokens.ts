import { createRoute, z } from '@hono/zod-openapi'
import { auditContext } from '../../http/audit-context'
import { newRouter } from '../../http/router'
import { formatMinor } from '../../money/znc'
import { type AdminTokens, TOKEN_STATUSES } from '../../services/admin-tokens'
import { ALLOWED_DURATIONS } from '../../services/tokens'
import { ErrorOut, errors, iso, jsonBody, jsonResponse, plainText, Timestamp, Znc } from '../schemas'
import { Page, PageQuery } from './users'

const AdminTokenOut = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    user_email: z.string(),
    token_prefix: z.string().nullable().openapi({ description: 'The first 6 characters of the token; never the token itself' }),
    duration_hours: z.number().int(),
    status: z.enum(['active', 'ready', 'expired', 'revoked']).openapi({ description: 'ready: never used yet; active: activated and not expired' }),
    cost_znc: Znc,
    created_at: Timestamp,
    activated_at: Timestamp.nullable(),
    expires_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
  })
  .openapi('AdminToken')

const GrantIn = z
  .object({
    user_id: z.uuid(),
    duration_hours: z
      .number()
      .int()
      .min(1)
      .openapi({ example: 24, description: `One of ${ALLOWED_DURATIONS.join(', ')}` }),
    reason: plainText(z.string().trim().min(3).max(500)).openapi({ description: 'Kept in the audit log', example: 'Support: replacement for a lost token' }),
  })
  .openapi('TokenGrantRequest')

const GrantedOut = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    token: z.string().openapi({ description: '64 URL-safe characters, shown this once' }),
    duration_hours: z.number().int(),
    created_at: Timestamp,
    expires_at: Timestamp.nullable(),
    activated_at: Timestamp.nullable(),
    is_active: z.boolean(),
    cost_znc: Znc,
    refundable: z.boolean(),
    new_balance: Znc,
  })
  .openapi('GrantedToken')

const RevokedOut = z.object({ revoked: z.literal(true), token_id: z.uuid(), message: z.string() }).openapi('AdminRevokeResponse')

const denied = jsonResponse(ErrorOut, '"Superuser permissions required"')

const listTokens = createRoute({
  method: 'get',
  path: '/tokens',
  tags: ['admin'],
  summary: 'Access tokens of every user (or one), newest first; never the token itself',
  security: [{ Bearer: [] }],
  request: {
    query: z.object({
      user_id: z.uuid().optional(),
      status: z.enum(TOKEN_STATUSES).default('all'),
      ...PageQuery,
    }),
  },
  responses: { 200: jsonResponse(Page(AdminTokenOut).openapi('AdminTokens'), 'One page of tokens'), 401: errors[401], 403: denied, 422: errors[422] },
})

const revokeToken = createRoute({
  method: 'delete',
  path: '/tokens/{token_id}',
  tags: ['admin'],
  summary: "Revoke any user's token without refund; refused and its sockets and streams closed on every instance",
  security: [{ Bearer: [] }],
  request: { params: z.object({ token_id: z.uuid() }) },
  responses: {
    200: jsonResponse(RevokedOut, 'Revoked'),
    401: errors[401],
    403: denied,
    404: jsonResponse(ErrorOut, 'No such token'),
    409: jsonResponse(ErrorOut, '"Token already revoked"'),
    422: errors[422],
  },
})

const grantToken = createRoute({
  method: 'post',
  path: '/tokens',
  tags: ['admin'],
  summary: 'Give a user a token free of charge (cost 0, no ledger transaction)',
  security: [{ Bearer: [] }],
  request: { body: jsonBody(GrantIn) },
  responses: {
    201: jsonResponse(GrantedOut, 'The new token, not yet activated: shown once'),
    400: jsonResponse(ErrorOut, 'Duration not offered'),
    401: errors[401],
    403: denied,
    404: jsonResponse(ErrorOut, 'No such user'),
    422: errors[422],
  },
})

export function adminTokenRoutes(deps: { adminTokens: AdminTokens }) {
  const { adminTokens } = deps
  const router = newRouter()
  return router
    .openapi(listTokens, async (c) => {
      const { user_id, status, limit, offset } = c.req.valid('query')
      const page = await adminTokens.list({ userId: user_id, status, limit, offset })
      const items = page.items.map((t) => ({
        id: t.id,
        user_id: t.userId,
        user_email: t.userEmail,
        token_prefix: t.tokenPrefix,
        duration_hours: t.durationHours,
        status: t.status,
        cost_znc: formatMinor(t.costMinor),
        created_at: t.createdAt.toISOString(),
        activated_at: iso(t.activatedAt),
        expires_at: iso(t.expiresAt),
        revoked_at: iso(t.revokedAt),
      }))
      return c.json({ items, total: page.total, limit, offset }, 200)
    })
    .openapi(revokeToken, async (c) => {
      const { token_id } = c.req.valid('param')
      await adminTokens.revoke(token_id, auditContext(c, 'admin'))
      return c.json({ revoked: true as const, token_id, message: `Token ${token_id} revoked successfully (no refund issued)` }, 200)
    })
    .openapi(grantToken, async (c) => {
      const input = c.req.valid('json')
      const done = await adminTokens.grant({ userId: input.user_id, durationHours: input.duration_hours, reason: input.reason }, auditContext(c, 'admin'))
      const { row } = done
      return c.json(
        {
          id: row.id,
          user_id: row.userId,
          token: done.token,
          duration_hours: row.durationHours,
          created_at: row.createdAt.toISOString(),
          expires_at: iso(row.expiresAt),
          activated_at: iso(row.activatedAt),
          is_active: row.isActive,
          cost_znc: formatMinor(row.costMinor),
          refundable: false,
          new_balance: formatMinor(done.newBalance),
        },
        201,
      )
    })
}
