import { sql } from 'drizzle-orm'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import type { TokenCache } from './cache/interface'
import type { Config } from './config'
import type { TokenCipher } from './crypto/access-token'
import { createJwtIssuer } from './crypto/jwt'
import { webOwnCredentialCheck } from './crypto/own-credential'
import type { PasswordHasher } from './crypto/password'
import type { Database } from './db/client'
import { createLiveSessions } from './gateway/live-sessions'
import { createProxyPipeline } from './gateway/pipeline'
import { requireUser } from './http/bearer'
import { ApiError, toHttpError } from './http/errors'
import { newRouter } from './http/router'
import type { Logger } from './logger'
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
  /** True for an Authorization header that carries our own JWT (never forwarded); WebCrypto unless the runtime has a faster check. */
  isOwnCredential?: (authorization: string) => boolean | Promise<boolean>
}

/** JSON API bodies are small; anything larger is a client error, not a reason to buffer. */
export const API_BODY_LIMIT = 64 * 1024

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
  const sessions = createLiveSessions({ cache, now })
  // Proxied traffic never reaches this Hono app: each runtime's front door hands it to the pipeline.
  const pipeline = createProxyPipeline({
    config,
    tokens,
    sessions,
    now,
    // Our JWT never goes upstream, whichever runtime serves the request.
    isOwnCredential: deps.isOwnCredential ?? webOwnCredentialCheck(config.secretKey),
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
  mountDocs(app, config.version)

  app.notFound((c) => c.json({ detail: 'Not Found' }, 404))
  app.onError((err, c) => {
    // Domain refusals, route refusals and Hono's own 4xx (malformed JSON…), through one table.
    const known = toHttpError(err)
    if (known) return c.json({ detail: known.detail }, known.status, known.headers)
    // The logger reduces the error to name, SQLSTATE, query text and stack frames: no message with values in it.
    log.error('unhandled error', { method: c.req.method, path: c.req.path, error: err })
    return c.json({ detail: 'Internal Server Error' }, 500)
  })

  return { app, services: { accounts, tokens, health, jwt }, gateway: { pipeline, sessions } }
}

export type App = ReturnType<typeof createApp>
