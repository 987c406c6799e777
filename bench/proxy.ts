// npm run bench:proxy — what the gateway's proxy path costs next to a bare Node proxy (the
// FLOOR) and to no proxy at all (DIRECT), in one run against the same local HTTPS upstream.
// Every server is its own child process (upstream, floor, the real gateway, the load
// generator), so each one's CPU time can be read from /proc. Measured, not asserted.
//
//   BENCH_SECONDS   measured seconds per load run (default 5)
//   BENCH_FEATURES  1: phase 1 also runs a second gateway with limits, metrics and info logs off ("bare") beside
//                   the first with them on (limits set never to refuse), for the cost of those features
//   BENCH_BARE_WITH JSON of environment for the "bare" gateway on top of its features-off settings, to price one
//                   feature at a time, e.g. '{"LOG_LEVEL":"info"}' (bare with only the access log on)
//   BENCH_SESSIONS  1: phase 1 also runs a gateway with proxy sessions off (PROXY_SESSIONS=off: no device lookup,
//                   no counting) beside the first (sessions on), for the cost of sessions per request
//   BENCH_BODIES    phase-1 resources, e.g. "/1k.json" (default /1k.json,/small,/64k)
//   BENCH_CONNS     phase-1 connection counts (default 32,256)
//   BENCH_REPEAT    phase-1 rounds per cell (default 1): each round runs every path once, in an order rotated
//                   round by round, and the table shows each path's median — for A/B ratios on a noisy machine
//   BENCH_PHASES    which phases to run, e.g. "1,3" (default all: 1,2,3,4,5)
//   BENCH_BIG_BYTES size of the phase-3 download (default 1 GiB)
//   BENCH_CPU_PROF  a directory: run the floor and the gateway with --cpu-prof; profiles land in its floor/ and
//                   gateway/ (one file per thread: the largest is the main thread, the others tsx's loader)
//   BENCH_GATEWAY_LOG  where the gateway's stdout goes: "file" (default, a file in the temp dir), "null" (/dev/null)
//                   or "pipe" (a pipe this process reads and drops, as a container's log driver reads it)
//   DATABASE_URL, REDIS_URL  passed through to the gateway (default: embedded PGlite, in-process cache)
//   BENCH_WORKERS   the gateway's WORKERS (default 1; more needs DATABASE_URL and REDIS_URL)
//   BENCH_UPSTREAM  https (default: Zenzefi-like, TLS hides part of a proxy's own cost) or http (a tunnel end
//                   speaking plain HTTP); the floor and the gateway reach the same upstream the same way
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { join, resolve } from 'node:path'
import {
  type BenchCa,
  cpuMs,
  foreignLoad,
  forkTs,
  freePort,
  makeCa,
  removeTempDir,
  rssMb,
  sampleRss,
  spawnTracked,
  stopChild,
  type TsChild,
  tempDir,
} from './lib/children'
import type { DownloadLoopJob, DownloadLoopResult, HttpLoadJob, HttpLoadResult, LoadJob, PacedResult, WsLoadResult, WsPingResult } from './lib/load-jobs'
import { printRunHeader } from './lib/machine'
import { runMain } from './lib/run-main'
import { startFlags } from './lib/start-command'
import { elapsedUs, nowNs } from './lib/stats'
import { type Cell, fmt, printTable } from './lib/table'

const SECONDS = Number(process.env.BENCH_SECONDS || 5)
const WARMUP_SECONDS = Math.min(2, Math.max(1, SECONDS / 4))
const SETTLE_SECONDS = Math.min(0.5, SECONDS / 10)
const BODIES = (process.env.BENCH_BODIES || '/1k.json,/small,/64k').split(',').map((s) => s.trim())
const FEATURES_AB = process.env.BENCH_FEATURES === '1'
const SESSIONS_AB = process.env.BENCH_SESSIONS === '1'
const FEATURES_ON: NodeJS.ProcessEnv = {
  RATE_LIMITS: 'on',
  PROXY_RATE_PER_SECOND: '1000000',
  PROXY_RATE_BURST: '1000000',
  PROXY_MAX_IN_FLIGHT: '100000',
}
const FEATURES_OFF: NodeJS.ProcessEnv = { RATE_LIMITS: 'off', METRICS_ADDR: 'off', LOG_LEVEL: 'warn', ...JSON.parse(process.env.BENCH_BARE_WITH || '{}') }
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT || 1))
const CONNS = (process.env.BENCH_CONNS || '32,256').split(',').map((s) => Number(s.trim()))
const PHASES = new Set((process.env.BENCH_PHASES || '1,2,3,4,5').split(',').map((s) => s.trim()))
const BIG_BYTES = Number(process.env.BENCH_BIG_BYTES || 1024 * 1024 * 1024)
const PLAIN_UPSTREAM = process.env.BENCH_UPSTREAM === 'http'
const UPSTREAM_SCHEME = PLAIN_UPSTREAM ? 'http' : 'https'
/** Where the gateway's stdout can go, as the run header names it. */
const LOG_SINKS = { file: 'a file', pipe: 'a pipe read by the bench', null: '/dev/null' } as const
const LOG_SINK: keyof typeof LOG_SINKS = (Object.keys(LOG_SINKS) as Array<keyof typeof LOG_SINKS>).find((k) => k === process.env.BENCH_GATEWAY_LOG) ?? 'file'
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : null
const FIXED_RATE = 1000
const FIXED_RATE_CONNECTIONS = 10
const PAGE_CONCURRENCY = 4
const WS_PAYLOAD = 64
const WS_PINGS = Number(process.env.BENCH_WS_PINGS || 2000)
const WS_CLIENTS = 64
const PREFIX = '/api/v1/proxy'

