// npm run bench:tokens — what one access-token check costs per cache tier, and whether
// logins (bcrypt cost 12 in the worker pool) slow token checks down. Measured, not asserted.
import { createHash, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { availableParallelism } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { serve } from '@hono/node-server'
import { sql } from 'drizzle-orm'
import { createClient } from 'redis'
import { createApp } from '../src/app'
import type { SharedTokenStore, TokenCache, TokenGrant } from '../src/cache/interface'
import { createRedisStore } from '../src/cache/redis'
import { createTieredCache } from '../src/cache/tiered'
import { loadConfig } from '../src/config'
import { createTokenCipher, hashAccessToken } from '../src/crypto/access-token'
import { createLogger, type Logger } from '../src/logger'
import { buildNodeDeps, nodeSha256 } from '../src/runtime/node/deps'
import { systemClock } from '../src/services/clock'
import { createTokenService } from '../src/services/tokens'
import { machineLine } from './lib/machine'
import { runMain } from './lib/run-main'
import { DEFAULT_REDIS_URL, openBenchDatabase, redisReachable } from './lib/services'
import { type Case, elapsedUs, measureInterleaved, nowNs, type Summary, summarize } from './lib/stats'
import { type Cell, fmt, printTable } from './lib/table'

const N_LOCAL = 20_000
const N_REMOTE = 5_000
const ROUNDS = 5
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS || 10)
const BASELINE_SECONDS = Math.max(1, Math.round(LOAD_SECONDS / 2))
const LOGIN_CONCURRENCY = 8
const BCRYPT_ROUNDS = 12
const ELD_RESOLUTION_MS = 1
const GOAL_LOCAL_US = 20
const GOAL_REDIS_P99_US = 500

// Nothing the app logs below warn reaches the terminal; warnings are shown after the tables.
const warnings: string[] = []
const quietLog: Logger = createLogger((line) => warnings.push(line), 'warn')

/** Counts what the shared store answers, so each row can show which tier actually served it. */
function counted(store: SharedTokenStore) {
  const counts = { gets: 0, hits: 0 }
  const wrapped: SharedTokenStore = {
    ...store,
    get: (hash) =>
      store.get(hash).then((g) => {
        counts.gets++
        if (g) counts.hits++
        return g
      }),
  }
  return { store: wrapped, counts }
}

const fail = (message: string): never => {
  throw new Error(message)
}

const mustGrant = (g: unknown) => {
  if (!g || (g as TokenGrant).expiresAt === null) fail('token check did not return an activated grant')
}

const verdict = (value: number, goal: number) => (value < goal ? 'met' : 'MISSED')

