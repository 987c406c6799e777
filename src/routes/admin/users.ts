import { createRoute, z } from '@hono/zod-openapi'
import { auditContext } from '../../http/audit-context'
import { newRouter } from '../../http/router'
import { formatMinor } from '../../money/znc'
import type { AdminUsers, UserWithBalance } from '../../services/admin-users'
import { DomainError } from '../../services/errors'
import { ErrorOut, errors, FullName, iso, jsonBody, jsonResponse, plainText, Timestamp, UserOut, userOut, Znc } from '../schemas'

/** limit 1–100 (else 422) and offset, as every admin list takes them. */
export const PageQuery = {
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
}

export const Page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })

const QueryBool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1')
  .openapi({ type: 'boolean' })

const AdminUserOut = UserOut.extend({ balance: Znc }).openapi('AdminUser')

const TokenSummaryOut = z
  .object({
    id: z.uuid(),
    token_prefix: z.string().nullable().openapi({ description: 'The first 6 characters of the token; never the token itself' }),
    duration_hours: z.number().int(),
    created_at: Timestamp,
    activated_at: Timestamp.nullable(),
    expires_at: Timestamp.nullable(),
    cost_znc: Znc,
  })
  .openapi('AdminTokenSummary')

const OpenSessionOut = z
  .object({
    id: z.uuid(),
    token_id: z.uuid(),
    device: z.string().openapi({ description: 'How the device was told apart: header, cookie or address' }),
    first_ip: z.string().nullable(),
    last_ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    started_at: Timestamp,
    last_seen_at: Timestamp,
    requests: z.number().int(),
    bytes_in: z.number().int(),
    bytes_out: z.number().int(),
    websockets_open: z.number().int(),
  })
  .openapi('AdminOpenSession')

const AdminUserDetailOut = AdminUserOut.extend({ tokens: z.array(TokenSummaryOut), sessions: z.array(OpenSessionOut) }).openapi('AdminUserDetail')

const AdminUserUpdateIn = z
  .object({
    is_active: z.boolean().optional(),
    is_superuser: z.boolean().optional(),
    full_name: FullName,
  })
  .openapi('AdminUserUpdate')

const UserId = z.object({ user_id: z.uuid() })
const denied = jsonResponse(ErrorOut, '"Superuser permissions required"')

const listUsers = createRoute({
  method: 'get',
  path: '/users',
  tags: ['admin'],
  summary: 'Users, newest first; search matches email or username literally (case-insensitive)',
  security: [{ Bearer: [] }],
  request: {
    query: z.object({
      search: plainText(z.string().max(255)).optional(),
      is_active: QueryBool.optional(),
      ...PageQuery,
    }),
  },
  responses: { 200: jsonResponse(Page(AdminUserOut).openapi('AdminUsers'), 'One page of users'), 401: errors[401], 403: denied, 422: errors[422] },
})

const getUser = createRoute({
  method: 'get',
  path: '/users/{user_id}',
  tags: ['admin'],
  summary: 'A user with balance, live tokens (prefix only) and open proxy sessions',
  security: [{ Bearer: [] }],
  request: { params: UserId },
  responses: {
    200: jsonResponse(AdminUserDetailOut, 'The user'),
    401: errors[401],
    403: denied,
    404: jsonResponse(ErrorOut, 'No such user'),
    422: errors[422],
  },
})

const patchUser = createRoute({
  method: 'patch',
  path: '/users/{user_id}',
  tags: ['admin'],
  summary: "Activate, deactivate, promote, demote or rename a user; deactivating refuses the user's tokens everywhere at once",
  security: [{ Bearer: [] }],
  request: { params: UserId, body: jsonBody(AdminUserUpdateIn) },
  responses: {
    200: jsonResponse(AdminUserOut, 'The updated user'),
    401: errors[401],
    403: denied,
    404: jsonResponse(ErrorOut, 'No such user'),
    409: jsonResponse(ErrorOut, '"Cannot remove the last active superuser"'),
    422: errors[422],
  },
})

const withBalance = ({ user, balance }: UserWithBalance) => ({ ...userOut(user), balance: formatMinor(balance) })

export function adminUserRoutes(deps: { adminUsers: AdminUsers }) {
  const { adminUsers } = deps
  const router = newRouter()
  return router
    .openapi(listUsers, async (c) => {
      const { search, is_active, limit, offset } = c.req.valid('query')
      const page = await adminUsers.list({ search: search || undefined, isActive: is_active, limit, offset })
      return c.json({ items: page.items.map(withBalance), total: page.total, limit, offset }, 200)
    })
    .openapi(getUser, async (c) => {
      const found = await adminUsers.get(c.req.valid('param').user_id)
      if (!found) throw new DomainError('user_not_found_admin')
      return c.json(
        {
          ...withBalance(found),
          tokens: found.tokens.map((t) => ({
            id: t.id,
            token_prefix: t.tokenPrefix,
            duration_hours: t.durationHours,
            created_at: t.createdAt.toISOString(),
            activated_at: iso(t.activatedAt),
            expires_at: iso(t.expiresAt),
            cost_znc: formatMinor(t.costMinor),
          })),
          sessions: found.sessions.map((s) => ({
            id: s.id,
            token_id: s.tokenId,
            device: s.deviceSource,
            first_ip: s.firstIp,
            last_ip: s.lastIp,
            user_agent: s.userAgent,
            started_at: s.startedAt.toISOString(),
            last_seen_at: s.lastSeenAt.toISOString(),
            requests: s.requests,
            bytes_in: s.bytesIn,
            bytes_out: s.bytesOut,
            websockets_open: s.websocketsOpen,
          })),
        },
        200,
      )
    })
    .openapi(patchUser, async (c) => {
      const { user_id } = c.req.valid('param')
      const body = c.req.valid('json')
      const updated = await adminUsers.update(
        user_id,
        { isActive: body.is_active, isSuperuser: body.is_superuser, fullName: body.full_name },
        auditContext(c, 'admin'),
      )
      return c.json(withBalance(updated), 200)
    })
}