const GOAL = { reqRatio: 0.85, cpuRatio: 1.2, addedP99Ms: 1, downloadRatio: 0.9, rssGrowthMb: 64, wsRatio: 0.9 }

type PathName = 'direct' | 'floor' | 'gateway' | 'bare' | 'nosess'
interface Path {
  name: PathName
  /** HTTP base URL; the resource path is appended */
  base: string
  ws: string
  /** the proxy process measured (null for direct) */
  pid: number | null
  caFile?: string
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? a / b : Number.NaN)
const per = (amount: number, count: number, scale = 1) => (count > 0 ? (amount / count) * scale : Number.NaN)
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const met = (ok: boolean) => (ok ? 'met' : 'MISSED')

/** GET with node:http(s), the whole body in memory (for the sanity checks only). */
function getBody(url: string, headers: Record<string, string>, ca?: Buffer): Promise<{ status: number; type: string; body: Buffer }> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = (u.protocol === 'https:' ? https : http).get(u, { headers, agent: false, ca }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

async function postJson(url: string, body: unknown, bearer?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
  })
  return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> }
}

/** register → login → purchase over HTTP, the way a customer would. */
async function buyToken(gatewayUrl: string): Promise<string> {
  const id = randomBytes(4).toString('hex')
  const account = { email: `bench-${id}@example.com`, username: `bench_${id}`, password: 'correct horse battery staple' }
  const reg = await postJson(`${gatewayUrl}/api/v1/auth/register`, account)
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.json)}`)
  const login = await postJson(`${gatewayUrl}/api/v1/auth/login`, { email: account.email, password: account.password })
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.json)}`)
  const bought = await postJson(`${gatewayUrl}/api/v1/tokens/purchase`, { duration_hours: 24 }, String(login.json.access_token))
  if (bought.status !== 201 || typeof bought.json.token !== 'string') throw new Error(`purchase failed: ${bought.status} ${JSON.stringify(bought.json)}`)
  return bought.json.token
}

interface Gateway {
  pid: number
  url: string
  logFile: string | null
  database: string
  cache: string
  stop(): Promise<void>
}