async function main() {
  const cleanup: Array<() => Promise<unknown>> = []
  const runCleanup = async () => {
    for (const fn of cleanup.reverse()) await fn().catch((err) => console.error('cleanup failed:', err))
  }
  const benchStarted = nowNs()
  try {
    const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL
    const redisUp = await redisReachable(redisUrl)
    const database = await openBenchDatabase()
    cleanup.push(() => database.drop())

    console.log('Zenzefi token-check bench')
    console.log(machineLine())
    console.log(`  database: ${database.label}`)
    console.log(`  redis   : ${redisUp ? `${redisUrl} (node-redis, RESP3)` : `not reachable at ${redisUrl} — Redis rows skipped`}`)

    // ── the real app on a real HTTP server (also used to create the account and token) ──
    const config = loadConfig(
      {
        NODE_ENV: 'production',
        SECRET_KEY: randomBytes(32).toString('base64url'),
        BCRYPT_ROUNDS: String(BCRYPT_ROUNDS),
        DATABASE_URL: database.url ?? undefined,
        REDIS_URL: redisUp ? redisUrl : undefined,
        ZENZEFI_TARGET_URL: 'http://127.0.0.1:9',
        HOST: '127.0.0.1',
        PORT: '0',
        // The token checks are measured, not what a token costs.
        TOKEN_PRICE_720H: '0',
      },
      { version: 'bench' },
    )
    const deps = await buildNodeDeps(config, quietLog, { database })
    cleanup.push(() => deps.close())
    const { app, services } = createApp(deps)
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 })
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve())
          ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
        }),
    )
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const poolSize = Math.max(1, Math.min(4, availableParallelism() - 1)) // createPasswordPool's default

    const account = {
      email: `bench-${randomBytes(4).toString('hex')}@example.com`,
      username: `bench_${randomBytes(4).toString('hex')}`,
      password: 'correct horse battery staple',
    }
    const reg = await fetch(`${base}/api/v1/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(account) })
    if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${await reg.text()}`)
    const user = (await reg.json()) as { id: string }
    const stored = await services.accounts.findByEmail(account.email)
    if (!stored?.hashedPassword.startsWith(`$2b$${BCRYPT_ROUNDS}$`)) throw new Error(`expected a cost-${BCRYPT_ROUNDS} bcrypt hash`)
    const { token } = (await services.tokens.purchase(user.id, 720)).token
    if (!token) throw new Error('purchase returned no token')
    mustGrant(await services.tokens.validateAndActivate(token)) // activates it: every check below is on an activated token
    const hash = await hashAccessToken(token)

    // ── 1. one token check per tier ──
    const cipher = await createTokenCipher(config.secretKey)
    const serviceWith = (cache: TokenCache) => createTokenService({ db: database.db, cache, cipher, clock: systemClock, hashToken: nodeSha256 })
    type Row = { what: string; tier: () => string; bench?: Case; goal?: string; met?: (s: Summary) => string }
    const table: Row[] = []

    table.push({ what: 'sha256(token), WebCrypto (hashAccessToken)', tier: () => 'Workers (default)', bench: { n: N_LOCAL, fn: () => hashAccessToken(token) } })
    table.push({
      what: 'sha256(token), node:crypto createHash',
      tier: () => 'Node (every check)',
      bench: { n: N_LOCAL, fn: async () => createHash('sha256').update(token).digest('hex') },
    })

    // Production wiring (openCache): 5 s local tier in front of Redis (or alone without Redis).
    const sharedForLocal = redisUp ? counted(await createRedisStore(redisUrl)) : null
    const localCache = await createTieredCache(sharedForLocal?.store ?? null, quietLog)
    cleanup.push(() => localCache.close())
    const localTokens = serviceWith(localCache)
    mustGrant(await localTokens.validateAndActivate(token)) // fills the local tier
    const refreshesBefore = sharedForLocal?.counts.gets ?? 0
    table.push({
      what: 'local tier get(hash) alone',
      tier: () => 'MemoryLru via createTieredCache',
      bench: { n: N_LOCAL, fn: async () => localCache.get(hash), check: mustGrant },
    })
    table.push({
      what: 'validateAndActivate',
      tier: () => `in-process hit (${(sharedForLocal?.counts.gets ?? 0) - refreshesBefore} Redis refreshes)`,
      bench: { n: N_LOCAL, fn: () => localTokens.validateAndActivate(token), check: mustGrant },
      goal: `< ${GOAL_LOCAL_US} µs`,
      met: (s) => `p50 ${verdict(s.p50, GOAL_LOCAL_US)}, p99 ${verdict(s.p99, GOAL_LOCAL_US)}`,
    })

    const redisGoal = `p99 < ${GOAL_REDIS_P99_US / 1000} ms`
    if (redisUp) {
      const bare = createClient({ url: redisUrl })
      bare.on('error', () => {})
      await bare.connect()
      cleanup.push(() => bare.close())
      const key = `zenzefi:token:${hash}`
      table.push({
        what: 'redis GET (bare node-redis client)',
        tier: () => 'floor: one Redis round trip',
        bench: { n: N_REMOTE, fn: () => bare.get(key), check: (v) => void (v || fail('grant not in Redis')) },
      })
      // Local tier off: MemoryLru.set ignores a TTL of 0, so every get goes to Redis.
      const shared = counted(await createRedisStore(redisUrl))
      const redisCache = await createTieredCache(shared.store, quietLog, { localTtlMs: 0 })
      cleanup.push(() => redisCache.close())
      const redisTokens = serviceWith(redisCache)
      table.push({
        what: 'validateAndActivate',
        tier: () => `Redis hit (${shared.counts.hits}/${shared.counts.gets} gets hit)`,
        bench: { n: N_REMOTE, fn: () => redisTokens.validateAndActivate(token), check: mustGrant },
        goal: redisGoal,
        met: (s) => `p99 ${verdict(s.p99, GOAL_REDIS_P99_US)}`,
      })
    } else {
      table.push({ what: 'redis GET (bare node-redis client)', tier: () => 'floor: one Redis round trip' })
      table.push({ what: 'validateAndActivate', tier: () => 'Redis hit', goal: redisGoal })
    }

    const dbName = database.kind === 'pglite' ? 'PGlite' : 'Postgres'
    table.push({ what: 'select 1 (bare driver)', tier: () => 'floor: one database round trip', bench: { n: N_REMOTE, fn: () => database.selectOne() } })
    table.push({ what: 'select 1 (drizzle execute)', tier: () => 'floor + drizzle', bench: { n: N_REMOTE, fn: () => database.db.execute(sql`select 1`) } })
    // No cache: a tiered cache with no shared store and a 0 ms local TTL never holds anything.
    const dbTokens = serviceWith(await createTieredCache(null, quietLog, { localTtlMs: 0 }))
    table.push({
      what: 'validateAndActivate',
      tier: () => `${dbName}, no cache (users ⋈ access_tokens)`,
      bench: { n: N_REMOTE, fn: () => dbTokens.validateAndActivate(token), check: mustGrant },
    })

    const measured = table.filter((r) => r.bench)
    const summaries = await measureInterleaved(
      measured.map((r) => r.bench!),
      ROUNDS,
    )
    printTable(
      '1. Token check on an activated token, one call at a time (µs)',
      ['operation', 'answered by', 'n', 'p50 µs', 'p99 µs', 'mean µs', 'ops/s', 'goal', 'goal met?'],
      table.map((r): Cell[] => {
        const s = summaries[measured.indexOf(r)]
        if (!s) return [r.what, r.tier(), '–', '–', '–', '–', '–', r.goal ?? '', 'skipped: no Redis']
        return [r.what, r.tier(), s.n, fmt(s.p50), fmt(s.p99), fmt(s.mean), fmt(s.perSec, 0), r.goal ?? '', r.met?.(s) ?? '']
      }),
      [
        `Rows take turns in ${ROUNDS} rounds (n/${ROUNDS} calls each), after n/10 warm-up calls; ops/s = n / time spent in that row's loop.`,
        'In-process row: production wiring (createTieredCache, 5 s local TTL) in front of Redis when reachable.',
        'Redis row: createTieredCache(createRedisStore(url), log, { localTtlMs: 0 }) — the local tier never stores.',
        `${dbName} row: createTieredCache(null, log, { localTtlMs: 0 }) — a cache that always misses. Nothing added to src/.`,
      ],
    )

    // ── 2. token checks while logins run (bcrypt cost 12 in the worker pool) ──
    const loginBody = JSON.stringify({ email: account.email, password: account.password })
    const phase = async (withLogins: boolean, seconds: number) => {
      const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS })
      let stop = false
      const checkSamples: number[] = []
      const loginSamples: number[] = []
      let loginErrors = 0
      const checkLoop = async () => {
        let i = 0
        while (!stop) {
          const t0 = nowNs()
          const g = await services.tokens.validateAndActivate(token)
          checkSamples.push(elapsedUs(t0))
          if (!g) throw new Error('token check failed under load')
          // WebCrypto digests already yield to the loop; this keeps it fair if that ever changes.
          if (++i % 256 === 0) await nextTurn()
        }
      }
      const loginLoop = async () => {
        while (!stop) {
          const t0 = nowNs()
          const res = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: loginBody })
          await res.arrayBuffer()
          if (stop) break // finished after the window closed: not counted
          if (res.status === 200) loginSamples.push(elapsedUs(t0) / 1000)
          else loginErrors++
        }
      }
      eld.enable()
      const started = nowNs()
      const loops = [checkLoop(), ...(withLogins ? Array.from({ length: LOGIN_CONCURRENCY }, loginLoop) : [])]
      await new Promise((r) => setTimeout(r, seconds * 1000))
      stop = true
      const windowS = elapsedUs(started) / 1e6
      eld.disable()
      await Promise.all(loops) // drains in-flight logins (up to ~concurrency × bcrypt time)
      return {
        checks: summarize(checkSamples, windowS),
        logins: withLogins ? summarize(loginSamples, windowS) : null,
        loginErrors,
        eldP99Ms: Math.max(0, eld.percentile(99) / 1e6 - ELD_RESOLUTION_MS),
        eldMaxMs: Math.max(0, eld.max / 1e6 - ELD_RESOLUTION_MS),
      }
    }

    const soloMs: number[] = []
    for (let i = 0; i < 3; i++) {
      const t0 = nowNs()
      const res = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: loginBody })
      await res.arrayBuffer()
      if (res.status !== 200) fail(`login failed: ${res.status}`)
      soloMs.push(elapsedUs(t0) / 1000)
    }
    const soloLoginMs = summarize(soloMs, 0).p50

    const before = await phase(false, BASELINE_SECONDS)
    const loaded = await phase(true, LOAD_SECONDS)
    const after = await phase(false, BASELINE_SECONDS)
    const loadRow = (name: string, r: Awaited<ReturnType<typeof phase>>): Cell[] => [
      name,
      r.logins ? r.logins.n : '–',
      r.logins ? fmt(r.logins.perSec, 2) : '–',
      r.logins ? fmt(r.logins.p50, 0) : '–',
      r.logins ? fmt(r.logins.p99, 0) : '–',
      fmt(r.checks.perSec, 0),
      fmt(r.checks.p50),
      fmt(r.checks.p99),
      fmt(r.eldP99Ms, 2),
      fmt(r.eldMaxMs, 2),
    ]
    printTable(
      "2. Back-to-back token checks (in-process tier, the app's own token service) without, with, and again without logins",
      ['phase', 'logins', 'logins/s', 'login p50 ms', 'login p99 ms', 'checks/s', 'check p50 µs', 'check p99 µs', 'loop delay p99 ms', 'loop delay max ms'],
      [
        loadRow(`token checks only, ${BASELINE_SECONDS} s before`, before),
        loadRow(`+ logins (concurrency ${LOGIN_CONCURRENCY}), ${LOAD_SECONDS} s`, loaded),
        loadRow(`token checks only, ${BASELINE_SECONDS} s after`, after),
      ],
      [
        `Logins: fetch POST ${base}/api/v1/auth/login from this process, bcrypt cost ${BCRYPT_ROUNDS} verify in the worker pool (${poolSize} worker${poolSize === 1 ? '' : 's'} = min(4, cores − 1)).`,
        `One login alone, idle server: ${fmt(soloLoginMs, 0)} ms (median of 3) → ceiling ≈ ${fmt((poolSize * 1000) / soloLoginMs, 2)} logins/s with ${poolSize} worker(s).`,
        `Logins still in flight when the window closed are not counted; with so few logins, p99 is about the maximum${loaded.loginErrors ? `; ${loaded.loginErrors} login(s) failed` : ''}.`,
        `Token checks: one closed loop on the main thread (saturates it), so checks/s is the capacity left beside the HTTP server.`,
        `Loop delay: monitorEventLoopDelay at ${ELD_RESOLUTION_MS} ms resolution, timer interval subtracted.`,
      ],
    )

    if (redisUp) await localCache.invalidate([hash]) // leave no grant behind in the shared Redis
  } finally {
    await runCleanup()
  }
  if (warnings.length) {
    console.log('\nApp warnings during the run:')
    for (const w of warnings) console.log(`  ${w}`)
  }
  console.log(`\nTotal bench time ${fmt(elapsedUs(benchStarted) / 1e6)} s`)
}

runMain(main)
