// npm run bench:money — what buying access tokens with credits costs through the real HTTP API
// (one wallet, many wallets, with and without an Idempotency-Key), and whether the token check
// on the proxy path stayed as cheap as before credits. Measured; the ledger is then proved.
//
//   BENCH_SECONDS  measured seconds per purchase run (default 10)
//   BENCH_CLIENTS  concurrent clients, one keep-alive connection each (default 16)
//   BENCH_WALLETS  wallets the spread runs buy from (default 100)
//   DATABASE_URL, REDIS_URL  PostgreSQL server for a throwaway database (default: the local server if it
//                  answers, else PGlite in memory) and Redis for the token cache (skipped if unreachable)
//
// The purchases come from a child process (this file again, BENCH_MONEY_ROLE=load) so the clients do not
// share the server's event loop.
import { randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { availableParallelism, loadavg } from 'node:os'
import { sql } from 'drizzle-orm'
import { createApp } from '../src/app'
import type { TokenGrant } from '../src/cache/interface'
import { createRedisStore } from '../src/cache/redis'
import { createTieredCache } from '../src/cache/tiered'
import { loadConfig } from '../src/config'
import { createTokenCipher, hashAccessToken } from '../src/crypto/access-token'
import { queryRows } from '../src/db/client'
import { createLogger, type Logger } from '../src/logger'
import { formatMinor } from '../src/money/znc'
import { buildNodeDeps, nodeSha256 } from '../src/runtime/node/deps'
import { createNodeServer } from '../src/runtime/node/server'
import { adjustIn } from '../src/services/adjustments'
import { systemClock } from '../src/services/clock'
import { balanceOf, checkLedger, moneyTransaction } from '../src/services/ledger'
import { createTokenService } from '../src/services/tokens'
import { cpuMs, forkTs, stopChild, type TsChild } from './lib/children'
import { machineLine } from './lib/machine'
import { runMain } from './lib/run-main'
import { DEFAULT_REDIS_URL, openBenchDatabase, redisReachable } from './lib/services'
import { elapsedUs, measureInterleaved, nowNs, type Summary, summarize } from './lib/stats'
import { type Cell, fmt, printTable } from './lib/table'

const ROLE_ENV = 'BENCH_MONEY_ROLE'
const SECONDS = Number(process.env.BENCH_SECONDS || 10)
const CLIENTS = Number(process.env.BENCH_CLIENTS || 16)
const WALLETS = Number(process.env.BENCH_WALLETS || 100)
const WARMUP_SECONDS = 1
const DURATION_HOURS = 24
const PRICE_24H = '18.00'
/** What each wallet is given before the runs: far more than any run can spend. */
const CREDIT_MINOR = 100_000_000
const BCRYPT_ROUNDS = 4
const SETUP_CONCURRENCY = 8
const N_LOCAL = 20_000
const N_REMOTE = 5_000
const ROUNDS = 5
const PURCHASE_PATH = '/api/v1/tokens/purchase'

/** `npm run bench:tokens` figures in the README (2026-11-29, before credits), p50 / p99 µs. */
const BEFORE_CREDITS = { local: '1.7 / 9.3', redis: '130.6 / 388.5', postgres: '146.0 / 652.1' }

// ── the load client (child process) ──

interface PurchaseJob {
  kind: 'purchases'
  url: string
  /** one JWT per wallet; request k goes to wallet k mod bearers.length */
  bearers: string[]
  clients: number
  seconds: number
  idempotency: boolean
}

interface PurchaseResult {
  elapsedS: number
  /** microseconds, every answer (also those finishing after the deadline) */
  latency: Summary
  statuses: Record<string, number>
  /** 201 answers per bearer, for checking each wallet's balance afterwards */
  bought: number[]
  /** 201 answers whose body was not a 24 h token for 18.00 ZNC */
  malformed: number
  firstRefusal: string | null
}

function send(agent: http.Agent, url: URL, headers: http.OutgoingHttpHeaders, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, hostname: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** `clients` closed loops, each on its own keep-alive connection, buying until the deadline. */
async function runPurchases(job: PurchaseJob): Promise<PurchaseResult> {
  const url = new URL(job.url)
  const body = JSON.stringify({ duration_hours: DURATION_HOURS })
  const headersOf = job.bearers.map((b) => ({
    authorization: `Bearer ${b}`,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  }))
  const bought = job.bearers.map(() => 0)
  const statuses: Record<string, number> = {}
  const samples: number[] = []
  const agents: http.Agent[] = []
  let malformed = 0
  let firstRefusal: string | null = null
  let next = 0
  const deadline = Date.now() + job.seconds * 1000
  const loop = async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    agents.push(agent)
    while (Date.now() < deadline) {
      const k = next++ % job.bearers.length
      const headers = job.idempotency ? { ...headersOf[k], 'idempotency-key': randomUUID() } : headersOf[k]!
      const t0 = nowNs()
      const res = await send(agent, url, headers, body).catch((err: Error) => ({ status: 0, text: err.message }))
      samples.push(elapsedUs(t0))
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      if (res.status !== 201) {
        firstRefusal ??= `${res.status} ${res.text.slice(0, 300)}`
        continue
      }
      bought[k]!++
      const out = JSON.parse(res.text) as { token?: unknown; cost_znc?: unknown; duration_hours?: unknown }
      if (typeof out.token !== 'string' || out.cost_znc !== PRICE_24H || out.duration_hours !== DURATION_HOURS) malformed++
    }
  }
  const started = nowNs()
  await Promise.all(Array.from({ length: job.clients }, loop))
  const elapsedS = elapsedUs(started) / 1e6
  for (const a of agents) a.destroy()
  return { elapsedS, latency: summarize(samples, elapsedS), statuses, bought, malformed, firstRefusal }
}

function loadClient() {
  process.on('message', (msg: PurchaseJob & { id: number }) => {
    runPurchases(msg).then(
      (result) => process.send!({ id: msg.id, ok: true, result }),
      (err: Error) => process.send!({ id: msg.id, ok: false, error: err.stack ?? String(err) }),
    )
  })
  process.on('SIGTERM', () => process.exit(0))
  process.on('disconnect', () => process.exit(0))
  process.send!({ ready: true })
}

// ── the bench ──

// Nothing the app logs below warn reaches the terminal; warnings are shown after the tables.
const warnings: string[] = []
const quietLog: Logger = createLogger((line) => warnings.push(line), 'warn')

const fail = (message: string): never => {
  throw new Error(message)
}

const mustGrant = (g: unknown) => {
  if (!g || (g as TokenGrant).expiresAt === null) fail('token check did not return an activated grant')
}

async function inBatches<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!)
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker))
  return out
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> }
}

