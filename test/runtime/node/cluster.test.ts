// WORKERS=N as `npm start` runs it: N real server processes on one port behind node:cluster.
// Revocation reaches every worker through Redis, METRICS_ADDR sums every worker's counters, a
// worker that dies is replaced, and SIGTERM drains each and exits 0. Needs PostgreSQL and Redis
// (WORKERS > 1 refuses to start without them, which is tested on any machine).
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, startUpstream, type Upstream } from '../../support/gateway'
import { ANY_DEVICES, FREE_TOKENS, newAccount, TEST_SECRET, type TestDatabase, testDatabase } from '../../support/harness'
import { recordSecret } from '../../support/log-scan'

const ROOT = new URL('../../..', import.meta.url).pathname
const shared = process.env.DATABASE_URL && process.env.REDIS_URL
if (!shared) console.log('[zenzefi tests] skipped: WORKERS=2 across processes (needs DATABASE_URL and REDIS_URL)')

interface Running {
  child: ChildProcess
  lines: string[]
  exited: Promise<number | null>
}

function serve(env: Record<string, string>): Running {
  const { DATABASE_URL, REDIS_URL, NODE_ENV, SECRET_KEY, WORKERS, ...rest } = process.env
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/runtime/node/main.ts'], {
    cwd: ROOT,
    env: {
      ...rest,
      NODE_ENV: 'test',
      SECRET_KEY: TEST_SECRET,
      BCRYPT_ROUNDS: '4',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...FREE_TOKENS,
      ...ANY_DEVICES,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  let rest2 = ''
  const collect = (chunk: Buffer) => {
    const parts = (rest2 + chunk.toString('utf8')).split('\n')
    rest2 = parts.pop()!
    lines.push(...parts.filter(Boolean))
  }
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, lines, exited }
}

const parsed = (r: Running) => r.lines.flatMap((l) => (l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : []))
const listeningPids = (r: Running) =>
  parsed(r)
    .filter((l) => l.msg === 'listening')
    .map((l) => l.pid as number)

