import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import postgres from 'postgres'
import { afterAll, beforeAll, inject } from 'vitest'
import { type App, createApp } from '../../src/app'
import type { TokenCache } from '../../src/cache/interface'
import { type Env, loadConfig } from '../../src/config'
import type { Database } from '../../src/db/client'
import { migrateDatabase, openDatabase } from '../../src/db/connect-node'
import { createLogger } from '../../src/logger'
import { buildNodeDeps } from '../../src/runtime/node/deps'
import type { Clock } from '../../src/services/clock'
import { recordLogLine, recordSecret } from './log-scan'

/** Keeps this test file's rate-limit counters apart in a shared Redis (each file loads this module anew). */
export const TEST_FILE_NAMESPACE = `t${randomBytes(6).toString('hex')}`

export const TEST_SECRET = 'test-secret-key-that-is-long-enough-0123456789'

/**
 * Tests of other things than money buy tokens without paying for them (a price of 0 is a
 * configuration the contract offers); the money tests set their prices themselves.
 */
export const FREE_TOKENS: Env = { TOKEN_PRICE_1H: '0', TOKEN_PRICE_12H: '0', TOKEN_PRICE_24H: '0', TOKEN_PRICE_168H: '0', TOKEN_PRICE_720H: '0' }

/**
 * Tests of other things than devices use one token from several clients (addresses, browsers, a `ws`
 * client beside `fetch`): any number of devices at once. The device tests set DEVICE_LIMIT themselves.
 */
export const ANY_DEVICES: Env = { DEVICE_LIMIT: '0' }

export interface TestClock extends Clock {
  advance(ms: number): void
  set(at: Date | number): void
}

export function testClock(start: number = Date.now()): TestClock {
  let t = start
  return {
    now: () => new Date(t),
    advance: (ms) => void (t += ms),
    set: (at) => void (t = typeof at === 'number' ? at : at.getTime()),
  }
}

export interface TestDatabase extends Database {
  url: string | null
  drop(): Promise<void>
}

