// Reads the environment contract (CONTRACT.md "Configuration") into one typed object.
// Platform-free: Node passes process.env, the worker passes its bindings.

import { parseCidrList } from './gateway/client-address'
import type { RatePolicy } from './limits/interface'
import { formatMinor, parseMinor, parseRate, type Rate } from './money/znc'

export type SameSite = 'lax' | 'strict' | 'none'

export interface Config {
  env: 'production' | 'development' | 'test'
  port: number
  host: string
  secretKey: string
  databaseUrl: string | null
  redisUrl: string | null
  upstashUrl: string | null
  upstashToken: string | null
  dataDir: string
  zenzefiTargetUrl: string
  zenzefiCaFile: string | null
  zenzefiTlsInsecure: boolean
  zenzefiTimeoutSeconds: number
  backendUrl: string
  /**
   * ACCOUNT_URL: the customers' web page, on an origin other than BACKEND_URL's (Zenzefi's scripts run there).
   * null: no account page (production without the variable, or a BACKEND_URL with no loopback twin).
   */
  accountUrl: string | null
  /** ACCOUNT_SESSION_IDLE_MINUTES: a signed-in browser left this long is signed out. */
  accountSessionIdleMinutes: number
  /** ACCOUNT_SESSION_MAX_HOURS: however active, a sign-in lasts at most this long. */
  accountSessionMaxHours: number
  cookieSecure: boolean
  cookieSameSite: SameSite
  accessTokenExpireMinutes: number
  corsOrigins: string[]
  bcryptRounds: number
  /** Largest WebSocket message relayed either way; a larger one closes the socket with 1009. */
  wsMaxMessageBytes: number
  /** Open WebSockets one access token may hold on one instance. */
  wsMaxPerToken: number
  /** RATE_LIMITS: false turns every limit below off (load tests), with a warning at start. */
  rateLimits: boolean
  /** Prefix that keeps this deployment's limit counters apart from others on the same Redis. */
  rateLimitNamespace: string
  /** Each abuse limit; null (the variable set to 0) turns that one off. */
  limits: LimitsConfig
  /** Peers whose X-Forwarded-For is believed (normalised `address/prefix`); none by default. Node only: Workers use CF-Connecting-IP. */
  trustedProxyCidrs: string[]
  // Graceful shutdown on SIGTERM/SIGINT (src/runtime/node/server.ts shutdown()).
  /** Seconds /health/ready answers 503 while new connections are still accepted, so a load balancer stops sending first. */
  shutdownDrainSeconds: number
  /** Seconds in-flight requests and downloads get after the drain; whatever is still open then is cut. */
  shutdownTimeoutSeconds: number
  /** METRICS_ADDR: where the Prometheus listener binds (Node); null (`off`) for none. */
  metricsAddr: { host: string; port: number } | null
  /** METRICS_TOKEN: with it, /metrics on the main port answers a matching Bearer; without it, 404 there. */
  metricsToken: string | null
  /** TOKEN_PRICE_*: each duration's price in ZNC minor units (0 = free). */
  tokenPrices: Record<number, number>
  /** PAYMENT_PROVIDER: who takes top-up payments; null for none (top-ups answer 503). */
  paymentProvider: 'yookassa' | 'fake' | null
  /** ZNC_TO_RUB_RATE: roubles charged per ZNC. */
  zncToRubRate: Rate
  /** MIN_TOPUP_ZNC / MAX_TOPUP_ZNC in minor units. */
  minTopupMinor: number
  maxTopupMinor: number
  yookassa: { shopId: string | null; secretKey: string | null; apiUrl: string; webhookCidrs: string[] }
  /** PAYMENTS_RECONCILE_SECONDS: how often pending payments are asked about again (0 = never). */
  paymentsReconcileSeconds: number
  /** DEVICE_LIMIT: devices that may use one token at once (0 = unlimited; RATE_LIMITS=off lifts it too). */
  deviceLimit: number
  /** PROXY_SESSIONS: off turns proxy sessions (the device limit and their counting) off entirely (benchmarks only). */
  proxySessions: boolean
  /** SESSION_IDLE_SECONDS: a proxy session with no request and no open socket this long has ended. */
  sessionIdleSeconds: number
  /** SESSION_FLUSH_SECONDS: how often in-memory session counters are written to the database. */
  sessionFlushSeconds: number
  /** AUDIT_RETENTION_DAYS: audit events older than this are pruned (0 = kept forever). */
  auditRetentionDays: number
  /** WORKERS: server processes on one port (Node). Default: one per core on PostgreSQL + Redis, 1 on the embedded defaults. */
  workers: number
  version: string
}

