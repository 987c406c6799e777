// Graceful shutdown of the real server process: `node --import tsx src/runtime/node/main.ts` is
// spawned, a download and a WebSocket go through it to a Zenzefi stand-in started here, and the
// process is sent SIGTERM for real. During the drain /health/ready says 503 and new connections
// are still accepted; after it they are refused, idle keep-alive connections are closed and the
// WebSocket gets 1001, while the download finishes with every byte; then the process exits 0.
// A download that outlasts SHUTDOWN_TIMEOUT_SECONDS is cut at the deadline, and the exit is still 0.
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, get, type IncomingMessage, request, type Server } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { freePort } from '../../support/gateway'
import { ANY_DEVICES, FREE_TOKENS, newAccount, TEST_SECRET, type TestDatabase, testDatabase } from '../../support/harness'
import { closed, nextMessage, openWebSocket } from '../../support/ws-client'

const ROOT = new URL('../../..', import.meta.url).pathname
const MiB = 1024 * 1024
const CHUNK = randomBytes(4 * MiB)
const BIG_CHUNKS = 75 // 300 MiB
const BIG_BYTES = BIG_CHUNKS * CHUNK.length
/** 75 chunks 80 ms apart: the download takes ≥ 6 s, so SIGTERM lands in the middle of it. */
const BIG_PACE_MS = 80
const BIG_SHA256 = (() => {
  const h = createHash('sha256')
  for (let i = 0; i < BIG_CHUNKS; i++) h.update(CHUNK)
  return h.digest('hex')
})()

// --- the Zenzefi stand-in (plain HTTP, WebSocket echo) -------------------------------------------
let upstream: Server
let upstreamUrl: string
let endlessCut = 0
const upstreamSockets = new Set<WebSocket>()

function startUpstream() {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
  const server = createServer((req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG_BYTES) })
      let sent = 0
      const next = () => {
        if (res.destroyed) return
        if (sent === BIG_CHUNKS) return void res.end()
        sent++
        if (res.write(CHUNK)) setTimeout(next, BIG_PACE_MS)
        else res.once('drain', () => setTimeout(next, BIG_PACE_MS))
      }
      return next()
    }
    if (req.url === '/endless') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const timer = setInterval(() => res.write(CHUNK.subarray(0, 64 * 1024)), 50)
      res.on('close', () => {
        clearInterval(timer)
        if (!res.writableFinished) endlessCut++
      })
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
  })
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {})
    wss.handleUpgrade(req, socket, head, (ws) => {
      upstreamSockets.add(ws)
      ws.on('close', () => upstreamSockets.delete(ws))
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
    })
  })
  return new Promise<Server>((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

// --- the server process ----------------------------------------------------------------------------
let db: TestDatabase | null = null
const dataDirs: string[] = []
const children: ChildProcess[] = []

beforeAll(async () => {
  upstream = await startUpstream()
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  // With DATABASE_URL the process gets a fresh PostgreSQL database; without it, PGlite in its own DATA_DIR.
  if (process.env.DATABASE_URL) db = await testDatabase()
})
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const ws of upstreamSockets) ws.terminate()
  upstream?.closeAllConnections()
  await new Promise((r) => upstream?.close(r))
  await db?.drop()
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true })
})

interface Running {
  child: ChildProcess
  port: number
  base: string
  /** The JSON log lines the process wrote to stdout so far. */
  lines(): Array<{ level: string; msg: string } & Record<string, unknown>>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
}

