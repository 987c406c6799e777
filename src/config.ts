// Reads the environment contract (CONTRACT.md "Configuration") into one typed object.
// Platform-free: Node passes process.env, the worker passes its bindings.

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
  cookieSecure: boolean
  cookieSameSite: SameSite
  accessTokenExpireMinutes: number
  corsOrigins: string[]
  bcryptRounds: number
  /** Largest WebSocket message relayed either way; a larger one closes the socket with 1009. */
  wsMaxMessageBytes: number
  /** Open WebSockets one access token may hold on one instance. */
  wsMaxPerToken: number
  version: string
}

export type Env = Record<string, string | undefined>

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
 * `secretKey` is passed separately because where a development key comes from
 * (a file in DATA_DIR, a binding) is the runtime's business.
 */
export function loadConfig(env: Env, opts: { secretKey?: string; version?: string } = {}): Config {
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
  return {
    env: nodeEnv,
    port,
    host: nonEmpty(env.HOST) ?? '0.0.0.0',
    secretKey,
    databaseUrl: databaseUrlFrom(env),
    redisUrl: redisUrlFrom(env),
    upstashUrl: nonEmpty(env.UPSTASH_REDIS_REST_URL),
    upstashToken: nonEmpty(env.UPSTASH_REDIS_REST_TOKEN),
    dataDir: nonEmpty(env.DATA_DIR) ?? './data',
    zenzefiTargetUrl: url('ZENZEFI_TARGET_URL', nonEmpty(env.ZENZEFI_TARGET_URL) ?? 'https://127.0.0.1:61000'),
    zenzefiCaFile: nonEmpty(env.ZENZEFI_CA_FILE),
    zenzefiTlsInsecure: bool(env.ZENZEFI_TLS_INSECURE, false),
    zenzefiTimeoutSeconds: int('ZENZEFI_TIMEOUT_SECONDS', env.ZENZEFI_TIMEOUT_SECONDS, 60, 1, 3600),
    backendUrl: url('BACKEND_URL', nonEmpty(env.BACKEND_URL) ?? `http://localhost:${port}`),
    cookieSecure: bool(env.COOKIE_SECURE, false),
    cookieSameSite: sameSite,
    accessTokenExpireMinutes: int('ACCESS_TOKEN_EXPIRE_MINUTES', env.ACCESS_TOKEN_EXPIRE_MINUTES, 60, 1, 525600),
    corsOrigins,
    // Cost 12 matches the earlier backend's hashes; lower values are for tests only.
    bcryptRounds: int('BCRYPT_ROUNDS', env.BCRYPT_ROUNDS, 12, nodeEnv === 'production' ? 10 : 4, 15),
    wsMaxMessageBytes: int('WS_MAX_MESSAGE_BYTES', env.WS_MAX_MESSAGE_BYTES, 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    wsMaxPerToken: int('WS_MAX_PER_TOKEN', env.WS_MAX_PER_TOKEN, 8, 1, 10_000),
    version: opts.version ?? '0.0.0',
  }
}