export type Env = Record<string, string | undefined>

/** Abuse limits; a null policy or a 0 is that limit turned off. */
export interface LimitsConfig {
  /** LOGIN_RATE_PER_ADDRESS: login attempts (any outcome) per client address. */
  loginPerAddress: RatePolicy | null
  /** LOGIN_LOCK_AFTER: failed logins per (email, address) within the window that lock the pair. */
  loginLockAfter: RatePolicy | null
  /** LOGIN_LOCK_SECONDS: the first lock; each repeat lock doubles it. */
  loginLockSeconds: number
  /** LOGIN_LOCK_MAX_SECONDS: the longest lock. */
  loginLockMaxSeconds: number
  /** LOGIN_FAILURES_PER_ACCOUNT: failed logins per email, from any address. */
  loginFailuresPerAccount: RatePolicy | null
  /** LOGIN_FAILURES_PER_ADDRESS: failed logins per client address, for any email. */
  loginFailuresPerAddress: RatePolicy | null
  /** REGISTER_RATE_PER_ADDRESS: registrations per client address. */
  registerPerAddress: RatePolicy | null
  /** PURCHASE_RATE_PER_ACCOUNT / _PER_ADDRESS: token purchases per user and per client address. */
  purchasePerAccount: RatePolicy | null
  purchasePerAddress: RatePolicy | null
  /** PROXY_RATE_PER_SECOND (0 = off) with burst PROXY_RATE_BURST: proxied requests and upgrades per access token. */
  proxyRatePerSecond: number
  proxyRateBurst: number
  /** PROXY_MAX_IN_FLIGHT (0 = off): proxied HTTP requests one access token may have open on one instance. */
  proxyMaxInFlight: number
}

export class ConfigError extends Error {}

const DEFAULT_CORS = ['https://127.0.0.1:61000', 'https://localhost:61000', 'http://127.0.0.1:61000', 'http://localhost:61000']

function bool(v: string | undefined, fallback: boolean): boolean {
  if (v === undefined || v === '') return fallback
  return ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase())
}

