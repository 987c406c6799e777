// Top up from the page: the amount in ZNC, the same payments.topUp as the JSON API (with the
// form's key as its Idempotency-Key), then off to the provider's payment page; it sends the
// browser back to the account page, whose refresh shows the balance once the payment is confirmed.
import { type Context, Hono } from 'hono'
import type { Config } from '../../config'
import { auditContext } from '../../http/audit-context'
import { ApiError } from '../../http/errors'
import type { AppEnv } from '../../http/router'
import { formatMinor, parseMinor } from '../../money/znc'
import { requestHash } from '../../services/idempotency'
import type { Payments } from '../../services/payments'
import { formOf, keyOf } from '../form'

export function topUpRoutes(deps: {
  config: Config
  payments: Payments
  accountOrigin: string
  refused: (c: Context<AppEnv>, err: unknown) => Promise<Response>
}) {
  const { config, payments } = deps
  const router = new Hono<AppEnv>()
  router.post('/topup', async (c) => {
    const form = await formOf(c)
    const user = c.get('user')
    try {
      const amountMinor = parseMinor((form.amount_znc ?? '').trim().replace(',', '.'))
      if (amountMinor === null || amountMinor < config.minTopupMinor || amountMinor > config.maxTopupMinor)
        throw new ApiError(422, `Enter an amount from ${formatMinor(config.minTopupMinor)} to ${formatMinor(config.maxTopupMinor)} ZNC`)
      const scope = { userId: user.id, key: keyOf(form), requestHash: await requestHash('POST /account/topup', String(amountMinor)) }
      const answer = await payments.topUp(user.id, { amountMinor, returnUrl: `${deps.accountOrigin}/?notice=paid` }, scope, auditContext(c, 'user'))
      const { payment_url } = JSON.parse(answer.body) as { payment_url: string | null }
      if (!payment_url) throw new ApiError(503, 'Payment provider unavailable; try again')
      return c.redirect(payment_url, 303)
    } catch (err) {
      return deps.refused(c, err)
    }
  })
  return router
}
