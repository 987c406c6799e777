import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { asc, eq, gt, sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/run'
import { type AuditEventRow, auditEvents } from '../../src/db/schema'
import { startReconciler } from '../../src/runtime/node/payments-reconciler'
import { appFixture, purchase, signUp, TEST_SECRET, type TestDatabase } from '../support/harness'
import { recordSecret } from '../support/log-scan'
import { fund, PRICED } from './money'
import { capture } from './output'

const dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-cli-audit-'))

function cliOn(db: () => TestDatabase) {
  return async (argv: string[], env: Record<string, string> = {}) => {
    const io = capture()
    const database = db()
    const base = {
      SECRET_KEY: TEST_SECRET,
      DATA_DIR: dataDir,
      PAYMENT_PROVIDER: 'fake',
      BCRYPT_ROUNDS: '4',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
    }
    const code = await runCli(argv, { env: { ...base, ...env }, io, database })
    return { code, ...io }
  }
}

const f = appFixture(PRICED)
const cli = cliOn(() => f.db)

let mark = 0
async function newEvents(): Promise<AuditEventRow[]> {
  const rows = await f.db.db.select().from(auditEvents).where(gt(auditEvents.id, mark)).orderBy(asc(auditEvents.id))
  if (rows.length > 0) mark = rows[rows.length - 1]!.id
  return rows
}
const details = (e: AuditEventRow | undefined) => JSON.parse(e!.details) as Record<string, unknown>

describe('the CLI writes its own events', () => {
  it('adjust-balance: one balance.adjust and one cli.command, both by the CLI, in the adjustment’s transaction', async () => {
    const { user } = await signUp(f.t)
    await newEvents()
    const done = await cli(['adjust-balance', '--user', user.email, '--amount', '7.00', '--reason', 'Support ticket 41'])
    expect(done.code, done.stderr.join('\n')).toBe(0)
    const [adjusted, command, ...more] = await newEvents()
    expect(more).toEqual([])
    expect(adjusted).toMatchObject({ action: 'balance.adjust', actorType: 'cli', actorId: null, subjectUserId: user.id, resourceType: 'ledger_transaction' })
    expect(details(adjusted)).toEqual({ amount_znc: '7.00', reason: 'Support ticket 41', balance_after: '7.00' })
    expect(command).toMatchObject({ action: 'cli.command', actorType: 'cli', subjectUserId: user.id })
    expect(details(command)).toEqual({ command: 'adjust-balance' })
    // Refused (below zero): nothing moved, nothing recorded.
    expect((await cli(['adjust-balance', '--user', user.email, '--amount', '-70.00', '--reason', 'Too much'])).code).toBe(1)
    expect(await newEvents()).toEqual([])
  })

  it('create-superuser, deactivate-user and activate-user are cli.command events about the user', async () => {
    const password = 'cli superuser password'
    recordSecret(password, 'password')
    const email = `root-${Date.now()}@example.com`
    await newEvents()
    expect((await cli(['create-superuser', '--email', email, '--username', `root${Date.now()}`], { ADMIN_PASSWORD: password })).code).toBe(0)
    const [registered, created, ...more] = await newEvents()
    expect(more).toEqual([])
    expect(registered).toMatchObject({ action: 'auth.register', actorType: 'cli' })
    expect(created).toMatchObject({ action: 'cli.command', actorType: 'cli', subjectUserId: registered!.subjectUserId })
    expect(details(created)).toEqual({ command: 'create-superuser' })

    expect((await cli(['deactivate-user', '--email', email])).code).toBe(0)
    expect((await cli(['activate-user', '--email', email])).code).toBe(0)
    const events = await newEvents()
    expect(events.map((e) => [e.action, details(e).command, e.subjectUserId])).toEqual([
      ['cli.command', 'deactivate-user', registered!.subjectUserId],
      ['cli.command', 'activate-user', registered!.subjectUserId],
    ])
    for (const e of events) expect(JSON.stringify(e)).not.toContain(password)
  })
})

describe('audit-export', () => {
  it('writes the events to stdout as NDJSON or CSV, filtered by user and time', async () => {
    const u = await signUp(f.t)
    await fund(f.db.db, u.user.id, 5000)
    await purchase(f.t, u.jwt, 24)
    const nd = await cli(['audit-export', '--user', u.user.email])
    expect(nd.code, nd.stderr.join('\n')).toBe(0)
    const items = nd.stdout
      .join('\n')
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; subject_user_id: string })
    expect(items.map((i) => i.action)).toEqual(['auth.register', 'auth.login', 'token.purchase'])

    const csv = await cli(['audit-export', '--format', 'csv', '--user', u.user.id, '--since', '2000-01-01'])
    expect(csv.code).toBe(0)
    const lines = csv.stdout.join('\n').split('\n')
    expect(lines[0]).toBe('id,occurred_at,action,outcome,actor_type,actor_id,subject_user_id,resource_type,resource_id,ip,user_agent,request_id,details')
    expect(lines).toHaveLength(4)

    const none = await cli(['audit-export', '--user', u.user.id, '--until', '2000-01-01T00:00:00Z'])
    expect(none.stdout).toEqual([])
    expect((await cli(['audit-export', '--format', 'xml'])).code).toBe(2)
    expect((await cli(['audit-export', '--since', 'yesterday'])).code).toBe(2)
  })
})