async function startServer(env: Record<string, string>): Promise<Running> {
  const port = await freePort()
  const { DATABASE_URL, REDIS_URL, NODE_ENV, SECRET_KEY, SHUTDOWN_DRAIN_SECONDS, SHUTDOWN_TIMEOUT_SECONDS, ...rest } = process.env
  const dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-shutdown-'))
  dataDirs.push(dataDir)
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/runtime/node/main.ts'], {
    cwd: ROOT,
    env: {
      ...rest,
      NODE_ENV: 'test',
      SECRET_KEY: TEST_SECRET,
      BCRYPT_ROUNDS: '4',
      HOST: '127.0.0.1',
      PORT: String(port),
      // Requests go to 127.0.0.1, so that is BACKEND_URL (the account page then defaults to localhost).
      BACKEND_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: dataDir,
      ZENZEFI_TARGET_URL: upstreamUrl,
      LOG_LEVEL: 'info',
      // Registrations per address are limited, and with REDIS_URL counted across runs: not what is tested here.
      RATE_LIMITS: 'off',
      // Tokens free of charge: money is not what is tested here.
      ...FREE_TOKENS,
      ...ANY_DEVICES,
      ...(db?.url ? { DATABASE_URL: db.url } : {}),
      ...(REDIS_URL ? { REDIS_URL } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d))
  child.stderr!.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  )
  const base = `http://127.0.0.1:${port}`
  const started = Date.now()
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited at start: ${stdout}${stderr}`)
    if ((await fetchStatus(`${base}/health/ready`).catch(() => null))?.status === 200) break
    if (Date.now() - started > 90_000) throw new Error(`server did not start: ${stdout}${stderr}`)
    await sleep(100)
  }
  return {
    child,
    port,
    base,
    exited,
    lines: () =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l)),
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** One request on a connection of its own (no keep-alive pool): the status and the JSON body. */
function fetchStatus(url: string, headers: Record<string, string> = {}, body?: unknown) {
  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const req = request(
      url,
      { agent: false, method: body === undefined ? 'GET' : 'POST', headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode!, body: text.startsWith('{') ? JSON.parse(text) : text }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

/** Registers, logs in and buys a token through the process's own API. */
async function accessToken(base: string): Promise<string> {
  const account = newAccount()
  const reg = await fetchStatus(`${base}/api/v1/auth/register`, {}, account)
  expect(reg.status, JSON.stringify(reg.body)).toBe(201)
  const login = await fetchStatus(`${base}/api/v1/auth/login`, {}, { email: account.email, password: account.password })
  const jwt = (login.body as { access_token: string }).access_token
  const bought = await fetchStatus(`${base}/api/v1/tokens/purchase`, { authorization: `Bearer ${jwt}` }, { duration_hours: 24 })
  expect(bought.status, JSON.stringify(bought.body)).toBe(201)
  return (bought.body as { token: string }).token
}

/** A download through the gateway, hashed as it arrives. */
function download(base: string, path: string, token: string) {
  let received = 0
  let resolveHead!: (res: IncomingMessage) => void
  const head = new Promise<IncomingMessage>((r) => (resolveHead = r))
  const hash = createHash('sha256')
  const done = new Promise<{ status: number; bytes: number; complete: boolean; sha256: string; at: number }>((resolve, reject) => {
    const req = get(`${base}/api/v1/proxy${path}`, { agent: false, headers: { 'x-access-token': token } }, (res) => {
      resolveHead(res)
      res.on('data', (c: Buffer) => {
        received += c.length
        hash.update(c)
      })
      // 'close' comes after 'end' for a whole body, and alone (complete false) for a cut one.
      res.on('error', () => {})
      res.on('close', () => resolve({ status: res.statusCode!, bytes: received, complete: res.complete, sha256: hash.digest('hex'), at: performance.now() }))
    })
    req.on('error', reject)
  })
  return { head, done, received: () => received }
}

/** Does a new TCP connection get through? */
function connects(port: number) {
  return new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

async function untilTrue(check: () => boolean | Promise<boolean>, ms: number, what: string) {
  const end = performance.now() + ms
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(10)
  }
}

describe('SIGTERM on the real server process', () => {
  it('drain (503 draining, still accepting), then refuse new connections, close idle keep-alive ones and WebSockets (1001); the 300 MiB download finishes whole; exit 0', {
    timeout: 120_000,
  }, async () => {
    const DRAIN_MS = 2000
    const srv = await startServer({ SHUTDOWN_DRAIN_SECONDS: String(DRAIN_MS / 1000), SHUTDOWN_TIMEOUT_SECONDS: '20' })
    expect(await fetchStatus(`${srv.base}/health/ready`)).toEqual({ status: 200, body: { status: 'ready' } })
    const token = await accessToken(srv.base)

    // An idle keep-alive connection: one answered request, then silence.
    const idle = connect(srv.port, '127.0.0.1')
    let idleAnswer = ''
    idle.on('data', (c: Buffer) => (idleAnswer += c))
    const idleClosed = new Promise<number>((r) => idle.once('close', () => r(performance.now())))
    idle.write(`GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n\r\n`)
    await untilTrue(() => idleAnswer.includes('{"status":"ready"}'), 5000, 'keep-alive answer')
    expect(idleAnswer).toMatch(/^HTTP\/1\.1 200 /)
    expect(idleAnswer.toLowerCase()).toContain('connection: keep-alive')

    const ws = await openWebSocket(`ws://127.0.0.1:${srv.port}/api/v1/proxy/ws?token=${token}`)
    ws.send('before')
    expect((await nextMessage(ws)).data.toString()).toBe('before')
    const wsClosed = closed(ws, 10_000)

    const dl = download(srv.base, '/big', token)
    expect((await dl.head).statusCode).toBe(200)
    await untilTrue(() => dl.received() >= 16 * MiB, 20_000, 'first 16 MiB')

    const t0 = performance.now()
    srv.child.kill('SIGTERM')
    // At once: not ready any more; a new connection is still served during the drain.
    let ready = await fetchStatus(`${srv.base}/health/ready`)
    while (ready.status === 200 && performance.now() - t0 < 500) ready = await fetchStatus(`${srv.base}/health/ready`)
    expect(ready).toMatchObject({ status: 503, body: { status: 'draining' } })
    expect(performance.now() - t0).toBeLessThan(DRAIN_MS - 500)
    // An impatient second SIGTERM changes nothing.
    srv.child.kill('SIGTERM')
    expect((await fetchStatus(`${srv.base}/health`)).status).toBe(200)
    expect(await connects(srv.port)).toBe(true)

    // After the drain: WebSockets get 1001, the idle connection is closed, new connections are refused.
    const end = await wsClosed
    expect(end).toMatchObject({ code: 1001, reason: 'Server shutting down' })
    expect(end.at - t0).toBeGreaterThanOrEqual(DRAIN_MS - 100)
    expect(end.at - t0).toBeLessThan(DRAIN_MS + 1500)
    const idleAt = await idleClosed
    expect(idleAt - t0).toBeGreaterThanOrEqual(DRAIN_MS - 100)
    expect(idleAt - t0).toBeLessThan(DRAIN_MS + 1500)
    // On PostgreSQL + Redis the server runs one process per core (WORKERS default), each on its own drain timer: the port closes
    // once the last of them has stopped, which a loaded machine can put a little after the first one's.
    await untilTrue(async () => !(await connects(srv.port)), 1_000, 'new connections refused after the drain')
    // …all while the download is still running.
    expect(dl.received()).toBeLessThan(BIG_BYTES)

    const got = await dl.done
    expect(got).toMatchObject({ status: 200, bytes: BIG_BYTES, complete: true, sha256: BIG_SHA256 })
    const exit = await srv.exited
    expect(exit).toMatchObject({ code: 0, signal: null })
    // It exits as soon as the download is done, not at the deadline.
    expect(exit.at - got.at).toBeLessThan(5000)

    const msgs = srv.lines().map((l) => l.msg)
    expect(msgs).toContain('shutting down')
    expect(msgs).toContain('already shutting down')
    expect(msgs).toContain('shutdown: no longer accepting connections')
    expect(msgs).not.toContain('shutdown: SHUTDOWN_TIMEOUT_SECONDS passed, cutting what is still open')
    // The last line is out (stdout is batched): the process said it stopped.
    expect(msgs.at(-1)).toBe('stopped')
    expect(srv.lines().some((l) => l.level === 'error')).toBe(false)
  })

  it('a download that outlasts SHUTDOWN_TIMEOUT_SECONDS is cut at the deadline, and the process still exits 0', { timeout: 120_000 }, async () => {
    const srv = await startServer({ SHUTDOWN_DRAIN_SECONDS: '0', SHUTDOWN_TIMEOUT_SECONDS: '1' })
    const token = await accessToken(srv.base)
    const dl = download(srv.base, '/endless', token)
    expect((await dl.head).statusCode).toBe(200)
    await untilTrue(() => dl.received() >= MiB, 20_000, 'first MiB')
    const cutBefore = endlessCut

    const t0 = performance.now()
    srv.child.kill('SIGTERM')
    await untilTrue(async () => !(await connects(srv.port)), 500, 'no drain: refused at once')
    const got = await dl.done
    expect(got.complete).toBe(false)
    expect(got.at - t0).toBeGreaterThanOrEqual(900)
    expect(got.at - t0).toBeLessThan(3000)
    const exit = await srv.exited
    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(exit.at - t0).toBeLessThan(6000)
    await untilTrue(() => endlessCut === cutBefore + 1, 2000, 'upstream request aborted')
    const msgs = srv.lines().map((l) => l.msg)
    expect(msgs).toContain('shutdown: SHUTDOWN_TIMEOUT_SECONDS passed, cutting what is still open')
    expect(msgs.at(-1)).toBe('stopped')
  })
})
