// `npm run demo`: the whole product on one machine. Starts a stand-in Zenzefi (demo/zenzefi.ts)
// on HTTPS with a certificate made now, then the real gateway (src/runtime/node/main.ts, unchanged)
// as a child process on the embedded defaults, trusting that certificate
// through ZENZEFI_CA_FILE. Registers a demo user, buys a token through the API and prints the URL
// to open and curl lines to try. Ctrl-C (or SIGTERM) stops the gateway and the stand-in and
// removes the temporary directory; nothing it started is left running.
//
//   PORT   the gateway's port (default 8000, or a free one when 8000 is taken; 0: a free one)
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { freePort, makeCa, REPO_ROOT } from '../bench/lib/children'
import { type DemoZenzefi, startDemoZenzefi } from './zenzefi'

export const DEMO_USER = { email: 'demo@example.com', username: 'demo', password: 'demo password' }

// Settings the demo decides itself: the user's own (a DATABASE_URL, a REDIS_URL…) are not passed on,
// so the demo always runs on the embedded defaults and never touches a real database.
const OWN_SETTINGS =
  /^(?:DATABASE_URL|POSTGRES_\w+|REDIS_\w+|UPSTASH_\w+|ZENZEFI_\w+|BACKEND_URL|ACCOUNT_\w+|CORS_ORIGINS|COOKIE_\w+|DATA_DIR|SECRET_KEY|PORT|HOST)$/

const out = (line = '') => process.stdout.write(`${line}\n`)

let gateway: ChildProcess | null = null
let zenzefi: DemoZenzefi | null = null
let dir: string | null = null
let stopping: Promise<void> | null = null

const running = (child: ChildProcess | null): child is ChildProcess => child !== null && child.exitCode === null && child.signalCode === null

function removeDir() {
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 })
  dir = null
}

/** Stops the gateway (SIGTERM: it closes its sockets and database; SIGKILL after 10 s), then the stand-in. */
function stop(code: number, why?: string): Promise<void> {
  stopping ??= (async () => {
    if (why) out(`\n${why}`)
    if (running(gateway)) {
      const child = gateway
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    await zenzefi?.close()
    removeDir()
    out('demo stopped')
    process.exit(code)
  })()
  return stopping
}

function hookSignals() {
  // The last line of defence, whatever way this process ends: 'exit' handlers run synchronously.
  process.on('exit', () => {
    if (running(gateway)) gateway.kill('SIGKILL')
    removeDir()
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      // A second Ctrl-C while stopping: stop now.
      if (stopping && running(gateway)) gateway.kill('SIGKILL')
      void stop(0, `${signal}: stopping the gateway and the stand-in Zenzefi…`)
    })
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

async function choosePort(): Promise<{ port: number; note?: string }> {
  const asked = process.env.PORT
  if (asked !== undefined && asked !== '') return { port: Number(asked) === 0 ? await freePort() : Number(asked) }
  if (await portIsFree(8000)) return { port: 8000 }
  return { port: await freePort(), note: 'port 8000 is taken (is `npm start` running?), so the demo uses another one' }
}

/** The gateway's JSON log lines, shortened for a console. */
function showLogLine(line: string) {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line)
  } catch {
    return out(`gateway │ ${line}`)
  }
  const { time: _time, level, msg, method, path, status, ms, ...rest } = entry
  const request = method ? ` ${method} ${path} → ${status}${ms === undefined ? '' : ` (${ms} ms)`}` : ''
  const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : ''
  out(`gateway │ ${level === 'info' ? '' : `${String(level).toUpperCase()} `}${msg}${request}${extra}`)
}

async function waitForHealth(base: string, early: string[]): Promise<void> {
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    if (!running(gateway)) throw new Error(`the gateway exited before it was ready:\n${early.join('\n')}`)
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2_000) })
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`the gateway did not answer /health within 90 s:\n${early.join('\n')}`)
}

async function api<T>(base: string, path: string, init: { method?: string; body?: unknown; jwt?: string } = {}): Promise<T> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...(init.jwt ? { authorization: `Bearer ${init.jwt}` } : {}) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  if (!res.ok) throw new Error(`${init.method ?? 'POST'} /api/v1${path} answered ${res.status}: ${await res.text()}`)
  return (await res.json()) as T
}

