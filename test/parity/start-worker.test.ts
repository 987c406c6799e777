// `npm run start:worker` as a user runs it: a child process configured only by
// environment variables (the `npm start` contract), against an EMPTY PostgreSQL
// database (it must migrate), Redis through its in-process Upstash bridge, and an
// HTTPS Zenzefi stand-in signed by the test CA, trusted through ZENZEFI_CA_FILE —
// the TLS setup the parity suite leaves out.

import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { freePort, startUpstream, type Upstream } from '../support/gateway'
import { ANY_DEVICES, FREE_TOKENS, TEST_FILE_NAMESPACE } from '../support/harness'
import { startRedisServer } from '../support/redis-server'
import { services } from '../support/services'
import { buildWorker } from '../support/worker'

const SCRIPT = 'scripts/start-worker.ts'

interface Started {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

/** The script as `npm run start:worker` runs it after the build (node + tsx), with exactly this environment. */
function run(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    // Its own rate-limit counters: other files register from the same address on the same Redis.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', RATE_LIMIT_NAMESPACE: TEST_FILE_NAMESPACE, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (c: Buffer) => (out += c))
  child.stderr!.on('data', (c: Buffer) => (out += c))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, output: () => out, exited }
}

async function listening(s: Started, ms = 40_000): Promise<string> {
  const end = Date.now() + ms
  for (;;) {
    const line = s
      .output()
      .split('\n')
      .find((l) => l.includes('"msg":"listening"'))
    if (line) return (JSON.parse(line) as { url: string }).url
    if (s.child.exitCode !== null) throw new Error(`start:worker exited with ${s.child.exitCode}:\n${s.output()}`)
    if (Date.now() > end) throw new Error(`start:worker did not start in time:\n${s.output()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function stop(s: Started) {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return
  s.child.kill('SIGTERM')
  const code = await Promise.race([s.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))])
  if (code === 'hung') s.child.kill('SIGKILL')
}

it('refuses to start without DATABASE_URL, saying why', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-start-worker-'))
  try {
    const s = run({ DATA_DIR: dataDir })
    expect(await s.exited).toBe(1)
    expect(s.output()).toContain('DATABASE_URL is required for the worker')
    expect(s.output()).toContain('PGlite')
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
})

const adminUrl = process.env.DATABASE_URL
if (!adminUrl) console.log('[start-worker] skipped: serving the worker needs a real PostgreSQL — set DATABASE_URL to run it')

describe.skipIf(!adminUrl)('npm run start:worker', () => {
  const dbName = `zenzefi_test_sw_${randomBytes(5).toString('hex')}`
  let up: Upstream
  let wss: WebSocketServer
  let redis: Awaited<ReturnType<typeof startRedisServer>> | null = null
  let dataDir: string
  let s: Started
  let base: string

  beforeAll(async () => {
    buildWorker()
    const admin = postgres(adminUrl!, { max: 1, onnotice: () => {} })
    await admin.unsafe(`create database ${dbName}`)
    await admin.end()
    const databaseUrl = new URL(adminUrl!)
    databaseUrl.pathname = `/${dbName}`

    let redisUrl = process.env.REDIS_URL || null
    const binary = services().redisServerBinary
    if (!redisUrl && binary) {
      redis = await startRedisServer(binary)
      redisUrl = redis.url
    }

    up = await startUpstream()
    up.on((req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello over TLS, ${req.headers['x-user-id']}`))
    wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
    up.server.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))),
    )

    dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-start-worker-'))
    const port = await freePort()
    s = run({
      PORT: String(port),
      HOST: '127.0.0.1',
      // The API on 127.0.0.1; the account page then defaults to http://localhost:PORT.
      BACKEND_URL: `http://127.0.0.1:${port}`,
      DATABASE_URL: databaseUrl.toString(),
      ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
      ZENZEFI_TARGET_URL: up.url,
      ZENZEFI_CA_FILE: up.caFile,
      // No SECRET_KEY: generated into DATA_DIR as `npm start` does in development.
      DATA_DIR: dataDir,
      BCRYPT_ROUNDS: '4',
      ...FREE_TOKENS,
      ...ANY_DEVICES,
    })
    base = await listening(s)
  })

  afterAll(async () => {
    if (s) await stop(s)
    wss?.close()
    await up?.close()
    await redis?.kill()
    const admin = postgres(adminUrl!, { max: 1, onnotice: () => {} })
    await admin.unsafe(`drop database if exists ${dbName} with (force)`)
    await admin.end()
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  const json = (path: string, init: RequestInit & { json?: unknown; bearer?: string } = {}) => {
    const { json: body, bearer, ...rest } = init
    const headers = new Headers(rest.headers)
    if (body !== undefined) headers.set('content-type', 'application/json')
    if (bearer) headers.set('authorization', `Bearer ${bearer}`)
    return fetch(`${base}${path}`, { ...rest, headers, body: body !== undefined ? JSON.stringify(body) : rest.body })
  }

  it('serves the worker on PORT, with every dependency up', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const root = await json('/')
    expect(root.status).toBe(200)
    expect(await root.json()).toMatchObject({ message: 'Welcome to Zenzefi Backend', docs: '/docs' })
    const health = (await (await json('/health/detailed')).json()) as { status: string; checks: Record<string, { status: string }> }
    // Zenzefi "up" means workerd's fetch completed the TLS handshake against the test CA.
    expect(health.checks.database!.status).toBe('up')
    expect(health.checks.zenzefi!.status).toBe('up')
    expect(health.checks.redis!.status).toBe('up')
    expect(health.status).toBe('healthy')
    expect(s.output()).not.toContain('"level":"error"')
  })

  it('migrated the empty database, and an HTTPS Zenzefi is reached through ZENZEFI_CA_FILE (HTTP and WebSocket)', async () => {
    const account = { email: `sw${Date.now()}@example.com`, username: `sw_${Date.now()}`, password: 'correct horse battery' }
    expect((await json('/api/v1/auth/register', { method: 'POST', json: account })).status).toBe(201)
    const { access_token: jwt } = (await (await json('/api/v1/auth/login', { method: 'POST', json: account })).json()) as { access_token: string }
    const bought = await json('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: 1 }, bearer: jwt })
    expect(bought.status).toBe(201)
    const { token, id } = (await bought.json()) as { token: string; id: string }

    const page = await json('/api/v1/proxy/hello', { headers: { 'x-access-token': token } })
    expect(page.status).toBe(200)
    expect(await page.text()).toMatch(/^hello over TLS, [0-9a-f-]{36}$/)
    expect(up.last().headers['x-token-id']).toBe(id)

    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/v1/proxy/ws?token=${token}`, { perMessageDeflate: false })
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const echoed = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())))
    ws.send('over wss')
    expect(await echoed).toBe('over wss')
    ws.terminate()
  })
})