describe('audit-verify', () => {
  const verify = () => cli(['audit-verify'])

  it('a whole chain is intact', async () => {
    const done = await verify()
    expect(done.code, done.all()).toBe(0)
    expect(done.stdout).toEqual([expect.stringMatching(/^audit-verify: \d+ events, chain intact$/)])
  })

  it('names an event edited out of band, and an event deleted in the middle, then one deleted at the end', async () => {
    const u = await signUp(f.t)
    await fund(f.db.db, u.user.id, 5000)
    for (let i = 0; i < 3; i++) await purchase(f.t, u.jwt, 1)
    const ids = (await f.db.db.select({ id: auditEvents.id }).from(auditEvents).orderBy(asc(auditEvents.id))).map((r) => r.id)
    const [edited, deleted, after] = ids.slice(-5, -2)

    await f.db.db.execute(sql`update audit_events set ip = '198.51.100.66' where id = ${edited}`)
    let done = await verify()
    expect(done.code).toBe(1)
    expect(done.stdout).toEqual([`audit-verify: event ${edited}: its contents were changed after it was written`])
    expect(done.stderr.join('\n')).toMatch(/problem\(s\)/)

    await f.db.db.execute(sql`delete from audit_events where id = ${deleted}`)
    done = await verify()
    expect(done.code).toBe(1)
    expect(done.stdout).toContain(`audit-verify: event ${after}: does not follow the event before it: an event was deleted before this one`)

    const last = ids[ids.length - 1]!
    await f.db.db.execute(sql`delete from audit_events where id = ${last}`)
    done = await verify()
    expect(done.code).toBe(1)
    expect(done.stdout.some((l) => /events at the end were deleted/.test(l))).toBe(true)
  })

  it('stays green after pruning what came before the damage away', async () => {
    // Everything so far (the damage included) is older than the retention once the clock moves on.
    f.t.clock.advance(40 * 86_400_000)
    await f.db.db.execute(sql`update audit_chain_head set last_id = (select max(id) from audit_events),
      last_hmac = (select hmac from audit_events order by id desc limit 1)`)
    const u = await signUp(f.t)
    await fund(f.db.db, u.user.id, 5000)
    await purchase(f.t, u.jwt, 24)
    // The server's periodic round (PAYMENTS_RECONCILE_SECONDS) prunes with AUDIT_RETENTION_DAYS.
    const round = startReconciler({
      database: f.db,
      payments: f.t.services.payments,
      seconds: 0,
      log: f.t.deps.log,
      audit: f.t.services.audit,
      auditRetentionDays: 30,
    })
    await round.tick()
    await round.stop()
    const [pruneEvent] = await f.db.db.select().from(auditEvents).where(eq(auditEvents.action, 'audit.prune'))
    expect(pruneEvent).toMatchObject({ actorType: 'system' })
    expect(Number(details(pruneEvent).deleted)).toBeGreaterThan(5)
    const done = await verify()
    expect(done.code, done.all()).toBe(0)
    expect(done.stdout).toEqual([expect.stringMatching(/^audit-verify: \d+ events, chain intact$/)])
  })
})
