// The account page's app, served on ACCOUNT_URL and nowhere else (the front doors route by Host).
// It shares the services with the JSON API but not its origin: Zenzefi's scripts run on
// BACKEND_URL, so nothing reachable with this page's cookie is ever served there, and nothing of
// Zenzefi's is ever served here.
import { Hono } from 'hono'
import type { Config } from '../config'
import type { Db } from '../db/client'
import type { DeviceSessions } from '../gateway/device-sessions'
import { toHttpError } from '../http/errors'
import { requestFrame } from '../http/request-frame'
import type { AppEnv } from '../http/router'
import type { Logger } from '../logger'
import type { GatewayMetrics } from '../metrics/gateway'
import type { AccountSessions } from '../services/account-sessions'
import type { Accounts } from '../services/accounts'
import type { AdminUsers } from '../services/admin-users'
import type { Clock } from '../services/clock'
import type { Idempotency } from '../services/idempotency'
import type { LaunchCodes } from '../services/launch-codes'
import type { Payments } from '../services/payments'
import type { RateLimits } from '../services/rate-limits'
import type { SessionService } from '../services/sessions'
import type { SignIn } from '../services/sign-in'
import type { TokenService } from '../services/tokens'
import { ACCOUNT_CSS, ACCOUNT_JS, ASSET_PATHS } from './assets'
import { adminPageRoutes } from './routes/admin'
import { homeRoutes } from './routes/home'
import { sessionPageRoutes } from './routes/sessions'
import { signInRoutes } from './routes/sign-in'
import { tokenPageRoutes } from './routes/tokens'
import { topUpRoutes } from './routes/top-up'
import { CROSS_ORIGIN_REFUSED, sameOriginOnly } from './same-origin'
import { accountHeaders } from './security-headers'
import { ErrorPage } from './views/home'

export interface AccountDeps {
  config: Config & { accountUrl: string }
  log: Logger
  metrics: GatewayMetrics
  db: Db
  clock: Clock
  accounts: Accounts
  signIn: SignIn
  limits: RateLimits
  sessions: AccountSessions
  launchCodes: LaunchCodes
  tokens: TokenService
  idempotency: Idempotency
  payments: Payments
  proxySessions: SessionService
  devices: DeviceSessions | null
  adminUsers: AdminUsers
}

/** Payment pages a top-up may send the browser to (the CSP's form-action follows redirects). */
const PAYMENT_ORIGINS: Record<string, string[]> = { yookassa: ['https://yoomoney.ru', 'https://*.yoomoney.ru', 'https://*.yookassa.ru'], fake: [] }

export function createAccountApp(deps: AccountDeps) {
  const { config, log } = deps
  const origin = config.accountUrl
  const app = new Hono<AppEnv>()
  app.use('*', requestFrame({ log, metrics: deps.metrics, mode: 'account' }))
  app.use(
    '*',
    accountHeaders({
      backendUrl: config.backendUrl,
      paymentOrigins: PAYMENT_ORIGINS[config.paymentProvider ?? ''] ?? [],
      https: origin.startsWith('https:'),
    }),
  )
  app.use('*', sameOriginOnly(origin))

  app.get(ASSET_PATHS.js, (c) => c.body(ACCOUNT_JS, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }))
  app.get(ASSET_PATHS.css, (c) => c.body(ACCOUNT_CSS, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'no-cache' }))
  app.get('/favicon.ico', (c) => c.body(null, 204))

  const home = {
    db: deps.db,
    config,
    clock: deps.clock,
    tokens: deps.tokens,
    payments: deps.payments,
    sessions: deps.sessions,
    proxySessions: deps.proxySessions,
  }
  app.route('/', signInRoutes({ accounts: deps.accounts, signIn: deps.signIn, limits: deps.limits, sessions: deps.sessions }))
  app.route('/', homeRoutes({ ...home, accountOrigin: origin }))
  app.route(
    '/',
    tokenPageRoutes({
      ...home,
      idempotency: deps.idempotency,
      launchCodes: deps.launchCodes,
      limits: deps.limits,
      backendUrl: config.backendUrl,
      purchases: deps.metrics.purchases,
    }),
  )
  app.route('/', topUpRoutes({ ...home, accountOrigin: origin }))
  app.route('/', sessionPageRoutes({ accountSessions: deps.sessions, sessions: deps.proxySessions, devices: deps.devices }))
  // Superusers: users, live sessions, audit (src/account/routes/admin.tsx).
  app.route(
    '/',
    adminPageRoutes({ db: deps.db, sessions: deps.sessions, adminUsers: deps.adminUsers, proxySessions: deps.proxySessions, devices: deps.devices }),
  )

  app.notFound((c) => {
    // The API and Zenzefi live on BACKEND_URL; say so to a client that came here for them.
    if (c.req.path.startsWith('/api/') || c.req.path.startsWith('/health'))
      return c.json({ detail: `This is the account page; the API and Zenzefi are at ${config.backendUrl}` }, 421)
    return c.html(<ErrorPage title="Not found" message="There is no such page." />, 404)
  })
  app.onError((err, c) => {
    const known = toHttpError(err)
    const wantsJson = (c.req.header('accept') ?? '').includes('application/json') || known?.detail === CROSS_ORIGIN_REFUSED
    if (known) {
      if (wantsJson) return c.json({ detail: known.detail, ...known.fields }, known.status, known.headers)
      return c.html(<ErrorPage user={c.var.user} title="Refused" message={known.detail} />, known.status, known.headers)
    }
    log.error('unhandled error', { method: c.req.method, path: c.req.path, request_id: c.get('requestId'), error: err })
    return c.html(<ErrorPage title="Something went wrong" message={`Please try again. Request id: ${c.get('requestId')}`} />, 500)
  })
  return app
}