async function until<T>(what: string, probe: () => T | undefined | false, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = probe()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** One request on a connection of its own, so that node:cluster hands each to the next worker. */
function fresh(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close', ...headers } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

it('WORKERS=2 without DATABASE_URL refuses to start, saying why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zenzefi-cluster-'))
  try {
    const s = serve({ WORKERS: '2', PORT: String(await freePort()), DATA_DIR: dir })
    expect(await s.exited).toBe(1)
    expect(s.lines.join('\n')).toContain('WORKERS > 1 needs DATABASE_URL: the embedded PGlite database belongs to one process')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

it.skipIf(!shared)('workers that cannot start (a database that is not there) stop the primary too, with their exit code', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zenzefi-cluster-'))
  try {
    const s = serve({
      WORKERS: '2',
      PORT: String(await freePort()),
      DATA_DIR: dir,
      DATABASE_URL: `${process.env.DATABASE_URL!.replace(/\/[^/]*$/, '')}/no_such_database_${Date.now()}`,
      REDIS_URL: process.env.REDIS_URL!,
    })
    expect(await s.exited).toBe(1)
    expect(s.lines.join('\n')).toContain('a worker stopped at start; stopping the others')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

describe.skipIf(!shared)('WORKERS=2 on PostgreSQL and Redis', () => {
  let db: TestDatabase
  let up: Upstream
  let s: Running
  let base: string
  let metricsUrl: string
  let dir: string

  beforeAll(async () => {
    db = await testDatabase()
    up = await startUpstream()
    up.on((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('zenzefi'))
    const port = await freePort()
    const metricsPort = await freePort()
    base = `http://127.0.0.1:${port}`
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`
    dir = mkdtempSync(join(tmpdir(), 'zenzefi-cluster-'))
    s = serve({
      WORKERS: '2',
      PORT: String(port),
      BACKEND_URL: base,
      METRICS_ADDR: `127.0.0.1:${metricsPort}`,
      DATABASE_URL: db.url!,
      REDIS_URL: process.env.REDIS_URL!,
      DATA_DIR: dir,
      ZENZEFI_TARGET_URL: up.url,
      ZENZEFI_CA_FILE: up.caFile!,
      REGISTER_RATE_PER_ADDRESS: '10000/h',
      LOGIN_RATE_PER_ADDRESS: '10000/m',
      PURCHASE_RATE_PER_ADDRESS: '10000/m',
      RATE_LIMIT_NAMESPACE: `cluster-${Date.now()}`,
    })
    await until('two workers listening', () => listeningPids(s).length >= 2)
  })
  afterAll(async () => {
    if (s && s.child.exitCode === null) {
      s.child.kill('SIGTERM')
      await s.exited
    }
    await up?.close()
    await db?.drop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('two processes serve one port; a revocation made through one is refused by every one at once', async () => {
    const pids = listeningPids(s)
    expect(new Set(pids).size).toBe(2)
    expect(pids).not.toContain(s.child.pid)
    const account = newAccount()
    recordSecret(account.password, 'password')
    const post = (path: string, body: unknown, jwt?: string) =>
      fetch(`${base}/api/v1${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(jwt ? { authorization: `Bearer ${jwt}` } : {}) },
        body: JSON.stringify(body),
      })
    expect((await post('/auth/register', account)).status).toBe(201)
    const { access_token: jwt } = await (await post('/auth/login', { email: account.email, password: account.password })).json()
    recordSecret(jwt, 'JWT')
    const bought = await (await post('/tokens/purchase', { duration_hours: 24 }, jwt)).json()
    recordSecret(bought.token, 'access token')
    // Each on a new connection: round robin gives both workers the token, in their own in-process cache.
    const before = await Promise.all(Array.from({ length: 20 }, () => fresh(`${base}/api/v1/proxy/`, { 'x-access-token': bought.token })))
    expect(before).toEqual(Array(20).fill(200))
    const revoked = await fetch(`${base}/api/v1/tokens/${bought.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${jwt}` } })
    expect(revoked.status).toBe(200)
    const after = await Promise.all(Array.from({ length: 20 }, () => fresh(`${base}/api/v1/proxy/`, { 'x-access-token': bought.token })))
    expect(after).toEqual(Array(20).fill(401))
  })

  it('METRICS_ADDR serves the sum of every worker’s counters and histograms', async () => {
    const count = async () => {
      const text = await (await fetch(metricsUrl)).text()
      const value = (series: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `))
        return line ? Number(line.split(' ').pop()) : 0
      }
      return [
        value('zenzefi_http_requests_total{route="/health",method="GET",status_class="2xx"}'),
        value('zenzefi_http_request_duration_seconds_count{route="/health",method="GET"}'),
        value('zenzefi_http_request_duration_seconds_bucket{route="/health",method="GET",le="+Inf"}'),
      ]
    }
    const start = await count()
    const statuses = await Promise.all(Array.from({ length: 30 }, () => fresh(`${base}/health`)))
    expect(statuses).toEqual(Array(30).fill(200))
    expect(await count()).toEqual(start.map((n) => n + 30))
  })

  it('a worker that dies is replaced, and the port keeps answering', async () => {
    const [victim] = listeningPids(s)
    process.kill(victim!, 'SIGKILL')
    const replacement = await until('a replacement worker', () => listeningPids(s).length >= 3 && listeningPids(s)[2])
    expect(replacement).not.toBe(victim)
    const statuses = await Promise.all(Array.from({ length: 10 }, () => fresh(`${base}/health`)))
    expect(statuses).toEqual(Array(10).fill(200))
  })

  it('SIGTERM: every worker drains and stops, then the primary exits 0', async () => {
    const workers = listeningPids(s).slice(-2)
    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(0)
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow()
    const stops = parsed(s).filter((l) => l.msg === 'stopped')
    expect(stops.length).toBe(3) // each worker, then the primary
  })
})