/** A fresh, migrated database for one test file: its own PostgreSQL database, or its own PGlite. */
export async function testDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.DATABASE_URL
  if (!serverUrl) {
    const template = inject('pgliteTemplate')
    const database = await openDatabase({
      databaseUrl: null,
      dataDir: 'memory://',
      pgliteTemplate: template ? new Blob([readFileSync(template)]) : undefined,
    })
    if (!template) await migrateDatabase(database, null)
    return { ...database, url: null, drop: () => database.close() }
  }
  const name = `zenzefi_test_${randomBytes(6).toString('hex')}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory://', pool: 5 })
  await migrateDatabase(database, url.toString())
  return {
    ...database,
    url: url.toString(),
    async drop() {
      await database.close()
      const admin2 = postgres(serverUrl, { max: 1, onnotice: () => {} })
      await admin2.unsafe(`drop database if exists ${name} with (force)`)
      await admin2.end()
    },
  }
}

export interface TestApp {
  app: App['app']
  /** The account page's app (ACCOUNT_URL), null when the config has none. */
  account: App['account']
  services: App['services']
  gateway: App['gateway']
  deps: Awaited<ReturnType<typeof buildNodeDeps>>
  clock: TestClock
  /** Every log line the app wrote, to check nothing secret is in them. */
  logs: string[]
  request(path: string, init?: RequestInit & { json?: unknown; bearer?: string }): Promise<Response>
  close(): Promise<void>
}

/**
 * The real app with the real Node wiring (worker-pool bcrypt, tiered cache,
 * Redis when REDIS_URL is set) on a test database. bcrypt runs at cost 4 here
 * for speed except where a test asks for the production cost.
 */
export async function startApp(opts: {
  database: TestDatabase
  env?: Env
  clock?: TestClock
  redisUrl?: string | null
  /** Use this token cache (e.g. one over another runtime's shared store) instead of the Node wiring's; the app closes it. */
  cache?: TokenCache
}): Promise<TestApp> {
  const redisUrl = opts.cache ? null : opts.redisUrl === undefined ? process.env.REDIS_URL : opts.redisUrl
  const config = loadConfig(
    {
      NODE_ENV: 'test',
      SECRET_KEY: TEST_SECRET,
      BCRYPT_ROUNDS: '4',
      ZENZEFI_TARGET_URL: 'http://127.0.0.1:9',
      // Limit counters of this test file only: files (and earlier runs) share one Redis and one client address.
      RATE_LIMIT_NAMESPACE: TEST_FILE_NAMESPACE,
      DATABASE_URL: opts.database.url ?? undefined,
      REDIS_URL: redisUrl ?? undefined,
      ...FREE_TOKENS,
      ...ANY_DEVICES,
      ...opts.env,
    },
    { version: '9.9.9-test' },
  )
  recordSecret(config.secretKey, 'SECRET_KEY')
  const logs: string[] = []
  // Also recorded for the secret scan (log-scan.setup.ts), which fails the file if an issued secret is in any line.
  const log = createLogger((line) => {
    logs.push(line)
    recordLogLine(line)
  }, 'debug')
  const deps = await buildNodeDeps(config, log, { database: opts.database })
  if (opts.cache) {
    const own = deps.close
    const given = opts.cache
    deps.cache = given
    deps.close = async () => {
      await own()
      await given.close()
    }
  }
  const clock = opts.clock ?? testClock()
  deps.clock = clock
  const { app, account, services, gateway } = createApp(deps)
  return {
    app,
    account,
    services,
    gateway,
    deps,
    clock,
    logs,
    request(path, init = {}) {
      const { json, bearer, ...rest } = init
      const headers = new Headers(rest.headers)
      if (json !== undefined) headers.set('content-type', 'application/json')
      if (bearer) headers.set('authorization', `Bearer ${bearer}`)
      return Promise.resolve(app.request(`http://localhost${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body }))
    },
    close: () => deps.close(),
  }
}

let seq = 0
/** Distinct, valid account details per call. */
export function newAccount(overrides: Partial<{ email: string; username: string; password: string; full_name: string }> = {}) {
  const n = `${Date.now().toString(36)}${(seq++).toString(36)}${randomBytes(2).toString('hex')}`
  return { email: `user${n}@example.com`, username: `user_${n}`, password: 'correct horse battery', ...overrides }
}

/** Registers and logs in through the HTTP API; returns the user and a JWT. */
export async function signUp(t: TestApp, overrides: Parameters<typeof newAccount>[0] = {}) {
  const account = newAccount(overrides)
  recordSecret(account.password, 'password')
  const reg = await t.request('/api/v1/auth/register', { method: 'POST', json: account })
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${await reg.text()}`)
  const user = (await reg.json()) as { id: string; email: string; username: string }
  const login = await t.request('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: account.password } })
  const { access_token } = (await login.json()) as { access_token: string }
  recordSecret(access_token, 'JWT')
  return { account, user, jwt: access_token }
}

export async function purchase(t: TestApp, jwt: string, hours = 24) {
  const res = await t.request('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: hours }, bearer: jwt })
  if (res.status !== 201) throw new Error(`purchase failed: ${res.status} ${await res.text()}`)
  const bought = (await res.json()) as {
    id: string
    token: string
    duration_hours: number
    expires_at: string | null
    activated_at: string | null
    is_active: boolean
  }
  recordSecret(bought.token, 'access token (also the cookie value)')
  return bought
}

/** One test file's database and app, made before its tests and dropped after them. */
export function appFixture(env?: Env) {
  const f = {} as { db: TestDatabase; t: TestApp }
  beforeAll(async () => {
    f.db = await testDatabase()
    f.t = await startApp({ database: f.db, env })
  })
  afterAll(async () => {
    await f.t?.close()
    await f.db?.drop()
  })
  return f
}
