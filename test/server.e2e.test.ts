import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

// The README's zero-setup path: `npm start` on the embedded defaults, used the way the README's curl examples do.
const children: ChildProcess[] = []
afterAll(() => {
  for (const c of children) c.kill('SIGKILL')
})

function start(env: Record<string, string | undefined>) {
  const { DATABASE_URL, REDIS_URL, SECRET_KEY, NODE_ENV, ...rest } = process.env
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/runtime/node/main.ts'], {
    env: { ...rest, PORT: '0', HOST: '127.0.0.1', BCRYPT_ROUNDS: '4', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let output = ''
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d
      const m = output.match(/"msg":"listening","url":"http:\/\/127\.0\.0\.1:(\d+)"/)
      if (m) resolve(`http://127.0.0.1:${m[1]}`)
    })
    child.stderr!.on('data', (d: Buffer) => (output += d))
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${output}`)))
  })
  return { child, listening, output: () => output }
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

const post = (url: string, json: unknown, jwt?: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(jwt ? { authorization: `Bearer ${jwt}` } : {}) },
    body: JSON.stringify(json),
  })

describe('npm start on the embedded defaults', () => {
  it('serves register → login → top up → purchase → my-tokens, and keeps accounts, tokens, credits and its key across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-data-'))
    const first = start({ DATA_DIR: dataDir })
    const base = await first.listening
    expect((await post(`${base}/api/v1/auth/register`, { email: 'ada@example.com', username: 'ada', password: 'correct horse' })).status).toBe(201)
    const { access_token } = await (await post(`${base}/api/v1/auth/login`, { email: 'ada@example.com', password: 'correct horse' })).json()
    // The README's curl flow: a top-up paid on the development provider's checkout page, then the purchase.
    const payment = await (await post(`${base}/api/v1/currency/purchase`, { amount_znc: '50.00' }, access_token)).json()
    expect(payment.payment_url).toMatch(/\/fake-checkout\/fake_/)
    expect((await fetch(`${base}${new URL(payment.payment_url).pathname}`, { method: 'POST', redirect: 'manual' })).status).toBe(303)
    const bought = await (await post(`${base}/api/v1/tokens/purchase`, { duration_hours: 24 }, access_token)).json()
    expect(bought.token).toMatch(/^[A-Za-z0-9_-]{64}$/)
    expect(bought).toMatchObject({ cost_znc: '18.00', new_balance: '32.00' })
    expect(first.output()).toMatch(/SECRET_KEY is not set: generated one/)
    expect(statSync(join(dataDir, 'secret_key')).mode & 0o077).toBe(0)
    await stop(first.child)

    const second = start({ DATA_DIR: dataDir })
    const base2 = await second.listening
    expect(second.output()).not.toMatch(/generated one/)
    // Same key: the old JWT still works and the stored token still decrypts.
    const list = await (await fetch(`${base2}/api/v1/tokens/my-tokens`, { headers: { authorization: `Bearer ${access_token}` } })).json()
    expect(list).toEqual([expect.objectContaining({ id: bought.id, token: bought.token })])
    const credits = await (await fetch(`${base2}/api/v1/currency/balance`, { headers: { authorization: `Bearer ${access_token}` } })).json()
    expect(credits).toEqual({ balance: '32.00', currency: 'ZNC' })
    const health = await (await fetch(`${base2}/health/detailed`)).json()
    expect(health.checks.database).toMatchObject({ status: 'up' })
    const log = second.output() + first.output()
    expect(log).not.toContain(access_token)
    expect(log).not.toContain('correct horse')
    expect(log).not.toContain(readFileSync(join(dataDir, 'secret_key'), 'utf8').trim())
    await stop(second.child)
  }, 60_000)

  it('refuses to start in production without SECRET_KEY, saying why', async () => {
    const s = start({ NODE_ENV: 'production', DATA_DIR: mkdtempSync(join(tmpdir(), 'zenzefi-data-')) })
    await expect(s.listening).rejects.toThrow(/SECRET_KEY is required when NODE_ENV=production/)
    expect(s.child.exitCode).toBe(1)
  }, 30_000)

  it('refuses a bad setting with a clear message instead of starting half-configured', async () => {
    const s = start({ COOKIE_SAMESITE: 'sometimes', DATA_DIR: mkdtempSync(join(tmpdir(), 'zenzefi-data-')) })
    await expect(s.listening).rejects.toThrow(/COOKIE_SAMESITE must be lax, strict or none/)
  }, 30_000)
})