function int(name: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer between ${min} and ${max}`)
  return n
}

function nonEmpty(v: string | undefined): string | null {
  return v === undefined || v.trim() === '' ? null : v.trim()
}

const WINDOW_UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

/** `30/m`, `5/10m`, `50/d`, `20/60` (seconds): so many events per window; `0` or `off` for none. */
function ratePolicy(name: string, v: string | undefined, fallback: string): RatePolicy | null {
  const text = (nonEmpty(v) ?? fallback).toLowerCase()
  if (text === '0' || text === 'off') return null
  const m = /^(\d+)\s*\/\s*(\d*)\s*([smhd]?)$/.exec(text)
  const limit = m ? Number(m[1]) : Number.NaN
  const windowSeconds = m ? Number(m[2] || 1) * (WINDOW_UNIT_SECONDS[m[3] || 's'] ?? 1) : Number.NaN
  if (!m || !(m[2] || m[3]) || limit > 1_000_000 || windowSeconds < 1 || windowSeconds > 30 * 86400) {
    throw new ConfigError(`${name} must be a count per window such as 30/m, 5/10m or 50/d (s, m, h, d; at most 30 days), or 0 for no limit`)
  }
  return limit === 0 ? null : { limit, windowSeconds }
}

function onOff(name: string, v: string | undefined, fallback: boolean): boolean {
  const text = (nonEmpty(v) ?? '').toLowerCase()
  if (text === '') return fallback
  if (['on', 'true', '1', 'yes'].includes(text)) return true
  if (['off', 'false', '0', 'no'].includes(text)) return false
  throw new ConfigError(`${name} must be on or off`)
}

/** The abuse limits (README "Configuration"; CONTRACT.md "Abuse controls"). */
export function loadLimits(env: Env): LimitsConfig {
  const lockSeconds = int('LOGIN_LOCK_SECONDS', env.LOGIN_LOCK_SECONDS, 900, 1, 30 * 86400)
  return {
    loginPerAddress: ratePolicy('LOGIN_RATE_PER_ADDRESS', env.LOGIN_RATE_PER_ADDRESS, '30/m'),
    loginLockAfter: ratePolicy('LOGIN_LOCK_AFTER', env.LOGIN_LOCK_AFTER, '5/10m'),
    loginLockSeconds: lockSeconds,
    loginLockMaxSeconds: int('LOGIN_LOCK_MAX_SECONDS', env.LOGIN_LOCK_MAX_SECONDS, Math.max(86400, lockSeconds), lockSeconds, 30 * 86400),
    loginFailuresPerAccount: ratePolicy('LOGIN_FAILURES_PER_ACCOUNT', env.LOGIN_FAILURES_PER_ACCOUNT, '50/d'),
    loginFailuresPerAddress: ratePolicy('LOGIN_FAILURES_PER_ADDRESS', env.LOGIN_FAILURES_PER_ADDRESS, '50/h'),
    registerPerAddress: ratePolicy('REGISTER_RATE_PER_ADDRESS', env.REGISTER_RATE_PER_ADDRESS, '10/h'),
    purchasePerAccount: ratePolicy('PURCHASE_RATE_PER_ACCOUNT', env.PURCHASE_RATE_PER_ACCOUNT, '10/m'),
    purchasePerAddress: ratePolicy('PURCHASE_RATE_PER_ADDRESS', env.PURCHASE_RATE_PER_ADDRESS, '30/m'),
    proxyRatePerSecond: int('PROXY_RATE_PER_SECOND', env.PROXY_RATE_PER_SECOND, 20, 0, 1_000_000),
    proxyRateBurst: int('PROXY_RATE_BURST', env.PROXY_RATE_BURST, 400, 1, 10_000_000),
    proxyMaxInFlight: int('PROXY_MAX_IN_FLIGHT', env.PROXY_MAX_IN_FLIGHT, 64, 0, 100_000),
  }
}

function databaseUrlFrom(env: Env): string | null {
  const url = nonEmpty(env.DATABASE_URL)
  if (url) return url
  const server = nonEmpty(env.POSTGRES_SERVER)
  if (!server) return null
  const user = encodeURIComponent(env.POSTGRES_USER ?? 'postgres')
  const password = env.POSTGRES_PASSWORD ? `:${encodeURIComponent(env.POSTGRES_PASSWORD)}` : ''
  const port = env.POSTGRES_PORT ?? '5432'
  const db = encodeURIComponent(env.POSTGRES_DB ?? 'zenzefi')
  return `postgres://${user}${password}@${server}:${port}/${db}`
}

function redisUrlFrom(env: Env): string | null {
  const url = nonEmpty(env.REDIS_URL)
  if (url) return url
  const host = nonEmpty(env.REDIS_HOST)
  if (!host) return null
  const password = env.REDIS_PASSWORD ? `:${encodeURIComponent(env.REDIS_PASSWORD)}@` : ''
  return `redis://${password}${host}:${env.REDIS_PORT ?? '6379'}/${env.REDIS_DB ?? '0'}`
}

