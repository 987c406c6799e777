// Buying, opening, copying and revoking tokens from the page. Money moves through the same
// service calls and the same Idempotency store as the JSON API, keyed by the form's hidden key,
// so a double click buys one token. Refusals (402 and the rest) come back as the page with the message.
import { type Context, Hono } from 'hono'
import { auditContext } from '../../http/audit-context'
import type { AppEnv } from '../../http/router'
import type { Counter } from '../../metrics/interface'
import type { Idempotency } from '../../services/idempotency'
import { requestHash } from '../../services/idempotency'
import type { LaunchCodes } from '../../services/launch-codes'
import type { RateLimits } from '../../services/rate-limits'
import { UUID } from '../../services/uuid'
import { formOf, keyOf } from '../form'
import { pageRefusal } from '../refused'
import { signedIn } from '../signed-in'
import { ErrorPage, RevealPage } from '../views/home'
import type { HomeDeps } from './home'

export function tokenPageRoutes(
  deps: HomeDeps & { idempotency: Idempotency; launchCodes: LaunchCodes; limits: RateLimits; backendUrl: string; purchases: Counter },
) {
  const { tokens, idempotency, clock } = deps
  const router = new Hono<AppEnv>()
  router.use('/tokens', signedIn(deps.sessions))
  router.use('/tokens/*', signedIn(deps.sessions))

  const refused = pageRefusal(deps)

  const tokenIdOf = (c: Context<AppEnv>) => {
    const id = c.req.param('id') ?? ''
    return UUID.test(id) ? id : null
  }
  const notFound = (c: Context<AppEnv>) => c.html(<ErrorPage user={c.get('user')} title="Token not found" message="No such token among yours." />, 404)

  router.post('/tokens', async (c) => {
    const form = await formOf(c)
    const user = c.get('user')
    // purchaseIn refuses a duration that isn't offered (400), as the API does.
    const hours = Number(form.duration_hours)
    try {
      const scope = { userId: user.id, key: keyOf(form), requestHash: await requestHash('POST /account/tokens', String(hours)) }
      await deps.limits.purchase(user.id, c.get('clientIp') ?? '')
      const answer = await idempotency.runOnce(scope, clock.now(), async (tx) => {
        const bought = await tokens.purchaseIn(tx, user.id, hours, auditContext(c, 'user'))
        return { status: 201, body: JSON.stringify({ id: bought.token.id }) }
      })
      if (!answer.replayed) deps.purchases.inc()
      const { id } = JSON.parse(answer.body) as { id: string }
      return c.redirect(`/?notice=bought#token-${id}`, 303)
    } catch (err) {
      return refused(c, err)
    }
  })

  router.post('/tokens/:id/revoke', async (c) => {
    const id = tokenIdOf(c)
    if (!id) return notFound(c)
    const user = c.get('user')
    let hash: string | null = null
    try {
      const scope = { userId: user.id, key: keyOf(await formOf(c)), requestHash: await requestHash('DELETE /account/tokens', id) }
      await idempotency.runOnce(scope, clock.now(), async (tx) => {
        const done = await tokens.revokeIn(tx, user.id, id, auditContext(c, 'user'))
        hash = done.hash
        return { status: 200, body: '{}' }
      })
    } catch (err) {
      return refused(c, err)
    }
    // After the commit: every tier on every instance forgets it before the page says it is revoked.
    if (hash) await tokens.forget(hash)
    return c.redirect('/?notice=revoked', 303)
  })

  // Open Zenzefi: a one-minute, single-use code in the URL instead of the token (src/services/launch-codes.ts).
  router.post('/tokens/:id/launch', async (c) => {
    const id = tokenIdOf(c)
    if (!id) return notFound(c)
    try {
      const code = await deps.launchCodes.issue(c.get('user').id, id, auditContext(c, 'user'))
      return c.redirect(`${deps.backendUrl}/api/v1/proxy/?launch=${code}`, 303)
    } catch (err) {
      return refused(c, err)
    }
  })

  // Copy: the script asks for JSON and puts it on the clipboard; without a script, a page shows it.
  router.post('/tokens/:id/reveal', async (c) => {
    const id = tokenIdOf(c)
    const user = c.get('user')
    const token = id ? await tokens.revealOwn(user.id, id) : null
    if (!token) {
      if ((c.req.header('accept') ?? '').includes('application/json')) return c.json({ detail: 'Token not found' }, 404)
      return notFound(c)
    }
    if ((c.req.header('accept') ?? '').includes('application/json')) return c.json({ token })
    return c.html(<RevealPage user={user} token={token} />)
  })

  return router
}
