// Money survives a crash: the real server process buys tokens for 60 clients at once and is
// killed with SIGKILL at random moments, three times, and started again on the same port.
// Each client retries with its own Idempotency-Key until it gets an answer. Afterwards every
// 201 a client saw has its token and its one debit, and nothing else moved.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../support/gateway'
import { newAccount, TEST_SECRET, type TestDatabase, testDatabase } from '../../support/harness'
import { PRICED } from '../../support/money'

const ROOT = new URL('../../..', import.meta.url).pathname
const CLIENTS = 60
const KILLS = 3

let db: TestDatabase | null = null
let dataDir: string
let port: number
let child: ChildProcess | null = null
const base = () => `http://127.0.0.1:${port}`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function serverEnv(): NodeJS.ProcessEnv {
  const { DATABASE_URL, REDIS_URL, NODE_ENV, SECRET_KEY, ...rest } = process.env
  return {
    ...rest,
    ...PRICED,
    NODE_ENV: 'test',
    SECRET_KEY: TEST_SECRET,
    BCRYPT_ROUNDS: '4',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    ZENZEFI_TARGET_URL: 'http://127.0.0.1:9',
    PAYMENT_PROVIDER: 'fake',
    BACKEND_URL: `http://127.0.0.1:${port}`,
    LOG_LEVEL: 'warn',
    RATE_LIMITS: 'off',
    PAYMENTS_RECONCILE_SECONDS: '0',
    // One process, so the SIGKILL lands on the one holding the money transaction.
    WORKERS: '1',
    ...(db?.url ? { DATABASE_URL: db.url } : {}),
    ...(REDIS_URL ? { REDIS_URL } : {}),
  }
}

async function start(): Promise<void> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/runtime/node/main.ts'], { cwd: ROOT, env: serverEnv(), stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr!.on('data', (d: Buffer) => (stderr += d))
  child = proc
  const started = Date.now()
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server exited at start: ${stderr}`)
    if ((await fetch(`${base()}/health/ready`).catch(() => null))?.status === 200) return
    if (Date.now() - started > 90_000) throw new Error(`server did not start: ${stderr}`)
    await sleep(50)
  }
}

async function kill(): Promise<void> {
  const proc = child!
  const gone = new Promise((r) => proc.once('exit', r))
  proc.kill('SIGKILL')
  await gone
}

beforeAll(async () => {
  if (process.env.DATABASE_URL) db = await testDatabase()
  dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-crash-'))
  port = await freePort()
  await start()
}, 120_000)

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) await kill()
  await db?.drop()
  rmSync(dataDir, { recursive: true, force: true })
})

const json = async (path: string, init: { method?: string; jwt?: string; body?: unknown; key?: string } = {}) => {
  const headers: Record<string, string> = {}
  if (init.jwt) headers.authorization = `Bearer ${init.jwt}`
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  if (init.key) headers['idempotency-key'] = init.key
  const res = await fetch(`${base()}${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(10_000),
  })
  return { status: res.status, text: await res.text() }
}

describe('purchases through SIGKILL and restart', () => {
  it(`${CLIENTS} clients with their own keys, ${KILLS} kills: every 201 seen has its token and debit, nothing else moved`, async () => {
    const account = newAccount()
    expect((await json('/api/v1/auth/register', { method: 'POST', body: account })).status).toBe(201)
    const login = await json('/api/v1/auth/login', { method: 'POST', body: { email: account.email, password: account.password } })
    const jwt = JSON.parse(login.text).access_token as string
    // Credits the way a customer gets them: a top-up paid on the development checkout page.
    const topUp = JSON.parse((await json('/api/v1/currency/purchase', { method: 'POST', jwt, body: { amount_znc: '500.00' } })).text)
    await fetch(topUp.payment_url, { method: 'POST', redirect: 'manual' })
    expect(JSON.parse((await json('/api/v1/currency/balance', { jwt })).text).balance).toBe('500.00')

    const seen = new Map<string, string[]>()
    let cut = 0
    const client = async (i: number) => {
      const key = `crash-${i}`
      for (;;) {
        const answer = await json('/api/v1/tokens/purchase', { method: 'POST', jwt, key, body: { duration_hours: 1 } }).catch(() => null)
        if (answer?.status === 201) {
          seen.set(key, [...(seen.get(key) ?? []), answer.text])
          // Ask once more after a success: the replay must be the same bytes.
          if ((seen.get(key)?.length ?? 0) >= 2) return
          continue
        }
        // Connection refused or reset (the process is down), 409 (the first try still holds the key), 5xx: retry.
        if (answer && ![409, 500, 502, 503].includes(answer.status)) throw new Error(`unexpected ${answer.status}: ${answer.text}`)
        if (!answer) cut++
        await sleep(20 + Math.random() * 80)
      }
    }
    const killer = async () => {
      for (let k = 0; k < KILLS; k++) {
        await sleep(50 + Math.random() * 400)
        await kill()
        await start()
      }
    }
    await Promise.all([killer(), ...Array.from({ length: CLIENTS }, (_, i) => client(i))])
    // The kills landed mid-burst: requests were cut or refused and had to be retried.
    expect(cut).toBeGreaterThan(0)

    const boughtIds = new Set<string>()
    for (const [key, texts] of seen) {
      expect(new Set(texts).size, `${key}: every answer for one key is the same bytes`).toBe(1)
      boughtIds.add(JSON.parse(texts[0]!).id)
    }
    expect(boughtIds.size).toBe(CLIENTS)
    const tokens = JSON.parse((await json('/api/v1/tokens/my-tokens?active_only=false', { jwt })).text) as Array<{ id: string; cost_znc: string }>
    expect(new Set(tokens.map((t) => t.id))).toEqual(boughtIds)
    expect(tokens.every((t) => t.cost_znc === '1.00')).toBe(true)
    const purchases = JSON.parse((await json('/api/v1/currency/transactions?transaction_type=purchase&limit=100', { jwt })).text)
    expect(purchases.total).toBe(CLIENTS)
    expect(new Set(purchases.items.map((t: { token_id: string }) => t.token_id))).toEqual(boughtIds)
    expect(JSON.parse((await json('/api/v1/currency/balance', { jwt })).text).balance).toBe(`${500 - CLIENTS}.00`)

    // And the CLI's proof of every invariant, on the same database after the server stops.
    await kill()
    const check = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'ledger-check'], {
      cwd: ROOT,
      env: serverEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    check.stdout!.on('data', (d: Buffer) => (out += d))
    check.stderr!.on('data', (d: Buffer) => (out += d))
    const code = await new Promise((r) => check.once('exit', r))
    expect(out).toMatch(/all invariants hold/)
    expect(code).toBe(0)
  }, 240_000)
})