function url(name: string, v: string): string {
  try {
    const u = new URL(v)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error()
    return v.replace(/\/+$/, '')
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL`)
  }
}

/**
 * The account page's origin. In development it defaults to BACKEND_URL's loopback twin (localhost ⇄
 * 127.0.0.1, same port): another origin and another site, so the browser keeps the two apart. It must
 * never share BACKEND_URL's origin: Zenzefi's scripts run there and could act as the signed-in customer.
 */
function accountUrlFrom(env: Env, nodeEnv: Config['env'], backendUrl: string): string | null {
  const given = nonEmpty(env.ACCOUNT_URL)
  const backend = new URL(backendUrl)
  if (given === null) {
    if (nodeEnv === 'production') return null
    const twin = backend.hostname === 'localhost' ? '127.0.0.1' : backend.hostname === '127.0.0.1' ? 'localhost' : null
    return twin ? `${backend.protocol}//${twin}${backend.port ? `:${backend.port}` : ''}` : null
  }
  if (given.toLowerCase() === 'off') return null
  const account = new URL(url('ACCOUNT_URL', given))
  if (account.pathname !== '/' || account.search) throw new ConfigError('ACCOUNT_URL must be an origin (scheme, host and port) with no path')
  if (account.origin === backend.origin)
    throw new ConfigError('ACCOUNT_URL must be a different origin from BACKEND_URL: Zenzefi pages run on BACKEND_URL and would reach the signed-in account')
  if (nodeEnv === 'production' && account.protocol !== 'https:') throw new ConfigError('ACCOUNT_URL must be https when NODE_ENV=production')
  return account.origin
}

/** `host:port` (`[::1]:9464` for IPv6), or `off`. */
export function metricsAddress(v: string | undefined): { host: string; port: number } | null {
  const text = nonEmpty(v) ?? '127.0.0.1:9464'
  if (['off', 'false', '0', 'no'].includes(text.toLowerCase())) return null
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text)
  const port = m ? Number(m[3]) : Number.NaN
  if (!m || port < 1 || port > 65535) throw new ConfigError('METRICS_ADDR must be host:port (such as 127.0.0.1:9464 or [::1]:9464), or off')
  return { host: (m[1] ?? m[2])!, port }
}

function cidrs(name: string, v: string | undefined): string[] {
  try {
    return parseCidrList(v)
  } catch (err) {
    throw new ConfigError(`${name} must be a comma-separated list of IPv4/IPv6 CIDRs: ${(err as Error).message}`)
  }
}

/**
 * `secretKey` is passed separately because where a development key comes from
 * (a file in DATA_DIR, a binding) is the runtime's business.
 */
/** RATE_LIMIT_NAMESPACE: up to 64 of [A-Za-z0-9_-], so it can't collide with a key's own separators. */
function namespaceOf(v: string | undefined): string {
  const ns = v?.trim() ?? ''
  if (ns !== '' && !/^[A-Za-z0-9_-]{1,64}$/.test(ns)) throw new ConfigError('RATE_LIMIT_NAMESPACE must be up to 64 letters, digits, _ or -')
  return ns
}

/** YooKassa's published notification source ranges (yookassa.ru/developers/using-api/webhooks). */
export const YOOKASSA_NOTIFICATION_CIDRS = '185.71.76.0/27, 185.71.77.0/27, 77.75.153.0/25, 77.75.156.11/32, 77.75.156.35/32, 77.75.154.128/25, 2a02:5180::/32'

const DEFAULT_PRICES: Record<number, string> = { 1: '1.00', 12: '10.00', 24: '18.00', 168: '100.00', 720: '300.00' }

function znc(name: string, v: string | undefined, fallback: string, min = 0): number {
  const minor = parseMinor(nonEmpty(v) ?? fallback)
  if (minor === null || minor < min) throw new ConfigError(`${name} must be an amount of ZNC with at most two decimals, at least ${formatMinor(min)}`)
  return minor
}

