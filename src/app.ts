import { sql } from 'drizzle-orm'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { createAccountApp } from './account/app'
import type { TokenCache } from './cache/interface'
import type { Config } from './config'
import { hashAccessToken, type TokenCipher } from './crypto/access-token'
import { createJwtIssuer } from './crypto/jwt'
import { webOwnCredentialCheck } from './crypto/own-credential'
import type { PasswordHasher } from './crypto/password'
import type { Database } from './db/client'
import { createDeviceSessions } from './gateway/device-sessions'
import { createLiveSessions } from './gateway/live-sessions'
import { createProxyPipeline } from './gateway/pipeline'
import { createProxyLimits } from './gateway/steps/rate-limit'
import { requireUser } from './http/bearer'
import { ApiError } from './http/errors'
import { errorAnswer, requestFrame } from './http/request-frame'
import { newRouter } from './http/router'
import { withLocalFallback } from './limits/fallback'
import type { Limiter } from './limits/interface'
import { createMemoryLimiter } from './limits/memory'
import { namespaced } from './limits/namespace'
import type { Logger } from './logger'
import { gatewayMetrics } from './metrics/gateway'
import { type Metrics, noopMetrics } from './metrics/interface'
import { createFakeProvider, FAKE_CHECKOUT_PATH, type FakeProvider } from './payments/fake'
import type { PaymentProvider } from './payments/provider'
import { createYooKassaProvider } from './payments/yookassa'
import { adminAdjustmentRoutes } from './routes/admin/adjustments'
import { adminAuditRoutes } from './routes/admin/audit'
import { adminOperatingRoutes } from './routes/admin/operating'
import { adminSessionRoutes } from './routes/admin/sessions'
import { authRoutes } from './routes/auth'
import { currencyRoutes } from './routes/currency'
import { mountDocs } from './routes/docs'
import { fakeCheckoutRoutes } from './routes/fake-checkout'
import { healthRoutes } from './routes/health'
import { meSessionRoutes } from './routes/me-sessions'
import { proxyCookieRoutes } from './routes/proxy'
import { rootRoutes } from './routes/root'
import { tokenRoutes } from './routes/tokens'
import { userRoutes } from './routes/users'
import { webhookRoutes } from './routes/webhooks'
import { createAccountSessions } from './services/account-sessions'
import { createAccounts } from './services/accounts'
import { createAdminTokens } from './services/admin-tokens'
import { createAdminUsers } from './services/admin-users'
import { createAudit } from './services/audit'
import type { Clock } from './services/clock'
import { createHealth, type Probe, publicUrl } from './services/health'
import { createIdempotency } from './services/idempotency'
import { createLaunchCodes } from './services/launch-codes'
import { createLocks } from './services/locks'
import { createLoginGuard } from './services/login-guard'
import { createPayments } from './services/payments'
import { createRateLimits } from './services/rate-limits'
import { createSessionService } from './services/sessions'
import { createSignIn } from './services/sign-in'
import { createTokenService } from './services/tokens'

export interface AppDeps {
  config: Config
  database: Database
  cache: TokenCache
  hasher: PasswordHasher
  cipher: TokenCipher
  clock: Clock
  log: Logger
  /** Reaches the Zenzefi host (HEAD); the runtime decides how TLS is verified. */
  probeUpstream: Probe['run']
  /** SHA-256 hex for token lookups; defaults to WebCrypto. */
  hashToken?: (token: string) => string | Promise<string>
  /** True for an Authorization header that carries our own JWT (never forwarded); WebCrypto unless the runtime has a faster check. */
  isOwnCredential?: (authorization: string) => boolean | Promise<boolean>
  /** The shared rate limit store (Redis, Upstash), so every instance counts together; without it limits are per instance. */
  limiter?: Limiter | null
  /** Where counters go (src/metrics/interface.ts); the no-op unless the runtime gives one (Node: prom-client). */
  metrics?: Metrics
}

/** JSON API bodies are small; anything larger is a client error, not a reason to buffer. */
export const API_BODY_LIMIT = 64 * 1024

