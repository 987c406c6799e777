// The Workers entry: the same createApp(deps) as Node, wired to Workers' parts —
// postgres.js over cloudflare:sockets (one client per request, never ended),
// Upstash REST for the shared cache, the built-in HTMLRewriter, WebSocketPair.

import { AsyncLocalStorage } from 'node:async_hooks'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
// A named import, so the bundle carries the version string, not all of package.json.
import { version } from '../../../package.json'
import { API_BODY_LIMIT, type App, createApp } from '../../app'
import { createTieredCache } from '../../cache/tiered'
import { createUpstashStore } from '../../cache/upstash'
import { type Config, type Env, loadConfig } from '../../config'
import { createTokenCipher } from '../../crypto/access-token'
import { webOwnCredentialCheck } from '../../crypto/own-credential'
import { createBcryptHasher } from '../../crypto/password'
import type { Database, Db } from '../../db/client'
import * as schema from '../../db/schema'
import { accessFields, utf8Length } from '../../gateway/access-log'
import { detailReply, forRequest, INVALID_TARGET, type Reply, replyResponse } from '../../gateway/answers'
import { cloudflareClientAddress } from '../../gateway/client-address'
import { accountHostMatcher, routeOf } from '../../gateway/front-door'
import { type RequestMeta, requestIdOf } from '../../gateway/request-id'
import { createUpstashLimiter } from '../../limits/upstash'
import { consoleLogger, type Logger } from '../../logger'
import { systemClock } from '../../services/clock'
import { readApiBody, TOO_LARGE } from './api-body'
import { rewriteHtmlBuiltIn } from './html'
import { createFetchProxy } from './proxy'
import { createWorkerWsRelay } from './ws'

export interface WorkerEnv {
  /** Cloudflare Hyperdrive binding in front of PostgreSQL (preferred over DATABASE_URL). */
  HYPERDRIVE?: { connectionString: string }
  [name: string]: unknown
}

interface Built {
  app: App
  config: Config
  log: Logger
  proxy: ReturnType<typeof createFetchProxy>
  relay: ReturnType<typeof createWorkerWsRelay>
  isAccountHost: (host: string) => boolean
}

// Each request's own database client. The app is built once per isolate; its
// database is this view, so concurrent requests never share a connection.
const requestDb = new AsyncLocalStorage<Db>()
const perRequestDb = new Proxy({} as Db, {
  get(_target, prop) {
    const db = requestDb.getStore()
    if (!db) throw new Error('database used outside a request')
    const value = Reflect.get(db as object, prop)
    return typeof value === 'function' ? value.bind(db) : value
  },
})

let built: Promise<Built> | null = null

function stringEnv(env: WorkerEnv): Env {
  const out: Env = {}
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') out[k] = v
  return out
}

async function build(env: WorkerEnv, log: Logger): Promise<Built> {
  const config = loadConfig({ NODE_ENV: 'production', ...stringEnv(env) }, { version })
  const shared = config.upstashUrl && config.upstashToken ? createUpstashStore({ url: config.upstashUrl, token: config.upstashToken }) : null
  // Isolates can't hear invalidations pushed by others, so the in-isolate tier stays very short.
  const cache = await createTieredCache(shared, log, { localTtlMs: 1_000, maxLocalEntries: 1_000 })
  const database: Database = { db: perRequestDb, kind: 'postgres', perRequest: true, close: async () => {} }
  const fetchUpstream = (r: Request) => fetch(r)
  const deps = {
    config,
    database,
    cache,
    // bcrypt cost 12 is ~300 ms of CPU: within a paid plan's per-request CPU limit, not the free plan's.
    hasher: createBcryptHasher(config.bcryptRounds),
    cipher: await createTokenCipher(config.secretKey),
    clock: systemClock,
    log,
    probeUpstream: async () => {
      await fetch(config.zenzefiTargetUrl, { method: 'HEAD', signal: AbortSignal.timeout(5_000) })
    },
    isOwnCredential: webOwnCredentialCheck(config.secretKey),
    // Rate limits and failed-login counters on the same Upstash Redis, shared with every isolate and Node instance.
    limiter: config.upstashUrl && config.upstashToken ? createUpstashLimiter({ url: config.upstashUrl, token: config.upstashToken }) : null,
  }
  const app = createApp(deps)
  const { pipeline, sessions } = app.gateway
  const proxy = createFetchProxy({
    pipeline,
    sessions,
    target: config.zenzefiTargetUrl,
    timeoutMs: config.zenzefiTimeoutSeconds * 1000,
    fetchUpstream,
    rewriteHtml: rewriteHtmlBuiltIn,
    log,
  })
  const relay = createWorkerWsRelay({ config, pipeline, sessions, log, fetchUpstream })
  return { app, config, log, proxy, relay, isAccountHost: accountHostMatcher(config.accountUrl) }
}

