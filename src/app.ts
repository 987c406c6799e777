import { sql } from 'drizzle-orm'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { HTTPException } from 'hono/http-exception'
import type { TokenCache } from './cache/interface'
import type { Config } from './config'
import type { TokenCipher } from './crypto/access-token'
import { createJwtIssuer } from './crypto/jwt'
import { webOwnCredentialCheck } from './crypto/own-credential'
import type { PasswordHasher } from './crypto/password'
import type { Database } from './db/client'
import { createLiveSessions } from './gateway/live-sessions'
import { createFetchProxy, type FetchProxyDeps } from './gateway/proxy-fetch'
import { createProxyPlanner } from './gateway/proxy-plan'
import { requireUser } from './http/bearer'
import { ApiError } from './http/errors'
import { newRouter } from './http/router'
import type { Logger } from './logger'
import { PROXY_PREFIX } from './rewrite/url-mapper'
import { authRoutes } from './routes/auth'
import { mountDocs } from './routes/docs'
import { healthRoutes } from './routes/health'
import { proxyCookieRoutes } from './routes/proxy'
import { rootRoutes } from './routes/root'
import { tokenRoutes } from './routes/tokens'
import { userRoutes } from './routes/users'
import { createAccounts } from './services/accounts'
import type { Clock } from './services/clock'
import { createHealth, type Probe, publicUrl } from './services/health'
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
  /** How proxied requests reach Zenzefi on the fetch path (Workers); the global fetch by default. */
  fetchUpstream?: (request: Request) => Promise<Response>
  /** The runtime's HTML rewriting on the fetch path: Workers' built-in HTMLRewriter, or a chunk engine. */
  rewriteHtml?: FetchProxyDeps['rewriteHtml']
  htmlEngine?: FetchProxyDeps['htmlEngine']
  /** True for an Authorization header that carries our own JWT (never forwarded). */
  isOwnCredential?: (authorization: string) => boolean
}

/** JSON API bodies are small; anything larger is a client error, not a reason to buffer. */
const API_BODY_LIMIT = 64 * 1024

export function createApp(deps: AppDeps) {
  const { config, database, cache, hasher, cipher, clock, log } = deps
  const accounts = createAccounts({ db: database.db, hasher, cache, clock })
  const tokens = createTokenService({ db: database.db, cache, cipher, clock, hashToken: deps.hashToken, prepareQueries: database.perRequest !== true })
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
  })
  const auth = requireUser(jwt, accounts, clock)
  const now = () => clock.now().getTime()
  const planner = createProxyPlanner({ config, tokens, now })
  const sessions = createLiveSessions({ cache, now })
  const fetchProxy = createFetchProxy({
    planner,
    sessions,
    target: config.zenzefiTargetUrl,
    timeoutMs: config.zenzefiTimeoutSeconds * 1000,
    fetchUpstream: deps.fetchUpstream ?? ((r) => fetch(r)),
    // Our JWT never goes upstream, whichever runtime serves this path (WebCrypto unless the runtime has a faster check).
    isOwnCredential: deps.isOwnCredential ?? webOwnCredentialCheck(config.secretKey),
    rewriteHtml: deps.rewriteHtml,
    htmlEngine: deps.htmlEngine,
    log,
  })

  const app = newRouter()

  app.use('*', async (c, next) => {
    const started = performance.now()
    await next()
    // Path only: query strings may carry tokens.
    log.info('request', { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round((performance.now() - started) * 10) / 10 })
  })
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
  app.route('/api/v1/auth', authRoutes({ accounts, jwt, clock, expiresIn: config.accessTokenExpireMinutes * 60 }))
  app.route('/api/v1/users', userRoutes({ accounts, auth }))
  app.route('/api/v1/tokens', tokenRoutes({ tokens, auth }))
  app.route('/api/v1/proxy', proxyCookieRoutes({ tokens, config, clock }))
  // Everything else under the prefix is Zenzefi's. (Node serves this from its lean path before Hono.)
  app.all(`${PROXY_PREFIX}/*`, (c) => fetchProxy(c.req.raw, c.req.header('cf-connecting-ip') ?? ''))
  app.all(PROXY_PREFIX, (c) => fetchProxy(c.req.raw, c.req.header('cf-connecting-ip') ?? ''))
  mountDocs(app, config.version)

  app.notFound((c) => c.json({ detail: 'Not Found' }, 404))
  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json({ detail: err.detail }, err.status, err.headers)
    if (err instanceof HTTPException) {
      // Hono's own refusals (malformed JSON, wrong content type) keep their 4xx status.
      return c.json({ detail: err.message || 'Bad Request' }, err.status)
    }
    log.error('unhandled error', { method: c.req.method, path: c.req.path, error: err, stack: err instanceof Error ? err.stack : undefined })
    return c.json({ detail: 'Internal Server Error' }, 500)
  })

  void accounts.warmUp().catch(() => {})
  return { app, services: { accounts, tokens, health, jwt }, gateway: { planner, sessions } }
}

export type App = ReturnType<typeof createApp>
