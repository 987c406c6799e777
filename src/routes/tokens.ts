import { createRoute, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import { auditContext } from '../http/audit-context'
import { idempotencyScope, sendAnswer } from '../http/idempotency'
import type { AppEnv } from '../http/router'
import { newRouter } from '../http/router'
import type { Counter } from '../metrics/interface'
import { formatMinor } from '../money/znc'
import type { Clock } from '../services/clock'
import type { Idempotency } from '../services/idempotency'
import type { RateLimits } from '../services/rate-limits'
import { ALLOWED_DURATIONS, type TokenService, type TokenView } from '../services/tokens'
import { ErrorOut, errors, iso, jsonBody, jsonResponse, Timestamp, Znc } from './schemas'

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
    cost_znc: Znc.openapi({ description: 'What was paid for it' }),
    refundable: z.boolean().openapi({ description: 'Revoking it now refunds cost_znc: live, never used, and paid for' }),
  })
  .openapi('AccessToken')

const PurchasedOut = TokenOut.extend({ new_balance: Znc }).openapi('PurchasedToken')

const RevokeOut = z
  .object({
    message: z.string(),
    token_id: z.uuid(),
    revoked: z.literal(true),
    refund_amount: Znc.openapi({ description: 'The price paid if the token was never used, else "0.00"; refunded once' }),
    new_balance: Znc,
  })
  .openapi('RevokeResponse')

const IdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .openapi({ description: 'Same key, same request: the same answer byte for byte, and the money moves once (kept 24 h)' }),
})

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
  cost_znc: formatMinor(t.costMinor),
  refundable: t.refundable,
})

const purchase = createRoute({
  method: 'post',
  path: '/purchase',
  tags: ['tokens'],
  summary: 'Buy an access token with credits; its clock starts at first use through the proxy',
  security: [{ Bearer: [] }],
  request: { body: jsonBody(PurchaseIn), headers: IdempotencyHeader },
  responses: {
    201: jsonResponse(PurchasedOut, 'The new token, not yet activated, and the balance after paying for it'),
    400: jsonResponse(ErrorOut, 'Duration not offered, or a malformed Idempotency-Key'),
    401: errors[401],
    402: jsonResponse(ErrorOut, 'Not enough credits: "Insufficient balance. Required: 18.00 ZNC, Available: 10.00 ZNC"'),
    403: errors[403],
    409: jsonResponse(ErrorOut, 'The first request with this Idempotency-Key is still running'),
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
  summary: 'Revoke one of your tokens (refunded if never used); refused on the next request on every instance',
  security: [{ Bearer: [] }],
  request: { params: z.object({ token_id: z.uuid() }), headers: IdempotencyHeader },
  responses: {
    200: jsonResponse(RevokeOut, 'Revoked (revoking twice is fine; the refund happens once)'),
    401: errors[401],
    403: errors[403],
    404: jsonResponse(ErrorOut, 'No such token among yours'),
    422: errors[422],
  },
})

export function tokenRoutes(deps: {
  tokens: TokenService
  idempotency: Idempotency
  clock: Clock
  auth: MiddlewareHandler<AppEnv>
  limits: RateLimits
  metrics?: { purchases: Counter }
}) {
  const { tokens, idempotency, clock, auth, limits } = deps
  const router = newRouter()
  router.use('*', auth)
  return router
    .openapi(purchase, async (c) => {
      const input = c.req.valid('json')
      const userId = c.get('user').id
      const scope = await idempotencyScope(c, 'POST /api/v1/tokens/purchase', input)
      await limits.purchase(userId, c.get('clientIp') ?? '')
      const answer = await idempotency.runOnce(scope, clock.now(), async (tx) => {
        const bought = await tokens.purchaseIn(tx, userId, input.duration_hours, auditContext(c, 'user'))
        return { status: 201, body: JSON.stringify({ ...tokenOut(bought.token), new_balance: formatMinor(bought.newBalance) }) }
      })
      if (!answer.replayed) deps.metrics?.purchases.inc()
      return sendAnswer(c, answer) as never
    })
    .openapi(myTokens, async (c) => {
      const { active_only } = c.req.valid('query')
      return c.json((await tokens.listForUser(c.get('user').id, active_only)).map(tokenOut), 200)
    })
    .openapi(revoke, async (c) => {
      const { token_id } = c.req.valid('param')
      const userId = c.get('user').id
      const scope = await idempotencyScope(c, `DELETE /api/v1/tokens/${token_id}`, {})
      let revokedHash: string | null = null
      const answer = await idempotency.runOnce(scope, clock.now(), async (tx) => {
        const done = await tokens.revokeIn(tx, userId, token_id, auditContext(c, 'user'))
        revokedHash = done.hash
        const body = {
          message: 'Token revoked successfully',
          token_id: done.token.id,
          revoked: true,
          refund_amount: formatMinor(done.refundMinor),
          new_balance: formatMinor(done.newBalance),
        }
        return { status: 200, body: JSON.stringify(body) }
      })
      // After the commit: every tier on every instance forgets the token before the answer goes out.
      if (revokedHash) await tokens.forget(revokedHash)
      return sendAnswer(c, answer) as never
    })
}
