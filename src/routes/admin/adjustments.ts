import { createRoute, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import { auditContext } from '../../http/audit-context'
import { requireSuperuser } from '../../http/bearer'
import { idempotencyScope, sendAnswer } from '../../http/idempotency'
import { type AppEnv, newRouter } from '../../http/router'
import { formatMinor } from '../../money/znc'
import { adjustIn } from '../../services/adjustments'
import type { Audit } from '../../services/audit'
import type { Clock } from '../../services/clock'
import type { Idempotency } from '../../services/idempotency'
import { ErrorOut, errors, jsonBody, jsonResponse, plainText, Znc, zncAmountIn } from '../schemas'

const AdjustmentIn = z
  .object({
    amount: zncAmountIn({ negative: true, description: 'Signed ZNC: positive gives credits, negative takes them' }),
    reason: plainText(z.string().trim().min(3).max(500)).openapi({ description: 'Shown to the user in their history', example: 'Goodwill credit' }),
  })
  .openapi('AdjustmentRequest')

const AdjustmentOut = z.object({ transaction_id: z.uuid(), amount: Znc, balance_after: Znc }).openapi('Adjustment')

const adjust = createRoute({
  method: 'post',
  path: '/users/{user_id}/adjustments',
  tags: ['admin'],
  summary: 'Give or take credits, with a reason the user sees (Idempotency-Key required)',
  security: [{ Bearer: [] }],
  request: {
    params: z.object({ user_id: z.uuid() }),
    // Optional to the schema so that a missing key gets the contract's 400, not a validation 422.
    headers: z.object({ 'idempotency-key': z.string().optional().openapi({ description: 'Required: an adjustment moves money once per key' }) }),
    body: jsonBody(AdjustmentIn),
  },
  responses: {
    201: jsonResponse(AdjustmentOut, 'The adjustment and the balance after it'),
    400: jsonResponse(ErrorOut, 'Idempotency-Key missing or malformed'),
    401: errors[401],
    403: jsonResponse(ErrorOut, '"Superuser permissions required"'),
    404: jsonResponse(ErrorOut, 'No such user'),
    409: jsonResponse(ErrorOut, '"Adjustment would make balance negative. Available: 10.00 ZNC"'),
    422: errors[422],
  },
})

export function adminAdjustmentRoutes(deps: { idempotency: Idempotency; clock: Clock; auth: MiddlewareHandler<AppEnv>; audit?: Audit }) {
  const { idempotency, clock } = deps
  const router = newRouter()
  router.use('*', deps.auth, requireSuperuser)
  return router.openapi(adjust, async (c) => {
    const { user_id } = c.req.valid('param')
    const input = c.req.valid('json')
    const scope = (await idempotencyScope(c, `POST /api/v1/admin/users/${user_id}/adjustments`, input, { required: true }))!
    const answer = await idempotency.runOnce(scope, clock.now(), async (tx) => {
      const done = await adjustIn(
        tx,
        { userId: user_id, amountMinor: input.amount, reason: input.reason, actorId: c.get('user').id, reference: `${scope.userId}:${scope.key}` },
        deps.audit && { audit: deps.audit, ctx: auditContext(c, 'admin') },
      )
      const body = { transaction_id: done.transactionId, amount: formatMinor(done.amountMinor), balance_after: formatMinor(done.balanceAfter) }
      return { status: 201, body: JSON.stringify(body) }
    })
    return sendAnswer(c, answer) as never
  })
}