function paymentConfig(env: Env, nodeEnv: Config['env']) {
  const tokenPrices: Record<number, number> = {}
  for (const [hours, fallback] of Object.entries(DEFAULT_PRICES))
    tokenPrices[Number(hours)] = znc(`TOKEN_PRICE_${hours}H`, env[`TOKEN_PRICE_${hours}H`], fallback)
  const provider = (nonEmpty(env.PAYMENT_PROVIDER) ?? (nodeEnv === 'production' ? 'none' : 'fake')).toLowerCase()
  if (provider !== 'yookassa' && provider !== 'fake' && provider !== 'none') throw new ConfigError('PAYMENT_PROVIDER must be yookassa, fake or none')
  if (provider === 'fake' && nodeEnv === 'production')
    throw new ConfigError('PAYMENT_PROVIDER=fake is for development: it credits without payment, so it is refused when NODE_ENV=production')
  const shopId = nonEmpty(env.YOOKASSA_SHOP_ID)
  const secretKey = nonEmpty(env.YOOKASSA_SECRET_KEY)
  if (provider === 'yookassa' && (!shopId || !secretKey)) throw new ConfigError('PAYMENT_PROVIDER=yookassa needs YOOKASSA_SHOP_ID and YOOKASSA_SECRET_KEY')
  const rate = parseRate(nonEmpty(env.ZNC_TO_RUB_RATE) ?? '10')
  if (!rate) throw new ConfigError('ZNC_TO_RUB_RATE must be a positive number with at most four decimals')
  const minTopupMinor = znc('MIN_TOPUP_ZNC', env.MIN_TOPUP_ZNC, '10.00', 1)
  const maxTopupMinor = znc('MAX_TOPUP_ZNC', env.MAX_TOPUP_ZNC, '10000.00', minTopupMinor)
  return {
    tokenPrices,
    paymentProvider: provider === 'none' ? null : provider,
    zncToRubRate: rate,
    minTopupMinor,
    maxTopupMinor,
    yookassa: {
      shopId,
      secretKey,
      apiUrl: url('YOOKASSA_API_URL', nonEmpty(env.YOOKASSA_API_URL) ?? 'https://api.yookassa.ru/v3'),
      webhookCidrs: cidrs('YOOKASSA_WEBHOOK_CIDRS', nonEmpty(env.YOOKASSA_WEBHOOK_CIDRS) ?? YOOKASSA_NOTIFICATION_CIDRS),
    },
    paymentsReconcileSeconds: int('PAYMENTS_RECONCILE_SECONDS', env.PAYMENTS_RECONCILE_SECONDS, 60, 0, 86400),
  } satisfies Partial<Config>
}

/**
 * WORKERS: more than one process needs what they can share: PostgreSQL (PGlite is one process's own
 * database) and Redis (revocations, limits and sessions reach every process through it).
 */
function workersFrom(env: Env, cores: number, shared: { databaseUrl: string | null; redisUrl: string | null }): number {
  const both = shared.databaseUrl !== null && shared.redisUrl !== null
  const workers = int('WORKERS', env.WORKERS, both ? Math.max(1, cores) : 1, 1, 256)
  if (workers > 1 && !shared.databaseUrl) throw new ConfigError('WORKERS > 1 needs DATABASE_URL: the embedded PGlite database belongs to one process')
  if (workers > 1 && !shared.redisUrl) throw new ConfigError('WORKERS > 1 needs REDIS_URL: the processes share revocations, limits and sessions through it')
  return workers
}

