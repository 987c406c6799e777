import { createRoute, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { Config } from '../config'
import type { Db } from '../db/client'
import { LEDGER_TRANSACTION_KINDS } from '../db/schema'
import { auditContext } from '../http/audit-context'
import { idempotencyScope, sendAnswer } from '../http/idempotency'
import { type AppEnv, newRouter } from '../http/router'
import { formatMinor } from '../money/znc'
import { balanceOf, history } from '../services/ledger'
import type { Payments } from '../services/payments'
import { ErrorOut, errors, iso, jsonBody, jsonResponse, Timestamp, Znc, zncAmountIn } from './schemas'

const BalanceOut = z.object({ balance: Znc, currency: z.literal('ZNC') }).openapi('Balance')

const TransactionOut = z
  .object({
    id: z.uuid(),
    amount: Znc.openapi({ description: 'Signed: credits in are positive, spending negative' }),
    transaction_type: z.enum(LEDGER_TRANSACTION_KINDS),
    description: z.string(),
    payment_id: z.uuid().nullable(),
    token_id: z.uuid().nullable(),
    balance_after: Znc,
    created_at: Timestamp,
  })
  .openapi('LedgerTransaction')

const TransactionsOut = z
  .object({ items: z.array(TransactionOut), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('LedgerTransactions')

const PaymentOut = z
  .object({
    payment_id: z.uuid(),
    status: z.string().openapi({ description: 'pending, succeeded, canceled, or review (held for an operator)' }),
    amount_znc: Znc,
    amount_rub: Znc,
    payment_url: z.string().nullable(),
    created_at: Timestamp,
    succeeded_at: Timestamp.nullable(),
    credited: z.boolean(),
  })
  .openapi('Payment')

const TopUpOut = z
  .object({ payment_id: z.uuid(), payment_url: z.string().nullable(), amount_znc: Znc, amount_rub: Znc, status: z.literal('pending') })
  .openapi('TopUp')

const balance = createRoute({
  method: 'get',
  path: '/balance',
  tags: ['currency'],
  summary: 'Your balance of credits',
  security: [{ Bearer: [] }],
  responses: { 200: jsonResponse(BalanceOut, 'The balance'), 401: errors[401], 403: errors[403] },
})

const transactions = createRoute({
  method: 'get',
  path: '/transactions',
  tags: ['currency'],
  summary: 'Every change of your balance, newest first',
  security: [{ Bearer: [] }],
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(10),
      offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
      transaction_type: z.enum(LEDGER_TRANSACTION_KINDS).optional(),
    }),
  },
  responses: { 200: jsonResponse(TransactionsOut, 'One page of the history'), 401: errors[401], 403: errors[403], 422: errors[422] },
})

const IdempotencyHeader = z.object({
  'idempotency-key': z.string().optional().openapi({ description: 'Retry with the same key: the same payment, never a second one' }),
})

export function currencyRoutes(deps: { db: Db; payments: Payments; config: Config; auth: MiddlewareHandler<AppEnv> }) {
  const { db, payments, config, auth } = deps

  const TopUpIn = z
    .object({
      amount_znc: zncAmountIn({ min: () => config.minTopupMinor, max: () => config.maxTopupMinor, description: 'How many ZNC to buy' }),
      return_url: z
        .url({ protocol: /^https?$/ })
        .max(2048)
        .optional()
        .openapi({ description: 'Where the payment page sends you back; default BACKEND_URL' }),
    })
    .openapi('TopUpRequest')

  const topUp = createRoute({
    method: 'post',
    path: '/purchase',
    tags: ['currency'],
    summary: 'Buy credits: creates a payment to pay at payment_url; the balance grows once the provider confirms it',
    security: [{ Bearer: [] }],
    request: { body: jsonBody(TopUpIn), headers: IdempotencyHeader },
    responses: {
      201: jsonResponse(TopUpOut, 'The payment to pay'),
      400: jsonResponse(ErrorOut, 'A malformed Idempotency-Key'),
      401: errors[401],
      403: errors[403],
      409: jsonResponse(ErrorOut, 'The first request with this Idempotency-Key is still running'),
      422: errors[422],
      503: jsonResponse(ErrorOut, '"Payment provider unavailable; retry with the same Idempotency-Key"'),
    },
  })

  const payment = createRoute({
    method: 'get',
    path: '/payments/{payment_id}',
    tags: ['currency'],
    summary: 'One of your payments',
    security: [{ Bearer: [] }],
    request: { params: z.object({ payment_id: z.uuid() }) },
    responses: {
      200: jsonResponse(PaymentOut, 'The payment'),
      401: errors[401],
      403: errors[403],
      404: jsonResponse(ErrorOut, 'No such payment among yours'),
      422: errors[422],
    },
  })

  const router = newRouter()
  router.use('*', auth)
  return router
    .openapi(balance, async (c) => c.json({ balance: formatMinor(await balanceOf(db, c.get('user').id)), currency: 'ZNC' as const }, 200))
    .openapi(transactions, async (c) => {
      const { limit, offset, transaction_type } = c.req.valid('query')
      const page = await history(db, c.get('user').id, { limit, offset, kind: transaction_type })
      return c.json(
        {
          items: page.items.map((t) => ({
            id: t.id,
            amount: formatMinor(t.amount),
            transaction_type: t.kind,
            description: t.description,
            payment_id: t.paymentId,
            token_id: t.tokenId,
            balance_after: formatMinor(t.balanceAfter),
            created_at: t.createdAt.toISOString(),
          })),
          total: page.total,
          limit,
          offset,
        },
        200,
      )
    })
    .openapi(topUp, async (c) => {
      const input = c.req.valid('json')
      const scope = await idempotencyScope(c, 'POST /api/v1/currency/purchase', input)
      const answer = await payments.topUp(
        c.get('user').id,
        { amountMinor: input.amount_znc, returnUrl: input.return_url ?? `${config.backendUrl}/` },
        scope,
        auditContext(c, 'user'),
      )
      return sendAnswer(c, answer) as never
    })
    .openapi(payment, async (c) => {
      const p = await payments.get(c.get('user').id, c.req.valid('param').payment_id)
      return c.json(
        {
          payment_id: p.id,
          status: p.status,
          amount_znc: formatMinor(p.amountMinor),
          amount_rub: formatMinor(p.chargeMinor),
          payment_url: p.paymentUrl,
          created_at: p.createdAt.toISOString(),
          succeeded_at: iso(p.succeededAt),
          credited: p.credited,
        },
        200,
      )
    })
}
