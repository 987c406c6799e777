// Top up from the page: the amount in ZNC, the same payments.topUp as the JSON API (with the
// form's key as its Idempotency-Key), then off to the provider's payment page; it sends the
// browser back to the account page, whose refresh shows the balance once the payment is confirmed.
import { Hono } from 'hono'
import { auditContext } from '../../http/audit-context'
import { ApiError } from '../../http/errors'
import type { AppEnv } from '../../http/router'
import { formatMinor, parseMinor } from '../../money/znc'
import { requestHash } from '../../services/idempotency'
import { formOf, keyOf } from '../form'
import { pageRefusal } from '../refused'
import { signedIn } from '../signed-in'
import type { HomeDeps } from './home'

export function topUpRoutes(deps: HomeDeps & { accountOrigin: string }) {
  const { config, payments } = deps
  const refused = pageRefusal(deps)
  const router = new Hono<AppEnv>()
  router.post('/topup', signedIn(deps.sessions), async (c) => {
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
      return refused(c, err)
    }
  })
  return router
}
