import { createRoute, z } from '@hono/zod-openapi'
import { newRouter } from '../http/router'
import type { Payments } from '../services/payments'
import { ErrorOut, jsonResponse } from './schemas'

const ReceivedOut = z
  .object({ received: z.literal(true), outcome: z.string().openapi({ description: 'credited, already_credited, not_paid, held_for_review, unknown_payment' }) })
  .openapi('NotificationReceived')

const yookassa = createRoute({
  method: 'post',
  path: '/yookassa',
  tags: ['webhooks'],
  summary: "YooKassa's payment notifications. The body is never trusted: the payment is fetched back from YooKassa's API",
  responses: {
    200: jsonResponse(ReceivedOut, 'Recorded and decided (any number of deliveries credit once)'),
    400: jsonResponse(ErrorOut, 'Not a payment notification'),
    403: jsonResponse(ErrorOut, 'Source address outside YOOKASSA_WEBHOOK_CIDRS'),
    503: jsonResponse(ErrorOut, "YooKassa's API could not be asked; YooKassa delivers again later"),
  },
})

export function webhookRoutes(deps: { payments: Payments }) {
  const router = newRouter()
  // The body is read as text and parsed by the service, after the source address is checked.
  return router.openapi(yookassa, async (c) => {
    const outcome = await deps.payments.notification({ sourceAddress: c.get('clientIp') ?? '', body: await c.req.text(), requestId: c.get('requestId') })
    return c.json({ received: true as const, outcome }, 200)
  })
}
