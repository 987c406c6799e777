import { createMiddleware } from 'hono/factory'
import type { JwtIssuer } from '../crypto/jwt'
import type { Accounts } from '../services/accounts'
import type { Clock } from '../services/clock'
import { ApiError, bearerChallenge } from './errors'
import type { AppEnv } from './router'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Resolves the Bearer JWT to an active user, with the contract's four refusals. */
export function requireUser(jwt: JwtIssuer, accounts: Accounts, clock: Clock) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? ''
    const [scheme, credentials] = header.trim().split(/\s+/, 2)
    if (!credentials || scheme?.toLowerCase() !== 'bearer') throw new ApiError(403, 'Not authenticated')
    const claims = await jwt.verify(credentials, clock.now())
    if (!claims || !UUID.test(claims.sub)) throw new ApiError(401, 'Could not validate credentials', bearerChallenge)
    const user = await accounts.getById(claims.sub)
    if (!user) throw new ApiError(401, 'User not found', bearerChallenge)
    if (!user.isActive) throw new ApiError(403, 'Inactive user')
    c.set('user', user)
    await next()
  })
}
