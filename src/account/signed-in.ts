// Which customer a request to the account page comes from: the `__Host-` cookie resolved to a
// live sign-in on every request (no cache), so logout, "log out everywhere" and deactivation
// take effect on the very next request.

import type { Context } from 'hono'
import { getCookie } from 'hono/cookie'
import { createMiddleware } from 'hono/factory'
import { ApiError } from '../http/errors'
import type { AppEnv } from '../http/router'
import type { AccountSessions } from '../services/account-sessions'
import { clearedSessionCookie, SESSION_COOKIE } from './session-cookie'

/** Pages send a browser with no sign-in to /login; the JSON endpoints answer 401. */
export function signedIn(sessions: AccountSessions, opts: { json?: boolean } = {}) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const found = await sessions.resolve(getCookie(c, SESSION_COOKIE))
    if (!found) {
      if (opts.json) throw new ApiError(401, 'Not signed in', { 'Set-Cookie': clearedSessionCookie() })
      return toLogin(c)
    }
    c.set('user', found.user)
    c.set('accountSessionId', found.sessionId)
    await next()
  })
}

/** Superusers only (the admin pages); anyone else gets the same 403 as the admin API gives. */
export const superuserOnly = createMiddleware<AppEnv>(async (c, next) => {
  if (!c.get('user').isSuperuser) throw new ApiError(403, 'Superuser permissions required')
  await next()
})

export function toLogin(c: Context<AppEnv>) {
  c.header('Set-Cookie', clearedSessionCookie())
  return c.redirect('/login', 303)
}
