// Log in, register, log out. The same rules as the JSON API's (src/services/sign-in.ts: locks,
// caps, one answer for every email; the register schema and limit), answered as pages.
import { type Context, Hono } from 'hono'
import { getCookie } from 'hono/cookie'
import type { UserRow } from '../../db/schema'
import { auditContext, requestFacts } from '../../http/audit-context'
import { toHttpError } from '../../http/errors'
import type { AppEnv } from '../../http/router'
import { LoginIn, RegisterIn } from '../../routes/auth'
import type { AccountSessions } from '../../services/account-sessions'
import type { Accounts } from '../../services/accounts'
import type { RateLimits } from '../../services/rate-limits'
import type { SignIn } from '../../services/sign-in'
import { formOf } from '../form'
import { clearedSessionCookie, SESSION_COOKIE, sessionCookie } from '../session-cookie'
import { signedIn } from '../signed-in'
import { LoginPage, RegisterPage } from '../views/sign-in'

export function signInRoutes(deps: { accounts: Accounts; signIn: SignIn; limits: RateLimits; sessions: AccountSessions }) {
  const { accounts, signIn, limits, sessions } = deps
  const router = new Hono<AppEnv>()

  const startSession = async (c: Context<AppEnv>, user: UserRow) => {
    const secret = await sessions.start(user, auditContext(c, 'user', user.id))
    c.header('Set-Cookie', sessionCookie(secret, sessions.cookieMaxAge))
    return c.redirect('/', 303)
  }

  router.get('/login', async (c) => {
    // Already signed in: straight to the account.
    if (await sessions.resolve(getCookie(c, SESSION_COOKIE))) return c.redirect('/', 303)
    const notice = c.req.query('notice') === 'logged-out' ? 'You are logged out.' : null
    return c.html(<LoginPage notice={notice} />)
  })

  router.post('/login', async (c) => {
    const form = await formOf(c)
    const email = (form.email ?? '').slice(0, 255)
    // The API's schema: a NUL or an over-long field is refused here, never sent to the database.
    const parsed = LoginIn.safeParse({ email: form.email, password: form.password })
    if (!parsed.success) return c.html(<LoginPage error="Enter your email and password." email="" />, 422)
    try {
      const user = await signIn.attempt(parsed.data.email, parsed.data.password, requestFacts(c))
      return await startSession(c, user)
    } catch (err) {
      const known = toHttpError(err)
      if (!known) throw err
      return c.html(<LoginPage error={known.detail} email={email} />, known.status, known.headers)
    }
  })

  router.get('/register', (c) => c.html(<RegisterPage />))

  router.post('/register', async (c) => {
    const form = await formOf(c)
    const parsed = RegisterIn.safeParse({ email: form.email, username: form.username, password: form.password, full_name: form.full_name || null })
    const keep = { email: form.email?.slice(0, 255), username: form.username?.slice(0, 50), fullName: form.full_name?.slice(0, 255) }
    if (!parsed.success) {
      const problem = parsed.error.issues[0]!
      const field = String(problem.path[0] ?? 'form').replace('_', ' ')
      return c.html(<RegisterPage error={`${field}: ${problem.message}`} {...keep} />, 422)
    }
    try {
      await limits.register(c.get('clientIp') ?? '')
      const body = parsed.data
      const user = await accounts.register({ ...body, fullName: body.full_name }, { ctx: auditContext(c, 'anonymous', null) })
      return await startSession(c, user)
    } catch (err) {
      const known = toHttpError(err)
      if (!known) throw err
      return c.html(<RegisterPage error={known.detail} {...keep} />, known.status, known.headers)
    }
  })

  router.post('/logout', signedIn(sessions), async (c) => {
    const form = await formOf(c)
    const everywhere = form.everywhere === '1'
    await sessions.end({ user: c.get('user'), sessionId: c.get('accountSessionId') }, everywhere, auditContext(c, 'user'))
    c.header('Set-Cookie', clearedSessionCookie())
    return c.redirect('/login?notice=logged-out', 303)
  })

  return router
}