/** The front door's own answer (no app, no pipeline): stamped with the request id, with its access line. */
function frontDoorReply(log: Logger, request: Request, meta: RequestMeta, started: number, refusal: Reply): Response {
  const reply = forRequest(refusal, meta.requestId)
  const path = new URL(request.url).pathname
  log.info('request', accessFields({ method: request.method, path, status: reply.status, started, meta, mode: 'api', bytesOut: utf8Length(reply.body) }))
  return replyResponse(reply)
}

async function api(
  b: Built,
  app: { fetch: App['app']['fetch'] },
  request: Request,
  env: WorkerEnv,
  ctx: unknown,
  meta: RequestMeta,
  started: number,
): Promise<Response> {
  const read = await readApiBody(request, API_BODY_LIMIT)
  if (read === TOO_LARGE) return frontDoorReply(b.log, request, meta, started, detailReply(413, 'Request body too large'))
  // The app reads the front door's decisions from its env (createApp's first middleware); no binding is named like them.
  return app.fetch(read, { ...env, clientIp: meta.clientIp, requestId: meta.requestId }, ctx as never)
}

export default {
  /**
   * The Cron Trigger (wrangler.toml [triggers]): re-asks the provider about open payments, so a
   * lost notification still credits. Cloudflare runs one invocation per schedule, so no lock is needed.
   */
  async scheduled(_controller: unknown, env: WorkerEnv, ctx: { waitUntil(p: Promise<unknown>): void }): Promise<void> {
    const log = consoleLogger()
    const b = await (built ??= build(env, log))
    const url = env.HYPERDRIVE?.connectionString ?? b.config.databaseUrl
    if (!url) return log.error('payments reconcile skipped: DATABASE_URL or a HYPERDRIVE binding is required on Workers')
    const sql = postgres(url, { max: 2, fetch_types: false, prepare: false, onnotice: () => {} })
    const run = requestDb.run(drizzle(sql, { schema }) as unknown as Db, async () => {
      const reconciled = await b.app.services.payments.reconcile()
      // Proxy sessions idle past SESSION_IDLE_SECONDS, or of revoked and expired tokens, end here (one invocation: no lock).
      const ended = await b.app.services.sessions.sweep(b.config.sessionIdleSeconds, { exclusive: false })
      await Promise.all([b.app.services.accountSessions.prune(), b.app.services.launchCodes.prune()])
      return { reconciled, ended }
    })
    ctx.waitUntil(run)
    const { reconciled: result, ended } = await run
    log.info('payments reconciled', result)
    if (ended?.length) log.info('proxy sessions ended', { count: ended.length })
  },

  async fetch(request: Request, env: WorkerEnv, ctx: unknown): Promise<Response> {
    const started = performance.now()
    const log = consoleLogger()
    // Decided once, before anything else: the client's address as Cloudflare saw it (Workers have no socket
    // of their own; TRUSTED_PROXY_CIDRS is a Node setting) and this request's id.
    const meta: RequestMeta = {
      clientIp: cloudflareClientAddress(request.headers.get('cf-connecting-ip')),
      requestId: requestIdOf(request.headers.get('x-request-id')),
      proto: new URL(request.url).protocol === 'https:' ? 'https' : 'http',
    }
    let b: Built
    try {
      b = await (built ??= build(env, log))
    } catch (err) {
      built = null
      log.error('configuration error', { request_id: meta.requestId, error: err })
      return frontDoorReply(log, request, meta, started, detailReply(500, 'Service misconfigured'))
    }
    const url = env.HYPERDRIVE?.connectionString ?? b.config.databaseUrl
    if (!url) return frontDoorReply(log, request, meta, started, detailReply(500, 'DATABASE_URL or a HYPERDRIVE binding is required on Workers'))
    // One client per request and no sql.end(): workerd closes the sockets with the request.
    const sql = postgres(url, { max: 3, fetch_types: false, prepare: false, onnotice: () => {} })
    const db = drizzle(sql, { schema }) as unknown as Db
    // The same front door as Node's: proxied traffic goes to the pipeline, never through the API's middleware.
    const target = new URL(request.url)
    const route = routeOf(request.method, target.pathname + target.search)
    if (route.kind === 'invalid') return frontDoorReply(log, request, meta, started, detailReply(400, INVALID_TARGET))
    // The account page's origin gets the account app alone: no API route, no Zenzefi (src/account/app.tsx).
    const account = b.app.account
    if (account && b.isAccountHost(target.host)) return requestDb.run(db, () => api(b, account, request, env, ctx, meta, started))
    return requestDb.run(db, () => {
      if (route.kind === 'api') return api(b, b.app.app, request, env, ctx, meta, started)
      // No timers across requests here: session counts are written by a request that finds them due.
      const devices = b.app.gateway.devices
      if (devices?.due()) (ctx as { waitUntil?(p: Promise<unknown>): void }).waitUntil?.(devices.flush().catch(() => 0))
      if (request.headers.get('upgrade')?.toLowerCase() === 'websocket') return b.relay(request, route, meta)
      return b.proxy(request, route, meta)
    })
  },
}