async function main() {
  hookSignals()
  dir = mkdtempSync(join(tmpdir(), 'zenzefi-demo-'))
  // A throwaway CA and a certificate for 127.0.0.1, made with openssl (as the tests and benches make theirs).
  const ca = makeCa(dir)
  const zenzefiLog: string[] = []
  let live = false
  zenzefi = await startDemoZenzefi({
    key: readFileSync(ca.keyFile),
    cert: readFileSync(ca.certFile),
    log: (line) => (live ? out(`zenzefi │ ${line}`) : zenzefiLog.push(line)),
  })

  const { port, note } = await choosePort()
  const base = `http://localhost:${port}`
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !OWN_SETTINGS.test(k)))
  Object.assign(env, {
    PORT: String(port),
    HOST: '127.0.0.1',
    BACKEND_URL: base,
    DATA_DIR: join(dir, 'data'),
    ZENZEFI_TARGET_URL: zenzefi.url,
    ZENZEFI_CA_FILE: ca.caFile,
    // Generated per run, so the server does not warn about (or write) a development key.
    SECRET_KEY: randomBytes(32).toString('base64url'),
    // The demo's one token is used from a browser and from curl at once: two devices.
    DEVICE_LIMIT: '0',
  })
  // The server's own entry point, as one process (no npx/tsx wrapper), in its own process group so
  // a Ctrl-C reaches only this launcher, which then stops it.
  gateway = spawn(process.execPath, ['--import', 'tsx', 'src/runtime/node/main.ts'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const early: string[] = []
  for (const stream of [gateway.stdout!, gateway.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => (live ? showLogLine(line) : early.push(line)))
  }
  gateway.once('exit', (code, signal) => {
    if (live && !stopping) void stop(1, `the gateway exited (${signal ?? code}); stopping the demo`)
  })

  await waitForHealth(base, early)
  const user = await api<{ id: string }>(base, '/auth/register', { body: DEMO_USER })
  const { access_token: jwt } = await api<{ access_token: string }>(base, '/auth/login', {
    body: { email: DEMO_USER.email, password: DEMO_USER.password },
  })
  // Credits first, as a customer gets them: a top-up paid on the development provider's checkout page.
  const topUp = await api<{ payment_url: string }>(base, '/currency/purchase', { body: { amount_znc: '50.00' }, jwt })
  await fetch(`${base}${new URL(topUp.payment_url).pathname}`, { method: 'POST', redirect: 'manual' })
  const token = await api<{ token: string; id: string }>(base, '/tokens/purchase', { body: { duration_hours: 24 }, jwt })

  live = true
  for (const line of early) showLogLine(line)
  for (const line of zenzefiLog) out(`zenzefi │ ${line}`)

  const B = `${base}/api/v1`
  const h = '-H "X-Access-Token: $TOKEN"'
  out()
  out('Zenzefi Backend demo')
  out(`  gateway           ${base}   (src/runtime/node/main.ts, pid ${gateway.pid}: embedded PGlite, in-process cache)`)
  out(`  account page      http://127.0.0.1:${port}/   (log in as the demo user: Open Zenzefi, Copy, the countdown)`)
  out(`  stand-in Zenzefi  ${zenzefi.url}   (self-signed; trusted through ZENZEFI_CA_FILE)`)
  out(`  demo user         ${DEMO_USER.email} / ${DEMO_USER.password}   (id ${user.id}: 50.00 ZNC topped up, one 24 h access token bought for 18.00)`)
  out(`  data              ${dir}   (removed when the demo stops)`)
  if (note) out(`  note              ${note}`)
  out()
  out('Open in a browser:')
  out()
  out(`  ${B}/proxy/?token=${token.token}`)
  out()
  out('Try with curl:')
  out()
  out(`  B=${B} TOKEN=${token.token}`)
  out(`  curl -s $B/proxy/status ${h}                # "ready": the 24 h have not started`)
  out(`  curl -s $B/proxy/api/certificates ${h}      # Zenzefi's JSON, its links rewritten; starts the clock`)
  out(`  curl -s $B/proxy/ ${h} | head -8            # the page: URLs under /api/v1/proxy, the shim first in <head>`)
  out(`  curl -si $B/proxy/login ${h} | grep -i '^location'   # Zenzefi's redirect, pointing at the gateway`)
  out(`  curl -s $B/proxy/status ${h}                # "active", time_remaining_seconds counting down`)
  out()
  out(`API docs, offline: ${base}/docs (Swagger UI) and ${base}/redoc; log in there as the demo user.`)
  out('Ctrl-C stops the gateway and the stand-in Zenzefi.')
  out()
}

// Run as a program (npm run demo); tests import DEMO_USER without starting anything.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: Error) => void stop(1, `demo failed: ${err.message}`))
}