interface Customer {
  id: string
  jwt: string
}

/** register → login over HTTP, the way a customer would. */
async function signUp(base: string): Promise<Customer> {
  const id = randomBytes(5).toString('hex')
  const account = { email: `bench-${id}@example.com`, username: `bench_${id}`, password: 'correct horse battery staple' }
  const reg = await postJson(`${base}/api/v1/auth/register`, account)
  if (reg.status !== 201) fail(`register failed: ${reg.status} ${JSON.stringify(reg.json)}`)
  const login = await postJson(`${base}/api/v1/auth/login`, { email: account.email, password: account.password })
  if (login.status !== 200) fail(`login failed: ${login.status} ${JSON.stringify(login.json)}`)
  return { id: String(reg.json.id), jwt: String(login.json.access_token) }
}

async function main() {
  const cleanup: Array<() => Promise<unknown>> = []
  const runCleanup = async () => {
    for (const fn of cleanup.reverse()) await fn().catch((err) => console.error('cleanup failed:', err))
  }
  const benchStarted = nowNs()
  const startLoad = loadavg()[0]!
  const problems: string[] = []
  try {
    const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL
    const redisUp = await redisReachable(redisUrl)
    const database = await openBenchDatabase()
    cleanup.push(() => database.drop())
    const onPglite = database.kind === 'pglite'

    console.log('Zenzefi credits bench')
    console.log(machineLine())
    console.log(`  database: ${database.label}`)
    console.log(`  load    : ${fmt(startLoad, 2)} (1-min load average when the bench started)`)
    console.log(`  redis   : ${redisUp ? `${redisUrl} (node-redis, RESP3)` : `not reachable at ${redisUrl} — token cache in process only, Redis row skipped`}`)
    if (onPglite) {
      console.log('  note    : PGlite is one embedded connection: every purchase waits for the one before it, so (a) and (b) say')
      console.log('            little about row locks. Set DATABASE_URL to a PostgreSQL server for the real figures.')
    }

    // ── the real Node server (front door + Hono app), in process, with a price and no purchase limits ──
    const config = loadConfig(
      {
        NODE_ENV: 'development', // BCRYPT_ROUNDS=4 is refused in production
        SECRET_KEY: randomBytes(32).toString('base64url'),
        BCRYPT_ROUNDS: String(BCRYPT_ROUNDS),
        DATABASE_URL: database.url ?? undefined,
        REDIS_URL: redisUp ? redisUrl : undefined,
        ZENZEFI_TARGET_URL: 'http://127.0.0.1:9',
        HOST: '127.0.0.1',
        PORT: '0',
        PAYMENT_PROVIDER: 'none',
        TOKEN_PRICE_24H: PRICE_24H,
        PURCHASE_RATE_PER_ACCOUNT: '0',
        PURCHASE_RATE_PER_ADDRESS: '0',
        // Only for signing up the bench's customers from one address; the purchase path never meets these.
        REGISTER_RATE_PER_ADDRESS: '0',
        LOGIN_RATE_PER_ADDRESS: '0',
      },
      { version: 'bench' },
    )
    const price = config.tokenPrices[DURATION_HOURS] ?? 0
    if (price !== 1800) fail(`expected a 24 h price of 1800 minor units, got ${price}`)
    const deps = await buildNodeDeps(config, quietLog, { database })
    cleanup.push(() => deps.close())
    const built = createApp(deps)
    const { services } = built
    const server = createNodeServer(deps, built)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        }),
    )
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    const load: TsChild<PurchaseJob> = await forkTs<object, PurchaseJob>('bench/money.ts', { env: { [ROLE_ENV]: 'load' } })
    cleanup.push(() => stopChild(load.child))

    // ── customers and their credits: one wallet for (a), WALLETS for (b) and (c) ──
    const setupStarted = nowNs()
    const customers = await inBatches(
      Array.from({ length: WALLETS + 1 }, () => 0),
      SETUP_CONCURRENCY,
      () => signUp(base),
    )
    await inBatches(customers, SETUP_CONCURRENCY, (c) =>
      moneyTransaction(database.db, (tx) =>
        adjustIn(tx, { userId: c.id, amountMinor: CREDIT_MINOR, reason: 'Bench credits', actorId: null, reference: `bench:${randomUUID()}` }),
      ),
    )
    const setupS = elapsedUs(setupStarted) / 1e6
    const solo = customers[0]!
    const spread = customers.slice(1)
    const bought = new Map<string, number>(customers.map((c) => [c.id, 0]))

    const run = async (who: Customer[], seconds: number, idempotency: boolean) => {
      const r = await load.request<PurchaseResult>(
        { kind: 'purchases', url: base + PURCHASE_PATH, bearers: who.map((c) => c.jwt), clients: CLIENTS, seconds, idempotency },
        (seconds + 60) * 1000,
      )
      for (const [i, n] of r.bought.entries()) bought.set(who[i]!.id, (bought.get(who[i]!.id) ?? 0) + n)
      return r
    }

    /** CPU ms of each PostgreSQL backend serving the bench database, by pid; null for PGlite or a server on another host. */
    const postgresCpu = async (): Promise<Map<number, number> | null> => {
      if (onPglite) return null
      const pids = await queryRows<{ pid: number }>(
        database.db,
        sql`select pid from pg_stat_activity where datname = current_database() and backend_type = 'client backend'`,
      )
      try {
        return new Map(pids.map((r) => [r.pid, cpuMs(r.pid)]))
      } catch {
        return null
      }
    }

    // Warm-up (not reported): both code paths, across the spread wallets.
    await run(spread, WARMUP_SECONDS, false)
    await run(spread, WARMUP_SECONDS, true)

    const scenarios = [
      { what: '(a) one wallet: every purchase waits for its row lock', who: [solo], idempotency: false },
      { what: `(b) ${WALLETS} wallets, the same clients spread over them`, who: spread, idempotency: false },
      { what: '(c) as (b), a fresh Idempotency-Key on every request', who: spread, idempotency: true },
    ]
    const results: Array<{ what: string; wallets: number; idempotency: boolean; r: PurchaseResult; cpuUs: number; pgCpuUs: number | null; load: number }> = []
    for (const s of scenarios) {
      const pgBefore = await postgresCpu()
      const cpu = process.cpuUsage()
      const r = await run(s.who, SECONDS, s.idempotency)
      const used = process.cpuUsage(cpu)
      const pgAfter = await postgresCpu()
      const pgCpuUs = pgBefore && pgAfter ? [...pgAfter].reduce((t, [pid, ms]) => t + (ms - (pgBefore.get(pid) ?? 0)) * 1000, 0) : null
      results.push({ what: s.what, wallets: s.who.length, idempotency: s.idempotency, r, cpuUs: used.user + used.system, pgCpuUs, load: loadavg()[0]! })
    }

    const non201 = (r: PurchaseResult) => Object.entries(r.statuses).reduce((n, [status, count]) => (status === '201' ? n : n + count), 0)
    const ok = (r: PurchaseResult) => r.statuses['201'] ?? 0
    const noKey = results[1]!.r
    const keyed = results[2]!.r
    const rate = (r: PurchaseResult) => ok(r) / r.elapsedS
    printTable(
      `1. Token purchases through POST ${PURCHASE_PATH} (24 h token, ${PRICE_24H} ZNC), ${CLIENTS} concurrent clients, ${SECONDS} s each`,
      [
        'scenario',
        'wallets',
        'Idempotency-Key',
        'purchases',
        'purchases/s',
        'p50 ms',
        'p99 ms',
        'non-201',
        'app CPU µs/purchase',
        'PostgreSQL CPU µs/purchase',
      ],
      results.map(({ what, wallets, idempotency, r, cpuUs, pgCpuUs }): Cell[] => [
        what,
        wallets,
        idempotency ? 'fresh per request' : 'none',
        ok(r),
        fmt(rate(r), 0),
        fmt(r.latency.p50 / 1000, 2),
        fmt(r.latency.p99 / 1000, 2),
        non201(r),
        ok(r) ? fmt(cpuUs / ok(r), 0) : '–',
        pgCpuUs === null || !ok(r) ? '–' : fmt(pgCpuUs / ok(r), 0),
      ]),
      [
        `Clients: a child process, ${CLIENTS} closed loops on one keep-alive node:http connection each (one request in flight per client).`,
        `(b)/(c): request k goes to wallet k mod ${WALLETS}${WALLETS >= CLIENTS ? `, so the ${CLIENTS} requests in flight are on different wallets` : ''}.`,
        `Server: createNodeServer (the production front door + app) in this process; ${onPglite ? 'PGlite, one connection' : 'postgres.js pool of 10'}; token cache ${redisUp ? '5 s local tier + Redis' : 'in process'}.`,
        `CPU per 201: the app = this process (HTTP server, app, database and Redis clients), process.cpuUsage(); PostgreSQL = its backends for the bench database, /proc (WAL writer etc. not in it).`,
        `Load average (1 min) after each run: ${results.map((x) => fmt(x.load, 2)).join(', ')} on ${availableParallelism()} cores; well above what the bench itself runs (server, clients, PostgreSQL: about 2–3), other work shared the machine.`,
        `Latency: from sending the request to the last byte of the answer, every answer; purchases/s = 201 answers / wall time until the last one.`,
        `Idempotency-Key, (c) against (b): ${fmt(rate(keyed) / rate(noKey), 2)}× the purchases/s, p50 ${fmt(keyed.latency.p50 / noKey.latency.p50, 2)}× (the key row is written and the answer encrypted in the purchase's transaction).`,
        `Setup: ${customers.length} customers signed up over HTTP and each given ${formatMinor(CREDIT_MINOR)} ZNC by adjustIn in ${fmt(setupS, 1)} s; ${WARMUP_SECONDS} s warm-up without and ${WARMUP_SECONDS} s with keys before the runs.`,
      ],
    )
    for (const { what, r } of results) {
      if (non201(r) > 0) problems.push(`${what}: ${non201(r)} non-201 answer(s) ${JSON.stringify(r.statuses)}; first: ${r.firstRefusal}`)
      if (r.malformed > 0) problems.push(`${what}: ${r.malformed} 201 answer(s) without a 24 h token at ${PRICE_24H} ZNC`)
    }

    // ── every 201 is one debit: each wallet's balance is what it was given minus its purchases ──
    let walletsOff = 0
    for (const c of customers) {
      const expected = CREDIT_MINOR - price * (bought.get(c.id) ?? 0)
      const actual = await balanceOf(database.db, c.id)
      if (actual !== expected) {
        walletsOff++
        if (walletsOff <= 5) problems.push(`wallet of ${c.id}: balance ${formatMinor(actual)} ZNC, expected ${formatMinor(expected)} ZNC`)
      }
    }
    const totalBought = [...bought.values()].reduce((a, b) => a + b, 0)
    const [tokenRows] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from access_tokens`)
    if (tokenRows?.n !== totalBought) problems.push(`${tokenRows?.n} tokens stored, ${totalBought} purchases answered 201`)

    // ── 2. the token check on the proxy path, on a priced, activated token ──
    const token = (await services.tokens.purchase(solo.id, DURATION_HOURS)).token.token ?? fail('purchase returned no token')
    mustGrant(await services.tokens.validateAndActivate(token)) // activates it: every check below is on an activated token
    const hash = await hashAccessToken(token)
    const cipher = await createTokenCipher(config.secretKey)
    const serviceWith = (cache: Awaited<ReturnType<typeof createTieredCache>>) =>
      createTokenService({ db: database.db, cache, cipher, clock: systemClock, hashToken: nodeSha256, prices: config.tokenPrices })
    const dbName = onPglite ? 'PGlite' : 'PostgreSQL'
    const rows: Array<{ what: string; tier: string; before: string; n: number; fn: () => Promise<unknown>; check?: (r: unknown) => void }> = [
      {
        what: 'services.tokens.validateAndActivate',
        tier: `in-process hit (the app's own cache: 5 s local tier${redisUp ? ' + Redis' : ''})`,
        before: BEFORE_CREDITS.local,
        n: N_LOCAL,
        fn: () => services.tokens.validateAndActivate(token),
        check: mustGrant,
      },
    ]
    if (redisUp) {
      // Local tier off: MemoryLru.set ignores a TTL of 0, so every get goes to Redis.
      const redisCache = await createTieredCache(await createRedisStore(redisUrl), quietLog, { localTtlMs: 0 })
      cleanup.push(() => redisCache.close())
      const redisTokens = serviceWith(redisCache)
      rows.push({
        what: 'validateAndActivate',
        tier: 'Redis hit (local tier off)',
        before: BEFORE_CREDITS.redis,
        n: N_REMOTE,
        fn: () => redisTokens.validateAndActivate(token),
        check: mustGrant,
      })
    }
    // Cold: a cache that never holds anything, so every check is the prepared users ⋈ access_tokens join.
    const coldCache = await createTieredCache(null, quietLog, { localTtlMs: 0 })
    cleanup.push(() => coldCache.close())
    const coldTokens = serviceWith(coldCache)
    rows.push({
      what: 'validateAndActivate',
      tier: `cache cold: ${dbName} (users ⋈ access_tokens)`,
      before: onPglite ? '–' : BEFORE_CREDITS.postgres,
      n: N_REMOTE,
      fn: () => coldTokens.validateAndActivate(token),
      check: mustGrant,
    })
    rows.push({ what: 'select 1 (bare driver)', tier: 'floor: one database round trip', before: '–', n: N_REMOTE, fn: () => database.selectOne() })
    const summaries = await measureInterleaved(
      rows.map((r) => ({ n: r.n, fn: r.fn, check: r.check })),
      ROUNDS,
    )
    printTable(
      `2. Token check on a priced, activated token, one call at a time (µs), after ${fmt(totalBought, 0)} purchases`,
      ['operation', 'answered by', 'n', 'p50 µs', 'p99 µs', 'mean µs', 'ops/s', 'README before credits p50 / p99'],
      rows.map((r, i): Cell[] => {
        const s = summaries[i]!
        return [r.what, r.tier, s.n, fmt(s.p50), fmt(s.p99), fmt(s.mean), fmt(s.perSec, 0), r.before]
      }),
      [
        `Rows take turns in ${ROUNDS} rounds (n/${ROUNDS} calls each), after n/10 warm-up calls, as in bench:tokens.`,
        'The check reads the cache, then users ⋈ access_tokens on a miss: no ledger table is on the proxy path.',
        `Last column: the README's bench:tokens figures (PostgreSQL 15, Redis 7, 2026-11-29) from before credits, for comparison.`,
      ],
    )
    if (redisUp) await services.tokens.forget(hash) // leave no grant behind in the shared Redis

    // ── the ledger's own proof ──
    const checkStarted = nowNs()
    const violations = await checkLedger(database.db)
    const checkMs = elapsedUs(checkStarted) / 1000
    const [counts] = await queryRows<{ transactions: number; entries: number; keys: number }>(
      database.db,
      sql`select (select count(*) from ledger_transactions)::int as transactions, (select count(*) from ledger_entries)::int as entries,
                 (select count(*) from idempotency_keys)::int as keys`,
    )
    console.log(
      `\nLedger: ${fmt(counts?.transactions ?? 0, 0)} transactions, ${fmt(counts?.entries ?? 0, 0)} entries, ${fmt(counts?.keys ?? 0, 0)} idempotency keys; ` +
        `${customers.length - walletsOff}/${customers.length} wallets hold exactly their credits minus ${PRICE_24H} ZNC per 201.`,
    )
    if (violations.length === 0) console.log(`checkLedger: every invariant holds (${fmt(checkMs, 0)} ms).`)
    else {
      console.log(`checkLedger: ${violations.length} VIOLATION(S):`)
      for (const v of violations.slice(0, 20)) console.log(`  ${v.rule}: ${v.detail}`)
      problems.push(`checkLedger found ${violations.length} violation(s)`)
    }
  } finally {
    await runCleanup()
    if (warnings.length) {
      console.log('\nApp warnings during the run:')
      for (const w of warnings) console.log(`  ${w}`)
    }
    console.log(`\nTotal bench time ${fmt(elapsedUs(benchStarted) / 1e6)} s`)
    if (problems.length) {
      console.error('\nFAILED:')
      for (const p of problems) console.error(`  ${p}`)
      process.exitCode = 1
    }
  }
}

if (process.env[ROLE_ENV] === 'load') loadClient()
else runMain(main)