export function createApp(deps: AppDeps) {
  const { config, database, cache, hasher, cipher, clock, log } = deps
  const metrics = gatewayMetrics(deps.metrics ?? noopMetrics)
  const audit = createAudit({ secretKey: config.secretKey, log, now: () => clock.now() })
  const adminUsers = createAdminUsers({ db: database.db, cache, cipher, clock, audit })
  const adminTokens = createAdminTokens({ db: database.db, cache, cipher, clock, audit, hashToken: deps.hashToken })
  const locks = createLocks({ db: database.db, cache, clock, audit })
  const accounts = createAccounts({ db: database.db, hasher, cache, clock, audit })
  const tokens = createTokenService({
    db: database.db,
    cache,
    cipher,
    clock,
    hashToken: deps.hashToken,
    prepareQueries: database.perRequest !== true,
    metrics,
    prices: config.tokenPrices,
    audit,
  })
  const idempotency = createIdempotency({ db: database.db, cipher })
  const launchCodes = createLaunchCodes({ db: database.db, cipher, clock, audit })
  const accountSessions = createAccountSessions({
    db: database.db,
    clock,
    audit,
    idleMinutes: config.accountSessionIdleMinutes,
    maxHours: config.accountSessionMaxHours,
  })
  const fake: FakeProvider | null = config.paymentProvider === 'fake' ? createFakeProvider({ db: database.db, backendUrl: config.backendUrl }) : null
  const provider: PaymentProvider | null =
    config.paymentProvider === 'yookassa'
      ? createYooKassaProvider({ shopId: config.yookassa.shopId!, secretKey: config.yookassa.secretKey!, apiUrl: config.yookassa.apiUrl })
      : fake
  const payments = createPayments({ db: database.db, provider, config, clock, idempotency, log, audit })
  const jwt = createJwtIssuer(config.secretKey, config.accessTokenExpireMinutes * 60)
  const health = createHealth({
    clock,
    probes: {
      database: {
        url: config.databaseUrl ? publicUrl(config.databaseUrl) : `pglite://${config.dataDir}`,
        run: async () => void (await database.db.execute(sql`select 1`)),
      },
      redis: { url: config.redisUrl ? publicUrl(config.redisUrl) : config.upstashUrl ? publicUrl(config.upstashUrl) : 'memory://', run: () => cache.ping() },
      zenzefi: { url: config.zenzefiTargetUrl, run: deps.probeUpstream },
    },
    metrics,
  })
  const auth = requireUser(jwt, accounts, clock)
  const now = () => clock.now().getTime()
  const sessions = createLiveSessions({ cache, now })
  // Abuse limits: counted in the shared store when there is one, and always in this process too, so a Redis
  // outage leaves per-instance limits, never none.
  if (!config.rateLimits) log.warn('RATE_LIMITS=off: no rate limits and no failed-login locks (load tests only)')
  const limits = config.rateLimits ? config.limits : null
  const shared = namespaced(deps.limiter ?? null, config.rateLimitNamespace)
  const limiter = withLocalFallback(shared, createMemoryLimiter(), log)
  const guard = createLoginGuard({ limiter, clock, limits, metrics })
  const rateLimits = createRateLimits({ limiter, clock, limits, metrics })
  const signIn = createSignIn({ accounts, guard, logins: metrics.logins })
  const proxyLimits = createProxyLimits(config, shared, metrics)
  const proxySessions = createSessionService({ db: database.db, audit, clock })
  const devices = config.proxySessions
    ? createDeviceSessions({
        service: proxySessions,
        config,
        cache,
        now,
        hash: deps.hashToken ?? hashAccessToken,
        log,
        shareInFlight: database.perRequest !== true,
      })
    : null
  // Proxied traffic never reaches this Hono app: each runtime's front door hands it to the pipeline.
  const pipeline = createProxyPipeline({
    config,
    tokens,
    sessions,
    now,
    // Our JWT never goes upstream, whichever runtime serves the request.
    isOwnCredential: deps.isOwnCredential ?? webOwnCredentialCheck(config.secretKey),
    // Proxied requests are decided by this instance's buckets; they reach the shared store only in the background.
    proxyLimits,
    devices,
    launchCodes,
  })

  const app = newRouter()

  app.use('*', requestFrame({ log, metrics, mode: 'api' }))
  app.use(
    '*',
    cors({
      origin: (origin) => (config.corsOrigins.includes(origin) ? origin : null),
      credentials: true,
      allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'],
      allowHeaders: ['Authorization', 'Content-Type', 'X-Access-Token', 'X-Local-Url'],
      maxAge: 600,
    }),
  )
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: API_BODY_LIMIT,
      onError: () => {
        throw new ApiError(413, 'Request body too large')
      },
    }),
  )

  app.route('/', rootRoutes(config.version))
  app.route('/', healthRoutes(health))
  app.route('/api/v1/auth', authRoutes({ accounts, jwt, clock, expiresIn: config.accessTokenExpireMinutes * 60, signIn, limits: rateLimits }))
  app.route('/api/v1/users/me/sessions', meSessionRoutes({ sessions: proxySessions, devices, auth }))
  app.route('/api/v1/users', userRoutes({ accounts, auth }))
  app.route('/api/v1/tokens', tokenRoutes({ tokens, idempotency, clock, auth, limits: rateLimits, metrics }))
  app.route('/api/v1/currency', currencyRoutes({ db: database.db, payments, config, auth }))
  // Notifications come only to the provider that can send them; otherwise the path doesn't exist.
  if (config.paymentProvider === 'yookassa') app.route('/api/v1/webhooks', webhookRoutes({ payments }))
  if (fake) app.route(FAKE_CHECKOUT_PATH, fakeCheckoutRoutes({ fake, payments }))
  app.route('/api/v1/admin', adminAdjustmentRoutes({ idempotency, clock, auth, audit }))
  app.route('/api/v1/admin', adminOperatingRoutes({ adminUsers, adminTokens, locks, auth }))
  app.route('/api/v1/admin', adminAuditRoutes({ db: database.db, auth }))
  app.route('/api/v1/admin', adminSessionRoutes({ sessions: proxySessions, devices, auth }))
  app.route('/api/v1/proxy', proxyCookieRoutes({ tokens, config, clock }))
  mountDocs(app, config.version)

  app.notFound((c) => c.json({ detail: 'Not Found' }, 404))
  app.onError(errorAnswer(log))

  // The account page: its own app on its own origin (ACCOUNT_URL), over the same services.
  const accountUrl = config.accountUrl
  const account = accountUrl
    ? createAccountApp({
        config: { ...config, accountUrl },
        log,
        metrics,
        db: database.db,
        clock,
        accounts,
        signIn,
        limits: rateLimits,
        sessions: accountSessions,
        launchCodes,
        tokens,
        idempotency,
        payments,
        proxySessions,
        devices,
        adminUsers,
      })
    : null

  return {
    app,
    account,
    services: {
      accounts,
      tokens,
      health,
      jwt,
      payments,
      idempotency,
      audit,
      adminUsers,
      adminTokens,
      locks,
      sessions: proxySessions,
      launchCodes,
      accountSessions,
    },
    gateway: { pipeline, sessions, proxyLimits, metrics, devices },
  }
}

export type App = ReturnType<typeof createApp>
