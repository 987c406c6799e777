import { createRoute, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../http/router'
import { newRouter } from '../http/router'
import type { Counter } from '../metrics/interface'
import type { RateLimits } from '../services/rate-limits'
import { ALLOWED_DURATIONS, type TokenService, type TokenView } from '../services/tokens'
import { ErrorOut, errors, iso, jsonBody, jsonResponse, Timestamp } from './schemas'

const PurchaseIn = z
  .object({
    duration_hours: z
      .number()
      .int()
      .min(1)
      .openapi({ example: 24, description: `One of ${ALLOWED_DURATIONS.join(', ')}` }),
  })
  .openapi('PurchaseRequest')

const TokenOut = z
  .object({
    id: z.uuid(),
    token: z.string().nullable().openapi({ description: '64 URL-safe characters; null only if SECRET_KEY changed since purchase' }),
    duration_hours: z.number().int(),
    created_at: Timestamp,
    expires_at: Timestamp.nullable().openapi({ description: 'null until first use through the proxy' }),
    activated_at: Timestamp.nullable(),
    is_active: z.boolean().openapi({ description: 'Not revoked and not expired' }),
  })
  .openapi('AccessToken')

const RevokeOut = z.object({ message: z.string(), token_id: z.uuid() }).openapi('RevokeResponse')

// FastAPI-style booleans: true/false, 1/0, yes/no, on/off.
const QueryBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', 'True', 'False'])
  .default('true')
  .transform((v) => ['true', '1', 'yes', 'on', 'True'].includes(v))

const tokenOut = (t: TokenView): z.infer<typeof TokenOut> => ({
  id: t.id,
  token: t.token,
  duration_hours: t.durationHours,
  created_at: t.createdAt.toISOString(),
  expires_at: iso(t.expiresAt),
  activated_at: iso(t.activatedAt),
  is_active: t.isActive,
})

const purchase = createRoute({
  method: 'post',
  path: '/purchase',
  tags: ['tokens'],
  summary: 'Buy an access token; its clock starts at first use through the proxy',
  security: [{ Bearer: [] }],
  request: { body: jsonBody(PurchaseIn) },
  responses: {
    201: jsonResponse(TokenOut, 'The new token, not yet activated'),
    400: jsonResponse(ErrorOut, 'Duration not offered'),
    401: errors[401],
    403: errors[403],
    422: errors[422],
    429: errors[429],
  },
})

const myTokens = createRoute({
  method: 'get',
  path: '/my-tokens',
  tags: ['tokens'],
  summary: "The caller's tokens, newest first",
  security: [{ Bearer: [] }],
  request: { query: z.object({ active_only: QueryBool.openapi({ type: 'boolean', default: true }) }) },
  responses: { 200: jsonResponse(z.array(TokenOut), 'Tokens'), 401: errors[401], 403: errors[403], 422: errors[422] },
})

const revoke = createRoute({
  method: 'delete',
  path: '/{token_id}',
  tags: ['tokens'],
  summary: 'Revoke one of your tokens; refused on the next request on every instance',
  security: [{ Bearer: [] }],
  request: { params: z.object({ token_id: z.uuid() }) },
  responses: {
    200: jsonResponse(RevokeOut, 'Revoked (revoking twice is fine)'),
    401: errors[401],
    403: errors[403],
    404: jsonResponse(ErrorOut, 'No such token among yours'),
    422: errors[422],
  },
})

export function tokenRoutes(deps: { tokens: TokenService; auth: MiddlewareHandler<AppEnv>; limits: RateLimits; metrics?: { purchases: Counter } }) {
  const { tokens, auth, limits } = deps
  const router = newRouter()
  router.use('*', auth)
  return router
    .openapi(purchase, async (c) => {
      const { duration_hours } = c.req.valid('json')
      await limits.purchase(c.get('user').id, c.get('clientIp') ?? '')
      const bought = await tokens.purchase(c.get('user').id, duration_hours)
      deps.metrics?.purchases.inc()
      return c.json(tokenOut(bought), 201)
    })
    .openapi(myTokens, async (c) => {
      const { active_only } = c.req.valid('query')
      return c.json((await tokens.listForUser(c.get('user').id, active_only)).map(tokenOut), 200)
    })
    .openapi(revoke, async (c) => {
      const { token_id } = c.req.valid('param')
      const t = await tokens.revoke(c.get('user').id, token_id)
      return c.json({ message: 'Token revoked successfully', token_id: t.id }, 200)
    })
}
