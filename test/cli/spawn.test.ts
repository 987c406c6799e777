import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/db/connect-node'
import { users } from '../../src/db/schema'

const ROOT = new URL('../..', import.meta.url).pathname

/** `npx tsx src/cli/main.ts …` as an operator runs it: the server's environment minus DATABASE_URL, REDIS_URL, NODE_ENV. */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { DATABASE_URL, REDIS_URL, NODE_ENV, SECRET_KEY, ADMIN_EMAIL, ADMIN_USERNAME, ADMIN_PASSWORD, ...rest } = process.env
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...rest, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('npm run cli on the embedded defaults', () => {
  it('create-superuser twice (the second a no-op) then check-db; the password never appears', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-cli-data-'))
    const password = 'Sup3r-secret pass'
    const env = { DATA_DIR: dataDir, BCRYPT_ROUNDS: '4' }
    const args = ['create-superuser', '--email', 'Root@Example.com', '--username', 'root', '--full-name', 'Root Admin']

    const first = await cli([...args, '--password', password], env)
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(/^created superuser root <root@example\.com> \(id [0-9a-f-]{36}\)$/m)
    expect(first.stderr).toMatch(/warning: SECRET_KEY is not set: generated one/)

    // Second run takes the password from ADMIN_PASSWORD, as the usage text recommends.
    const second = await cli(args, { ...env, ADMIN_PASSWORD: password })
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toMatch(/already exists and is an active superuser; nothing changed/)
    expect(second.stderr).toBe('')

    const check = await cli(['check-db'], env)
    expect(check.code, check.stderr).toBe(0)
    const lines = check.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(`database: pglite (${join(dataDir, 'pglite')}), reachable`)
    expect(lines[1]).toMatch(/^migrations: (\d+) applied, \1 in drizzle\/ \(up to date\)$/)
    expect(lines.slice(2)).toEqual([
      'users: 1',
      'access_tokens: 0',
      'ledger_accounts: 4 (0 wallet(s), 4 system)',
      'ledger_transactions: 0',
      'ledger_entries: 0',
      'payments: 0',
      'payment_notifications: 0',
      'idempotency_keys: 0',
      'fake_provider_payments: 0',
    ])

    for (const r of [first, second, check]) expect(r.stdout + r.stderr).not.toContain(password)

    // The processes are gone (PGlite takes one at a time): look at what they left behind.
    const database = await openDatabase({ databaseUrl: null, dataDir })
    try {
      const [row] = await database.db.select().from(users).where(eq(users.email, 'root@example.com'))
      expect(row).toMatchObject({ username: 'root', fullName: 'Root Admin', isSuperuser: true, isActive: true })
      expect(row!.hashedPassword).toMatch(/^\$2[aby]\$04\$/)
      expect(await bcrypt.compare(password, row!.hashedPassword)).toBe(true)
    } finally {
      await database.close()
    }
  })
})