export function loadConfig(env: Env, opts: { secretKey?: string; version?: string; cores?: number } = {}): Config {
  const nodeEnv = env.NODE_ENV === 'production' ? 'production' : env.NODE_ENV === 'test' ? 'test' : 'development'
  const secretKey = nonEmpty(env.SECRET_KEY) ?? opts.secretKey ?? null
  if (!secretKey) throw new ConfigError('SECRET_KEY is required when NODE_ENV=production')
  if (nodeEnv === 'production' && secretKey.length < 32) throw new ConfigError('SECRET_KEY must be at least 32 characters')
  const port = int('PORT', env.PORT, 8000, 0, 65535)
  const sameSite = (env.COOKIE_SAMESITE ?? 'lax').toLowerCase()
  if (sameSite !== 'lax' && sameSite !== 'strict' && sameSite !== 'none') throw new ConfigError('COOKIE_SAMESITE must be lax, strict or none')
  const cors = nonEmpty(env.CORS_ORIGINS)
  const corsOrigins = cors
    ? cors
        .split(',')
        .map((o) => o.trim().replace(/\/+$/, ''))
        .filter(Boolean)
    : DEFAULT_CORS
  if (corsOrigins.includes('*')) throw new ConfigError('CORS_ORIGINS cannot be "*": credentials are allowed, so origins must be listed')
  const backendUrl = url('BACKEND_URL', nonEmpty(env.BACKEND_URL) ?? `http://localhost:${port}`)
  const databaseUrl = databaseUrlFrom(env)
  const redisUrl = redisUrlFrom(env)
  return {
    env: nodeEnv,
    port,
    host: nonEmpty(env.HOST) ?? '0.0.0.0',
    secretKey,
    databaseUrl,
    redisUrl,
    upstashUrl: nonEmpty(env.UPSTASH_REDIS_REST_URL),
    upstashToken: nonEmpty(env.UPSTASH_REDIS_REST_TOKEN),
    dataDir: nonEmpty(env.DATA_DIR) ?? './data',
    zenzefiTargetUrl: url('ZENZEFI_TARGET_URL', nonEmpty(env.ZENZEFI_TARGET_URL) ?? 'https://127.0.0.1:61000'),
    zenzefiCaFile: nonEmpty(env.ZENZEFI_CA_FILE),
    zenzefiTlsInsecure: bool(env.ZENZEFI_TLS_INSECURE, false),
    zenzefiTimeoutSeconds: int('ZENZEFI_TIMEOUT_SECONDS', env.ZENZEFI_TIMEOUT_SECONDS, 60, 1, 3600),
    backendUrl,
    accountUrl: accountUrlFrom(env, nodeEnv, backendUrl),
    accountSessionIdleMinutes: int('ACCOUNT_SESSION_IDLE_MINUTES', env.ACCOUNT_SESSION_IDLE_MINUTES, 30, 1, 7 * 24 * 60),
    accountSessionMaxHours: int('ACCOUNT_SESSION_MAX_HOURS', env.ACCOUNT_SESSION_MAX_HOURS, 12, 1, 24 * 90),
    cookieSecure: bool(env.COOKIE_SECURE, false),
    cookieSameSite: sameSite,
    accessTokenExpireMinutes: int('ACCESS_TOKEN_EXPIRE_MINUTES', env.ACCESS_TOKEN_EXPIRE_MINUTES, 60, 1, 525600),
    corsOrigins,
    // Cost 12 matches the earlier backend's hashes; lower values are for tests only.
    bcryptRounds: int('BCRYPT_ROUNDS', env.BCRYPT_ROUNDS, 12, nodeEnv === 'production' ? 10 : 4, 15),
    wsMaxMessageBytes: int('WS_MAX_MESSAGE_BYTES', env.WS_MAX_MESSAGE_BYTES, 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    wsMaxPerToken: int('WS_MAX_PER_TOKEN', env.WS_MAX_PER_TOKEN, 8, 1, 10_000),
    rateLimits: onOff('RATE_LIMITS', env.RATE_LIMITS, true),
    rateLimitNamespace: namespaceOf(env.RATE_LIMIT_NAMESPACE),
    limits: loadLimits(env),
    trustedProxyCidrs: cidrs('TRUSTED_PROXY_CIDRS', env.TRUSTED_PROXY_CIDRS),
    // Graceful shutdown: no drain outside production (nothing polls a development server's readiness).
    shutdownDrainSeconds: int('SHUTDOWN_DRAIN_SECONDS', env.SHUTDOWN_DRAIN_SECONDS, nodeEnv === 'production' ? 2 : 0, 0, 300),
    shutdownTimeoutSeconds: int('SHUTDOWN_TIMEOUT_SECONDS', env.SHUTDOWN_TIMEOUT_SECONDS, 25, 0, 3600),
    metricsAddr: metricsAddress(env.METRICS_ADDR),
    metricsToken: nonEmpty(env.METRICS_TOKEN),
    ...paymentConfig(env, nodeEnv),
    deviceLimit: int('DEVICE_LIMIT', env.DEVICE_LIMIT, 1, 0, 1000),
    proxySessions: onOff('PROXY_SESSIONS', env.PROXY_SESSIONS, true),
    sessionIdleSeconds: int('SESSION_IDLE_SECONDS', env.SESSION_IDLE_SECONDS, 300, 10, 7 * 86400),
    sessionFlushSeconds: int('SESSION_FLUSH_SECONDS', env.SESSION_FLUSH_SECONDS, 5, 1, 300),
    auditRetentionDays: int('AUDIT_RETENTION_DAYS', env.AUDIT_RETENTION_DAYS, 365, 0, 36500),
    workers: workersFrom(env, opts.cores ?? 1, { databaseUrl, redisUrl }),
    version: opts.version ?? '0.0.0',
  }
}
