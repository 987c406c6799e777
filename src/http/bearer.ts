import { createMiddleware } from 'hono/factory'
import type { JwtIssuer } from '../crypto/jwt'
import type { Accounts } from '../services/accounts'
import type { Clock } from '../services/clock'
import { DomainError } from '../services/errors'
import { UUID } from '../services/uuid'
import { readBearer } from './authorization'
import type { AppEnv } from './router'

/** Resolves the Bearer JWT to an active user, with the contract's four refusals. */
export function requireUser(jwt: JwtIssuer, accounts: Accounts, clock: Clock) {
  return createMiddleware<AppEnv>(async (c, next) => {
    // The same parser the proxy uses to keep our JWT from Zenzefi: only `Bearer <credential>`.
    const reading = readBearer(c.req.header('authorization'))
    if ('refused' in reading) throw new DomainError(reading.refused)
    const claims = await jwt.verify(reading.credential, clock.now())
    if (!claims || !UUID.test(claims.sub)) throw new DomainError('invalid_credentials')
    const user = await accounts.getById(claims.sub)
    if (!user) throw new DomainError('user_not_found')
    if (!user.isActive) throw new DomainError('inactive_user')
    c.set('user', user)
    await next()
  })
}

/** After requireUser: superusers only (CONTRACT.md "Operating it"). */
export const requireSuperuser = createMiddleware<AppEnv>(async (c, next) => {
  if (!c.get('user').isSuperuser) throw new DomainError('not_superuser')
  await next()
})