/** `node dist/node/main.mjs` (npm start) with the production entry point's own wiring; stdout+stderr → a log file (or /dev/null). */
async function startGateway(dir: string, upstreamUrl: string, ca: BenchCa, name = 'gateway', extraEnv: NodeJS.ProcessEnv = {}): Promise<Gateway> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const dataDir = join(dir, `${name}-data`)
  mkdirSync(dataDir)
  const logFile = LOG_SINK === 'file' ? join(dir, `${name}.log`) : null
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'development',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ZENZEFI_TARGET_URL: upstreamUrl,
    ZENZEFI_CA_FILE: ca.caFile,
    BCRYPT_ROUNDS: '4',
    LOG_LEVEL: 'info',
    // The WebSocket phase opens 64 sockets on one token: a load test, not a customer.
    WS_MAX_PER_TOKEN: '1000',
    RATE_LIMITS: 'off',
    // Tokens free of charge: the proxy path is what is measured.
    TOKEN_PRICE_24H: '0',
    TOKEN_PRICE_720H: '0',
    // The bench speaks to 127.0.0.1, which in development is the account page's origin.
    ACCOUNT_URL: 'off',
    // One process unless asked (BENCH_WORKERS): on PostgreSQL + Redis the default would be one per core.
    WORKERS: process.env.BENCH_WORKERS || '1',
    ...extraEnv,
  }
  for (const name of ['ZENZEFI_TLS_INSECURE', 'BACKEND_URL', 'ZENZEFI_TIMEOUT_SECONDS']) delete env[name]
  const fd = openSync(logFile ?? '/dev/null', 'a')
  const prof = CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(CPU_PROF_DIR, name)}`] : []
  // The production entry as `npm start` runs it: built to plain JavaScript first.
  execFileSync(process.execPath, ['scripts/build-node.mjs'], { stdio: 'inherit' })
  const child = spawnTracked(process.execPath, [...prof, ...startFlags(), 'dist/node/main.mjs'], { env, stdoutFd: LOG_SINK === 'pipe' ? 'pipe' : fd })
  closeSync(fd)
  const tail = () => (logFile ? `:\n${readFileSync(logFile, 'utf8').slice(-3000)}` : ` (BENCH_GATEWAY_LOG=${LOG_SINK}: no log to show)`)
  const deadline = Date.now() + 120_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`gateway exited (${child.exitCode ?? child.signalCode}) at start${tail()}`)
    let ready: { database: string; cache: string } | null = null
    // The 'listening' line is info: a gateway logging only warnings is asked over HTTP instead.
    if (logFile && env.LOG_LEVEL !== 'warn') {
      const line = readFileSync(logFile, 'utf8')
        .split('\n')
        .find((l) => l.includes('"msg":"listening"'))
      if (line) ready = JSON.parse(line) as { database: string; cache: string }
    } else if (
      await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      )
    ) {
      // No log to read the wiring from: it follows from the environment.
      ready = { database: env.DATABASE_URL ? 'postgres' : 'pglite', cache: env.REDIS_URL ? 'redis' : 'memory' }
    }
    if (ready) return { pid: child.pid!, url, logFile, database: ready.database, cache: ready.cache, stop: () => stopChild(child, 15_000) }
    if (Date.now() > deadline) throw new Error(`gateway not listening after 120 s${tail()}`)
    await sleep(100)
  }
}

/** One GET of `url` from this process, the body counted and discarded. */
function download(url: string, headers: Record<string, string>): Promise<{ bytes: number; seconds: number; status: number }> {
  const t0 = nowNs()
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => (bytes += c.length))
      res.on('end', () => resolve({ bytes, seconds: elapsedUs(t0) / 1e6, status: res.statusCode ?? 0 }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

async function main() {
  const benchStarted = nowNs()
  const dir = tempDir('zenzefi-bench-proxy-')
  const stops: Array<() => Promise<unknown>> = []
  try {
    if (CPU_PROF_DIR) mkdirSync(CPU_PROF_DIR, { recursive: true })
    const ca = makeCa(dir)
    const caPem = readFileSync(ca.caFile)

    // ── the three paths ──
    const upstream = await forkTs<{ port: number; smallBytes: number; pageBytes: number; pageRows: number }, { kind: 'stats' }>(
      'bench/lib/upstream-server.ts',
      {
        env: PLAIN_UPSTREAM ? {} : { BENCH_TLS_KEY: ca.keyFile, BENCH_TLS_CERT: ca.certFile },
      },
    )
    stops.push(() => stopChild(upstream.child))
    const upstreamUrl = `${UPSTREAM_SCHEME}://127.0.0.1:${upstream.info.port}`
    const floorProf = CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(CPU_PROF_DIR, 'floor')}`] : []
    const floor = await forkTs<{ port: number }>('bench/lib/floor-proxy.ts', {
      env: { BENCH_UPSTREAM_URL: upstreamUrl, BENCH_CA_FILE: ca.caFile },
      execArgv: floorProf,
    })
    stops.push(() => stopChild(floor.child))
    // With BENCH_FEATURES=1: the same gateway with its limits and metrics on (limits that never refuse, so the
    // machinery runs on every request) beside one with them off and only warnings logged, in the same run.
    const gw = await startGateway(dir, upstreamUrl, ca, 'gateway', FEATURES_AB ? { ...FEATURES_ON, METRICS_ADDR: `127.0.0.1:${await freePort()}` } : {})
    stops.push(() => gw.stop())
    const load: TsChild<LoadJob> = await forkTs<object, LoadJob>('bench/lib/load-client.ts')
    stops.push(() => stopChild(load.child))

    const token = await buyToken(gw.url)
    const bare = FEATURES_AB ? await startGateway(dir, upstreamUrl, ca, 'bare', FEATURES_OFF) : null
    if (bare) stops.push(() => bare.stop())
    const bareToken = bare ? await buyToken(bare.url) : null
    const headers = { 'x-access-token': token, accept: '*/*' }
    const paths: Record<'direct' | 'floor' | 'gateway', Path> = {
      direct: {
        name: 'direct',
        base: upstreamUrl,
        ws: `${PLAIN_UPSTREAM ? 'ws' : 'wss'}://127.0.0.1:${upstream.info.port}/ws`,
        pid: null,
        caFile: PLAIN_UPSTREAM ? undefined : ca.caFile,
      },
      floor: { name: 'floor', base: `http://127.0.0.1:${floor.info.port}`, ws: `ws://127.0.0.1:${floor.info.port}/ws`, pid: floor.pid },
      gateway: { name: 'gateway', base: gw.url + PREFIX, ws: `ws://127.0.0.1:${new URL(gw.url).port}${PREFIX}/ws?token=${token}`, pid: gw.pid },
    }
    const all = [paths.direct, paths.floor, paths.gateway]
    // The same gateway as the first, sessions off; the first counts every request into its one session.
    const nosess = SESSIONS_AB ? await startGateway(dir, upstreamUrl, ca, 'nosess', { ...(FEATURES_AB ? FEATURES_ON : {}), PROXY_SESSIONS: 'off' }) : null
    if (nosess) stops.push(() => nosess.stop())
    const nosessToken = nosess ? await buyToken(nosess.url) : null
    const nosessPath: Path | null = nosess ? { name: 'nosess', base: nosess.url + PREFIX, ws: '', pid: nosess.pid } : null
    const bareHeaders = bareToken ? { 'x-access-token': bareToken, accept: '*/*' } : headers
    const barePath: Path | null = bare
      ? { name: 'bare', base: bare.url + PREFIX, ws: `ws://127.0.0.1:${new URL(bare.url).port}${PREFIX}/ws?token=${bareToken}`, pid: bare.pid }
      : null

    // ── sanity: every path answers, and the gateway really rewrites ──
    const sanity: string[] = []
    for (const resource of ['/small', '/64k', '/page']) {
      const bodies = await Promise.all(all.map((p) => getBody(p.base + resource, headers, p.caFile ? caPem : undefined)))
      bodies.forEach((b, i) => {
        if (b.status !== 200) throw new Error(`${all[i]!.name} ${resource}: HTTP ${b.status} ${b.body.toString().slice(0, 200)}`)
      })
      const [direct, fl, gwb] = bodies as [(typeof bodies)[0], (typeof bodies)[0], (typeof bodies)[0]]
      if (!fl.body.equals(direct.body)) throw new Error(`floor changed ${resource}`)
      const rewrites = gwb.body.toString().split(`${PREFIX}/`).length - 1
      sanity.push(
        `${resource}: ${direct.body.length} B upstream (${direct.type}) → gateway ${gwb.body.length} B, ${rewrites} URL${rewrites === 1 ? '' : 's'} rewritten`,
      )
      if (resource !== '/64k' && rewrites === 0) throw new Error(`gateway did not rewrite ${resource}`)
      // Every gateway measured serves the same three first: a gateway that has taken only one kind of answer runs
      // its one code path ~15-20 us per request faster than one that has served all three (V8 specialises for what it has
      // seen), which would pass for the cost of whatever differs between them.
      for (const [path, h] of [
        [barePath, bareHeaders],
        [nosessPath, nosessToken ? { 'x-access-token': nosessToken, accept: '*/*' } : headers],
      ] as const) {
        if (!path) continue
        const b = await getBody(path.base + resource, h)
        if (b.status !== 200) throw new Error(`${path.name} ${resource}: HTTP ${b.status}`)
      }
    }

    // Before any load, but after a registration, a login and the sanity requests (one HTML page rewritten): not
    // idle. What a server holds doing nothing is bench/idle-rss.ts's (npm run bench:proxy runs it first).
    const idleRss = rssMb(gw.pid)
    printRunHeader('Zenzefi proxy bench')
    console.log(
      `  gateway : node ${startFlags().join(' ')} dist/node/main.mjs (npm start) — RSS ${fmt(idleRss, 0)} MB before the load (after a login and the checks below; idle: bench/idle-rss.ts); database ${gw.database}, cache ${gw.cache}${process.env.DATABASE_URL ? ' (DATABASE_URL)' : ''}${process.env.REDIS_URL ? ' (REDIS_URL)' : ''}; LOG_LEVEL=info, stdout → ${LOG_SINKS[LOG_SINK]}; BCRYPT_ROUNDS=4`,
    )
    console.log(
      `  upstream: ${upstreamUrl} (${PLAIN_UPSTREAM ? 'node:http' : 'node:https, test CA'}, own process); floor: node:http → ${PLAIN_UPSTREAM ? 'http' : 'https'}.Agent({keepAlive}) pipe, own process`,
    )
    console.log(
      `  load    : autocannon ${autocannonVersion()} and node:http/ws clients in their own process; ${SECONDS} s measured per run after ${WARMUP_SECONDS} s warm-up, first ${SETTLE_SECONDS} s of each run left out of req/s and latency`,
    )
    for (const s of sanity) console.log(`  check   : ${s}`)
    if (CPU_PROF_DIR) console.log(`  profiling: --cpu-prof on floor and gateway → ${CPU_PROF_DIR} (figures are slower than usual)`)

    const targets: string[] = []
    const upstreamHandshakes = async () => (await upstream.request<{ tlsConnections: number }>({ kind: 'stats' })).tlsConnections
    const proxyCpu = (p: Path) => (p.pid ? cpuMs(p.pid) : 0)
    /**
     * A timed warm-up, then a few requests per connection counted by number: that run ends with nothing
     * in flight, so the proxy keeps every upstream connection it opened (a timed run's end aborts the
     * requests in flight, and a proxy drops the upstream connection of an aborted request).
     */
    const warmUp = async (job: HttpLoadJob) => {
      await load.request(job)
      await load.request({ kind: 'http', url: job.url, connections: job.connections, seconds: job.seconds, headers: job.headers, amount: job.connections * 4 })
    }
    const ourPids = () => [process.pid, upstream.pid, floor.pid, gw.pid, load.pid, ...(bare ? [bare.pid] : []), ...(nosess ? [nosess.pid] : [])]
    /** A note line: how much of the machine other processes took during the phase. */
    const machineNote = (meter: ReturnType<typeof foreignLoad>) => {
      const pct = meter.stop()
      return `Other processes on this machine used ${fmt(pct, 0)}% of its CPU during this phase${pct > 10 ? ' — DISTURBED: compare ratios within the run, not absolute figures' : ''}.`
    }

    // ── 1. closed-loop throughput ──
    if (PHASES.has('1')) {
      const meter = foreignLoad(ourPids)
      type Row = {
        body: string
        conns: number
        path: Path
        r: HttpLoadResult
        cpuPer1k: number
        cpuPct: number
        upCpuPer1k: number
        othersPct: number
        handshakes: number
      }
      const rows: Row[] = []
      const measured = [...all, ...(barePath ? [barePath] : []), ...(nosessPath ? [nosessPath] : [])]
      // Round r starts at path r: a path that always ran first (or right after the heaviest) would carry that bias.
      const turns = Array.from({ length: REPEAT }, (_, r) => measured.map((_, i) => measured[(i + r) % measured.length]!)).flat()
      for (const body of BODIES) {
        for (const conns of CONNS) {
          const samples: Row[] = []
          for (const p of turns) {
            const job = (seconds: number, settle = 0): HttpLoadJob => ({
              kind: 'http',
              url: p.base + body,
              connections: conns,
              seconds,
              headers: p.name === 'bare' ? bareHeaders : p.name === 'nosess' ? { 'x-access-token': nosessToken!, accept: '*/*' } : headers,
              settleSeconds: settle,
            })
            await warmUp(job(WARMUP_SECONDS))
            const others = foreignLoad(ourPids)
            const h0 = await upstreamHandshakes()
            const c0 = proxyCpu(p)
            const u0 = cpuMs(upstream.pid)
            const t0 = nowNs()
            const r = await load.request<HttpLoadResult>(job(SECONDS, SETTLE_SECONDS))
            const wallMs = elapsedUs(t0) / 1000
            const cpu = proxyCpu(p) - c0
            samples.push({
              body,
              conns,
              path: p,
              r,
              cpuPer1k: p.pid ? per(cpu, r.total, 1000) : Number.NaN,
              cpuPct: p.pid ? (cpu / wallMs) * 100 : Number.NaN,
              upCpuPer1k: per(cpuMs(upstream.pid) - u0, r.total, 1000),
              othersPct: others.stop(),
              handshakes: (await upstreamHandshakes()) - h0,
            })
          }
          for (const p of measured) rows.push(medianRow(samples.filter((x) => x.path === p)))
        }
      }
      /** One path's rounds in a cell as one row: medians of rates, latencies and CPU; sums of counts. */
      function medianRow(of: Row[]): Row {
        const m = (f: (x: Row) => number) => median(of.map(f))
        const sum = (f: (x: Row) => number) => of.reduce((n, x) => n + f(x), 0)
        const first = of[0]!
        return {
          ...first,
          r: {
            ...first.r,
            perSec: m((x) => x.r.perSec),
            latency: { ...first.r.latency, p50: m((x) => x.r.latency.p50), p99: m((x) => x.r.latency.p99) },
            total: sum((x) => x.r.total),
            non2xx: sum((x) => x.r.non2xx),
            errors: sum((x) => x.r.errors),
            timeouts: sum((x) => x.r.timeouts),
          },
          cpuPer1k: m((x) => x.cpuPer1k),
          cpuPct: m((x) => x.cpuPct),
          upCpuPer1k: m((x) => x.upCpuPer1k),
          othersPct: Math.max(...of.map((x) => x.othersPct)),
          handshakes: sum((x) => x.handshakes),
        }
      }
      const floorOf = (row: Row) => rows.find((x) => x.body === row.body && x.conns === row.conns && x.path.name === 'floor')!
      printTable(
        '1. Closed loop, keep-alive: requests/s and latency (ms)',
        [
          'body',
          'conns',
          'path',
          'req/s',
          'p50 ms',
          'p99 ms',
          'proxy CPU ms/1k req',
          'proxy CPU %',
          'upstream CPU ms/1k req',
          'req/s vs floor',
          'CPU/req vs floor',
          'upstream TLS handshakes',
          'errors',
          'others %',
        ],
        rows.map((row): Cell[] => {
          const f = floorOf(row)
          const gwRow = row.path.name === 'gateway'
          return [
            row.body === '/small'
              ? `/small (${upstream.info.smallBytes} B JSON, 5 URLs)`
              : row.body === '/1k.json'
                ? '/1k.json (1024 B JSON, no URL)'
                : '/64k (octet-stream)',
            row.conns,
            row.path.name,
            fmt(row.r.perSec, 0),
            fmt(row.r.latency.p50, 2),
            fmt(row.r.latency.p99, 2),
            fmt(row.cpuPer1k, 0),
            fmt(row.cpuPct, 0),
            fmt(row.upCpuPer1k, 0),
            row.path.name === 'floor' ? '1.00' : fmt(ratio(row.r.perSec, f.r.perSec), 2),
            gwRow ? fmt(ratio(row.cpuPer1k, f.cpuPer1k), 2) : '',
            row.handshakes,
            row.r.non2xx + row.r.errors + row.r.timeouts,
            fmt(row.othersPct, 0),
          ]
        }),
        [
          `autocannon, pipelining 1, ${SECONDS} s per run after a ${WARMUP_SECONDS} s warm-up run of the same path (+ 4 requests per connection, ending with none in flight); the paths take turns per cell${REPEAT > 1 ? `, ${REPEAT} rounds in rotated order, each figure the median of its rounds (errors and handshakes summed, others % the highest)` : ''}.`,
          `req/s and latency: 2xx responses after the first ${SETTLE_SECONDS} s (connection set-up; direct opens a TLS session per connection). Latency is autocannon's per-response time, not its whole-ms histogram.`,
          'proxy CPU: utime+stime of the floor / gateway process over the whole run ÷ all responses; % is of one core. upstream CPU: the upstream process likewise.',
          'upstream TLS handshakes: connections the upstream accepted during the measured run (direct: one per autocannon connection; a proxy with warm keep-alive: ~0).',
          'The gateway path includes token check, header rules, JSON rewriting (/small: 5 URLs; /1k.json: none to find), one log line per request; the floor does none of it.',
          'others %: CPU used by processes outside this bench during the run, as % of the whole machine (0 on a quiet machine).',
          machineNote(meter),
        ],
      )
      for (const body of BODIES) {
        for (const conns of CONNS) {
          const g = rows.find((x) => x.body === body && x.conns === conns && x.path.name === 'gateway')!
          const f = floorOf(g)
          const rr = ratio(g.r.perSec, f.r.perSec)
          const cr = ratio(g.cpuPer1k, f.cpuPer1k)
          targets.push(`req/s ≥ ${GOAL.reqRatio}× floor, ${body} @ ${conns} conns: ${fmt(rr, 3)}× — ${met(rr >= GOAL.reqRatio)}`)
          targets.push(`CPU/request ≤ ${GOAL.cpuRatio}× floor, ${body} @ ${conns} conns: ${fmt(cr, 3)}× — ${met(cr <= GOAL.cpuRatio)}`)
          const b = rows.find((x) => x.body === body && x.conns === conns && x.path.name === 'bare')
          if (b) {
            const fr = ratio(g.r.perSec, b.r.perSec)
            const dp = g.r.latency.p99 - b.r.latency.p99
            targets.push(`limits+metrics+logs on ≥ 0.97× req/s of off, ${body} @ ${conns} conns: ${fmt(fr, 3)}× — ${met(fr >= 0.97)}`)
            targets.push(`…and p99 ≤ +0.2 ms: ${dp >= 0 ? '+' : ''}${fmt(dp, 2)} ms — ${met(dp <= 0.2)}`)
          }
          const n = rows.find((x) => x.body === body && x.conns === conns && x.path.name === 'nosess')
          if (n) {
            const sr = ratio(g.r.perSec, n.r.perSec)
            targets.push(`proxy sessions on ≥ 0.97× req/s of off, ${body} @ ${conns} conns: ${fmt(sr, 3)}× — ${met(sr >= 0.97)}`)
            // CPU per request says the same with less noise on a busy machine.
            const sc = ratio(g.cpuPer1k, n.cpuPer1k)
            targets.push(`…and CPU/request ≤ 1.03× of off: ${fmt(sc, 3)}× — ${met(sc <= 1.03)}`)
          }
        }
      }
    }

    // ── 2. fixed rate: the latency the gateway adds when it is not saturated ──
    if (PHASES.has('2')) {
      const meter = foreignLoad(ourPids)
      type Row = { method: string; path: Path; p50: number; p99: number; perSec: number; errors: number }
      const rows: Row[] = []
      for (const p of all) {
        const url = `${p.base}/small`
        await warmUp({ kind: 'http', url, connections: FIXED_RATE_CONNECTIONS, seconds: WARMUP_SECONDS, headers, overallRate: FIXED_RATE })
        const a = await load.request<HttpLoadResult>({
          kind: 'http',
          url,
          connections: FIXED_RATE_CONNECTIONS,
          seconds: SECONDS,
          headers,
          overallRate: FIXED_RATE,
          settleSeconds: SETTLE_SECONDS,
        })
        rows.push({
          method: `autocannon overallRate ${FIXED_RATE}, ${FIXED_RATE_CONNECTIONS} conns`,
          path: p,
          p50: a.latency.p50,
          p99: a.latency.p99,
          perSec: a.perSec,
          errors: a.non2xx + a.errors + a.timeouts,
        })
        const e = await load.request<PacedResult>({
          kind: 'paced',
          url,
          rate: FIXED_RATE,
          seconds: SECONDS,
          warmupSeconds: WARMUP_SECONDS,
          headers,
          caFile: p.caFile,
        })
        rows.push({
          method: `evenly paced ${FIXED_RATE}/s (1 per ms), node:http, ≤ 32 conns`,
          path: p,
          p50: e.latency.p50,
          p99: e.latency.p99,
          perSec: e.perSec,
          errors: e.failed,
        })
      }
      const directOf = (row: Row) => rows.find((x) => x.method === row.method && x.path.name === 'direct')!
      const ordered = [...rows].sort((x, y) => (x.method < y.method ? -1 : x.method > y.method ? 1 : 0))
      printTable(
        `2. Fixed rate ${FIXED_RATE} req/s, /small: latency (ms)`,
        ['generator', 'path', 'req/s', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms', 'errors'],
        ordered.map((row): Cell[] => {
          const d = directOf(row)
          const direct = row.path.name === 'direct'
          return [
            row.method,
            row.path.name,
            fmt(row.perSec, 0),
            fmt(row.p50, 3),
            fmt(row.p99, 3),
            direct ? '' : fmt(row.p50 - d.p50, 3),
            direct ? '' : fmt(row.p99 - d.p99, 3),
            row.errors,
          ]
        }),
        [
          `${SECONDS} s each after a ${WARMUP_SECONDS} s warm-up; added = path − direct.`,
          `autocannon paces per connection per second: each of the ${FIXED_RATE_CONNECTIONS} connections sends its ${FIXED_RATE / FIXED_RATE_CONNECTIONS} requests back to back at the top of every second, then idles —`,
          `  so its figures are latency in bursts at concurrency ${FIXED_RATE_CONNECTIONS}. The evenly paced row (open loop, one request started every 1 ms, time from send to last byte) is the steady 1,000 req/s case.`,
          machineNote(meter),
        ],
      )
      for (const method of new Set(rows.map((r) => r.method))) {
        const g = rows.find((r) => r.method === method && r.path.name === 'gateway')!
        const added = g.p99 - directOf(g).p99
        targets.push(
          `added p99 ≤ ${GOAL.addedP99Ms} ms at ${FIXED_RATE} req/s (${method.split(',')[0]}): ${fmt(added, 3)} ms — ${met(added <= GOAL.addedP99Ms)}`,
        )
      }
    }

    // ── 3. one big download: streaming throughput and memory ──
    if (PHASES.has('3')) {
      const meter = foreignLoad(ourPids)
      type Row = { path: Path; bytes: number; seconds: number; mbps: number; cpuMs: number; rss: { startMb: number; peakMb: number; growthMb: number } }
      const rows: Row[] = []
      for (const p of [paths.floor, paths.gateway]) {
        const warm = await download(`${p.base}/big?bytes=${64 * 1024 * 1024}`, headers)
        if (warm.status !== 200) throw new Error(`${p.name} /big warm-up: HTTP ${warm.status}`)
        await sleep(500)
        const rss = sampleRss(p.pid!, 50)
        const c0 = proxyCpu(p)
        const d = await download(`${p.base}/big?bytes=${BIG_BYTES}`, headers)
        const cpu = proxyCpu(p) - c0
        const mem = rss.stop()
        if (d.status !== 200 || d.bytes !== BIG_BYTES) throw new Error(`${p.name} /big: HTTP ${d.status}, ${d.bytes} of ${BIG_BYTES} bytes`)
        rows.push({ path: p, bytes: d.bytes, seconds: d.seconds, mbps: d.bytes / 1e6 / d.seconds, cpuMs: cpu, rss: mem })
      }
      const f = rows[0]!
      printTable(
        `3. One ${fmt(BIG_BYTES / 2 ** 20, 0)} MiB download (/big, application/octet-stream), consumed by a node:http GET in the bench process`,
        ['path', 'bytes', 'seconds', 'MB/s', 'vs floor', 'proxy CPU s', 'proxy RSS at start MB', 'peak MB', 'growth MB'],
        rows.map((r): Cell[] => [
          r.path.name,
          r.bytes.toLocaleString('en-US'),
          fmt(r.seconds, 2),
          fmt(r.mbps, 0),
          fmt(ratio(r.mbps, f.mbps), 2),
          fmt(r.cpuMs / 1000, 2),
          fmt(r.rss.startMb, 0),
          fmt(r.rss.peakMb, 0),
          fmt(r.rss.growthMb, 1),
        ]),
        [
          'MB = 10^6 bytes. RSS: VmRSS of the proxy process every 50 ms during the download; growth = peak − value at start. A 64 MiB download through the same path warms up first.',
          machineNote(meter),
        ],
      )
      const g = rows[1]!
      const dr = ratio(g.mbps, f.mbps)
      targets.push(
        `${fmt(BIG_BYTES / 2 ** 20, 0)} MiB download ≥ ${GOAL.downloadRatio}× floor throughput: ${fmt(dr, 3)}× (${fmt(g.mbps, 0)} vs ${fmt(f.mbps, 0)} MB/s) — ${met(dr >= GOAL.downloadRatio)}`,
      )
      targets.push(`gateway RSS growth during the download < ${GOAL.rssGrowthMb} MB: ${fmt(g.rss.growthMb, 1)} MB — ${met(g.rss.growthMb < GOAL.rssGrowthMb)}`)
    }

    // ── 4. HTML rewriting ──
    if (PHASES.has('4')) {
      const meter = foreignLoad(ourPids)
      type Row = { path: Path; r: DownloadLoopResult; cpuMsPerPage: number }
      const rows: Row[] = []
      const seconds = Math.max(2, Math.round(SECONDS * 0.6))
      for (const p of all) {
        const job = (s: number): DownloadLoopJob => ({
          kind: 'downloads',
          url: `${p.base}/page`,
          concurrency: PAGE_CONCURRENCY,
          seconds: s,
          headers,
          caFile: p.caFile,
        })
        await load.request(job(WARMUP_SECONDS / 2))
        const c0 = proxyCpu(p)
        const r = await load.request<DownloadLoopResult>(job(seconds))
        rows.push({ path: p, r, cpuMsPerPage: p.pid ? per(proxyCpu(p) - c0, r.responses) : Number.NaN })
      }
      const f = rows[1]!
      const upMbps = (r: DownloadLoopResult) => (r.responses * upstream.info.pageBytes) / 1e6 / r.seconds
      printTable(
        `4. HTML page (/page, ${fmt(upstream.info.pageBytes / 1024, 0)} KB, ${upstream.info.pageRows} table rows, one link each), ${PAGE_CONCURRENCY} closed loops for ${seconds} s`,
        ['path', 'pages/s', 'upstream MB/s', 'client MB/s', 'vs floor (upstream MB/s)', 'page p50 ms', 'page p99 ms', 'proxy CPU ms/page', 'failed'],
        rows.map((r): Cell[] => [
          r.path.name,
          fmt(r.r.responses / r.r.seconds, 1),
          fmt(upMbps(r.r), 1),
          fmt(r.r.bodyBytes / 1e6 / r.r.seconds, 1),
          fmt(ratio(upMbps(r.r), upMbps(f.r)), 2),
          fmt(r.r.latency.p50, 1),
          fmt(r.r.latency.p99, 1),
          fmt(r.cpuMsPerPage, 2),
          r.r.failed,
        ]),
        [
          "upstream MB/s = pages × upstream page size ÷ time (the HTML the rewriter read); client MB/s = bytes delivered (the gateway's are longer: rewritten URLs).",
          'The floor passes the page through; the gateway runs it through html-rewriter-wasm.',
          machineNote(meter),
        ],
      )
    }

    // ── 5. WebSockets ──
    if (PHASES.has('5')) {
      const meter = foreignLoad(ourPids)
      type Row = { path: Path; ping: WsPingResult; load: WsLoadResult; cpuPer1k: number }
      const rows: Row[] = []
      for (const p of all) {
        const ping = await load.request<WsPingResult>({ kind: 'ws-ping', url: p.ws, warmup: 200, count: WS_PINGS, payloadBytes: WS_PAYLOAD, caFile: p.caFile })
        await load.request({ kind: 'ws-load', url: p.ws, clients: WS_CLIENTS, seconds: WARMUP_SECONDS, payloadBytes: WS_PAYLOAD, caFile: p.caFile })
        const c0 = proxyCpu(p)
        const l = await load.request<WsLoadResult>({
          kind: 'ws-load',
          url: p.ws,
          clients: WS_CLIENTS,
          seconds: SECONDS,
          payloadBytes: WS_PAYLOAD,
          caFile: p.caFile,
        })
        rows.push({ path: p, ping, load: l, cpuPer1k: p.pid ? per(proxyCpu(p) - c0, l.messages, 1000) : Number.NaN })
      }
      const f = rows[1]!
      printTable(
        `5. WebSocket echo (${WS_PAYLOAD}-byte text messages)`,
        ['path', 'ping p50 ms', 'ping p99 ms', `msgs/s, ${WS_CLIENTS} clients`, 'vs floor', 'proxy CPU ms/1k msgs', 'closed early'],
        rows.map((r): Cell[] => [
          r.path.name,
          fmt(r.ping.latency.p50, 3),
          fmt(r.ping.latency.p99, 3),
          fmt(r.load.perSec, 0),
          fmt(ratio(r.load.perSec, f.load.perSec), 2),
          fmt(r.cpuPer1k, 0),
          r.load.closedEarly,
        ]),
        [
          `ping: one client, ${WS_PINGS} sequential send→echo round trips after 200 warm-up. msgs/s: ${WS_CLIENTS} clients each in a closed send→echo loop for ${SECONDS} s (after a ${WARMUP_SECONDS} s warm-up), echoes counted.`,
          "direct = wss to the upstream. floor = a splice relay (the upstream's 101 copied, then the two byte streams piped; no frame parsing).",
          'gateway = ws://…/api/v1/proxy/ws?token=…: auth, then the two sockets spliced (frame headers followed for the size cap and our closes; nothing re-encoded).',
          machineNote(meter),
        ],
      )
      const g = rows[2]!
      const wr = ratio(g.load.perSec, f.load.perSec)
      targets.push(
        `WebSocket msgs/s ≥ ${GOAL.wsRatio}× floor (splice relay), ${WS_CLIENTS} clients: ${fmt(wr, 3)}× (${fmt(g.load.perSec, 0)} vs ${fmt(f.load.perSec, 0)}) — ${met(wr >= GOAL.wsRatio)}`,
      )
    }

    console.log('\nTargets')
    for (const t of targets) console.log(`  ${t}`)

    if (gw.logFile) {
      const log = readFileSync(gw.logFile, 'utf8').split('\n').filter(Boolean)
      const problems = log.filter((l) => /"level":"(error|warn)"/.test(l))
      console.log(
        `\nGateway log: ${log.length.toLocaleString('en-US')} lines, ${fmt(statSync(gw.logFile).size / 1e6, 1)} MB; ${problems.length} warn/error line(s), one of each kind:`,
      )
      const seen = new Set<string>()
      for (const l of problems) {
        const msg = /"msg":"([^"]*)"/.exec(l)?.[1] ?? l
        if (seen.has(msg)) continue
        seen.add(msg)
        console.log(`  ${l.slice(0, 300)}`)
      }
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err) => console.error('stop failed:', err))
    if (CPU_PROF_DIR && existsSync(CPU_PROF_DIR)) console.log(`CPU profiles in ${CPU_PROF_DIR}`)
    removeTempDir(dir)
  }
  console.log(`\nTotal bench time ${fmt(elapsedUs(benchStarted) / 1e6)} s`)
}

function autocannonVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../node_modules/autocannon/package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return '?'
  }
}

runMain(main)
