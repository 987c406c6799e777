import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { and, eq, isNull } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { parseCommandLine } from '../../src/cli/command-line'
import { runCli } from '../../src/cli/run'
import { accessLocks, accessTokens, auditEvents, ledgerTransactions } from '../../src/db/schema'
import { proxyRequest } from '../gateway/steps/request'
import { appFixture, purchase, signUp, TEST_SECRET } from '../support/harness'
import { recordSecret } from '../support/log-scan'
import { capture } from './output'

const dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-cli-locks-'))
const f = appFixture()

/** `npm run cli -- …` in-process on the fixture's database (and its Redis, when there is one, so invalidations reach the app). */
async function cli(argv: string[]) {
  const io = capture()
  const env = {
    SECRET_KEY: TEST_SECRET,
    DATA_DIR: dataDir,
    ...(f.db.url ? { DATABASE_URL: f.db.url } : {}),
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
  }
  const code = await runCli(argv, { env, io, database: f.db })
  return { code, ...io }
}

const openLocks = (targetId: string) =>
  f.db.db
    .select()
    .from(accessLocks)
    .where(and(eq(accessLocks.targetId, targetId), isNull(accessLocks.liftedAt)))

/** What the proxy answers this token (first asked after the command, so no cached grant predates it). */
async function proxied(token: string) {
  const out = await f.t.gateway.pipeline.run(proxyRequest({ headers: { 'x-access-token': token } }))
  if (out.kind === 'forward') {
    out.release()
    return { status: 'forward' }
  }
  return { status: out.reply.status, body: JSON.parse(out.reply.body) as unknown }
}

describe('lock / unlock', () => {
  it('lock --user by email: the proxy answers 403 with the message; unlock lifts it', async () => {
    const { account, user, jwt } = await signUp(f.t)
    const bought = await purchase(f.t, jwt)
    const locked = await cli(['lock', '--user', account.email.toUpperCase(), '--message', 'Account under review'])
    expect(locked.code, locked.all()).toBe(0)
    expect(locked.stdout.join('\n')).toMatch(new RegExp(`locked <${account.email}> \\(id ${user.id}\\) until unlocked`))
    expect(await proxied(bought.token)).toEqual({ status: 403, body: { detail: 'Account under review' } })
    const [event] = await f.db.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'lock.create'), eq(auditEvents.resourceId, user.id)))
    expect(event).toMatchObject({ actorType: 'cli', subjectUserId: user.id })
    const unlocked = await cli(['unlock', '--user', user.id])
    expect(unlocked.code, unlocked.all()).toBe(0)
    expect(await openLocks(user.id)).toEqual([])
    const again = await cli(['unlock', '--user', user.id])
    expect(again.code).toBe(1)
    expect(again.stderr.join('\n')).toContain('unlock: No lock in force on it')
  })

  it('lock --token with --until: the lock ends then', async () => {
    const { jwt } = await signUp(f.t)
    const bought = await purchase(f.t, jwt)
    const until = new Date(f.t.clock.now().getTime() + 3_600_000)
    const done = await cli(['lock', '--token', bought.id, '--message', 'Paused', '--until', until.toISOString()])
    expect(done.code, done.all()).toBe(0)
    expect(done.stdout.join('\n')).toContain(`locked token ${bought.id} until ${until.toISOString()}`)
    const [lock] = await openLocks(bought.id)
    expect(lock).toMatchObject({ targetType: 'token', message: 'Paused', expiresAt: until })
    expect((await cli(['unlock', '--token', bought.id])).code).toBe(0)
  })

  it('bad command lines exit 2 before anything is opened; unknown targets exit 1', async () => {
    const { user } = await signUp(f.t)
    for (const argv of [
      ['lock', '--message', 'No target'],
      ['lock', '--user', user.id, '--token', user.id, '--message', 'Both'],
      ['lock', '--user', user.id],
      ['lock', '--user', user.id, '--message', 'Bad time', '--until', 'next week'],
      ['lock', '--user', user.id, '--message', 'No offset', '--until', '2030-01-01T00:00:00'],
      ['lock', '--token', 'A'.repeat(64), '--message', 'A token, not an id'],
      ['unlock'],
    ]) {
      expect((await cli(argv)).code, argv.join(' ')).toBe(2)
    }
    const nobody = await cli(['lock', '--user', 'nobody@example.com', '--message', 'x'])
    expect(nobody.code).toBe(1)
    expect(nobody.stderr.join('\n')).toContain('lock: no user with email nobody@example.com')
    const noToken = await cli(['lock', '--token', '00000000-0000-4000-8000-000000000000', '--message', 'x'])
    expect(noToken.code).toBe(1)
    expect(noToken.stderr.join('\n')).toContain('lock: Token not found')
    const past = await cli(['lock', '--user', user.id, '--message', 'Late', '--until', '2000-01-01T00:00:00Z'])
    expect(past.code).toBe(1)
    expect(past.stderr.join('\n')).toContain('expires_at must be in the future')
    expect(parseCommandLine(['lock', '--user', 'a', '--message', 'b', '--until', 'c']).options).toEqual({ user: 'a', message: 'b', until: 'c' })
  })
})

describe('grant-token', () => {
  it('prints a usable token once, free of charge, with no ledger transaction', async () => {
    const { account, user } = await signUp(f.t)
    const done = await cli(['grant-token', '--user', account.email, '--hours', '12', '--reason', 'Support: replacement'])
    expect(done.code, done.all()).toBe(0)
    const token = done.stdout[done.stdout.length - 1]!
    recordSecret(token, 'granted access token')
    expect(token).toMatch(/^[A-Za-z0-9_-]{64}$/)
    expect(done.stdout.filter((l) => l.includes(token))).toHaveLength(1)
    expect(done.stderr.join('\n')).not.toContain(token)
    expect(await proxied(token)).toEqual({ status: 'forward' })
    const [row] = await f.db.db.select().from(accessTokens).where(eq(accessTokens.userId, user.id))
    expect(row).toMatchObject({ durationHours: 12, costMinor: 0 })
    expect(await f.db.db.select().from(ledgerTransactions).where(eq(ledgerTransactions.userId, user.id))).toEqual([])
  })

  it('bad hours, a short reason or a missing option exit 2; an unknown user exits 1', async () => {
    const { user } = await signUp(f.t)
    for (const argv of [
      ['grant-token', '--user', user.id, '--hours', '2', '--reason', 'Two hours'],
      ['grant-token', '--user', user.id, '--hours', '24', '--reason', 'x'],
      ['grant-token', '--user', user.id, '--hours', '24'],
    ]) {
      expect((await cli(argv)).code, argv.join(' ')).toBe(2)
    }
    expect((await cli(['grant-token', '--user', 'nobody@example.com', '--hours', '24', '--reason', 'Nobody'])).code).toBe(1)
  })
})
