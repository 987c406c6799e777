import { randomBytes, randomUUID } from 'node:crypto'
import bcrypt from 'bcryptjs'
import { and, eq } from 'drizzle-orm'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importPythonBackend, mappedId, toMinorUnits } from '../../src/cli/import-python-backend'
import { runCli } from '../../src/cli/run'
import { generateAccessToken, hashAccessToken } from '../../src/crypto/access-token'
import { createBcryptHasher } from '../../src/crypto/password'
import { accessTokens, ledgerTransactions, users } from '../../src/db/schema'
import { publicUrl } from '../../src/services/health'
import { balanceOf } from '../../src/services/ledger'
import { signUp, startApp, TEST_SECRET, type TestApp, type TestDatabase, testDatabase } from '../support/harness'
import { recordSecret } from '../support/log-scan'
import { capture } from './output'

describe('toMinorUnits: exact, never rounded', () => {
  it('converts the numeric text of a balance', () => {
    expect(toMinorUnits('150.50')).toEqual({ minor: 15050 })
    expect(toMinorUnits('0')).toEqual({ minor: 0 })
    expect(toMinorUnits('0.00')).toEqual({ minor: 0 })
    expect(toMinorUnits('-0.00')).toEqual({ minor: 0 })
    expect(toMinorUnits('7')).toEqual({ minor: 700 })
    expect(toMinorUnits('0.05')).toEqual({ minor: 5 })
    expect(toMinorUnits('1.500')).toEqual({ minor: 150 }) // trailing zeros are exact
    expect(toMinorUnits('99999999.99')).toEqual({ minor: 9_999_999_999 }) // numeric(10,2)'s largest
  })

  it('refuses what would need rounding, negatives and non-numbers, saying why', () => {
    expect(toMinorUnits('1.005')).toEqual({ reason: expect.stringMatching(/more than 2 decimals.*not rounded/) })
    expect(toMinorUnits('-5.00')).toEqual({ reason: expect.stringMatching(/negative/) })
    expect(toMinorUnits('NaN')).toEqual({ reason: expect.stringMatching(/not a number/) })
    expect(toMinorUnits('1e3')).toEqual({ reason: expect.stringMatching(/not a number/) })
    expect(toMinorUnits('123456789012345678')).toEqual({ reason: expect.stringMatching(/too large/) })
  })
})

describe('mappedId', () => {
  it('keeps UUIDs and derives a stable UUID from anything else', () => {
    const id = randomUUID()
    expect(mappedId('user', id.toUpperCase())).toBe(id)
    const derived = mappedId('user', '42')
    expect(derived).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(mappedId('user', '42')).toBe(derived)
    expect(mappedId('token', '42')).not.toBe(derived)
  })
})

/**
 * The earlier backend's tables at its last Alembic revision (f83f3a8db3d9), only the
 * columns the import reads. One difference: currency_balance is numeric(10,2) there,
 * which could never hold "1.005"; plain numeric here lets the test show that such a
 * value is refused rather than rounded.
 */
const EARLIER_SCHEMA = `
  create table alembic_version (version_num varchar(32) not null primary key);
  insert into alembic_version values ('f83f3a8db3d9');
  create table users (
    id uuid primary key,
    email varchar not null,
    username varchar not null,
    hashed_password varchar not null,
    full_name varchar,
    is_active boolean not null,
    is_superuser boolean not null,
    created_at timestamp without time zone not null,
    updated_at timestamp without time zone not null,
    currency_balance numeric not null default 0.00
  );
  create unique index ix_users_email on users (email);
  create unique index ix_users_username on users (username);
  create table access_tokens (
    id uuid primary key,
    user_id uuid not null references users (id),
    token varchar not null,
    duration_hours integer not null,
    created_at timestamp without time zone not null,
    activated_at timestamp without time zone,
    is_active boolean not null,
    revoked_at timestamp without time zone,
    scope varchar not null default 'full'
  );
  create unique index ix_access_tokens_token on access_tokens (token);
`

const HOUR = 3_600_000
// Whole seconds: what the earlier backend stored has microseconds at most, and a JS Date keeps milliseconds.
const now = Math.floor(Date.now() / 1000) * 1000
const ago = (hours: number) => new Date(now - hours * HOUR)

interface SeedUser {
  id: string
  email: string
  username: string
  password: string
  hash: string
  fullName?: string | null
  isActive?: boolean
  isSuperuser?: boolean
  balance: string
  createdAt: Date
}

interface SeedToken {
  id: string
  userId: string
  token: string
  durationHours: number
  activatedAt?: Date | null
  isActive?: boolean
  revokedAt?: Date | null
  scope?: string
  createdAt: Date
}

const adminUrl = process.env.DATABASE_URL

// The source must be a PostgreSQL url, so this needs a real server.
describe.skipIf(!adminUrl)('import-python-backend', () => {
  const sourceName = `zenzefi_earlier_${randomBytes(6).toString('hex')}`
  const sourceUrl = (() => {
    if (!adminUrl) return ''
    const u = new URL(adminUrl)
    u.pathname = `/${sourceName}`
    return u.toString()
  })()
  let db: TestDatabase
  let t: TestApp

  const n = randomBytes(3).toString('hex')
  const mk = (name: string, over: Partial<SeedUser> & { cost?: number } = {}): SeedUser => {
    const password = `${name} password ${n}`
    recordSecret(password, 'password')
    return {
      id: randomUUID(),
      email: `${name}${n}@example.com`,
      username: `${name}_${n}`,
      password,
      hash: bcrypt.hashSync(password, over.cost ?? 4),
      balance: '0.00',
      createdAt: ago(1000),
      ...over,
    }
  }
  // Email with capitals, as the earlier backend kept it; its balance and tokens are the main case.
  const alice = mk('alice', { email: `Alice.${n}@Example.COM`, fullName: 'Alice A', balance: '150.50', createdAt: ago(2000) })
  // Same email once lower-cased, registered later: the earlier one wins.
  const aliceAgain = mk('alice2', { email: `alice.${n}@example.com`, balance: '10.00', createdAt: ago(1500) })
  // Cost 12, the cost the earlier backend hashed at ($2b$, as passlib writes).
  const grace = mk('grace', { cost: 12, isSuperuser: true, balance: '0' })
  const carol = mk('carol', { balance: '1.005' })
  const frank = mk('frank', { isActive: false, balance: '-5.00' })
  // Their email / username already belong to accounts registered here.
  const dave = mk('dave', { balance: '3.00' })
  const erin = mk('erin')
  const sourceUsers = [alice, aliceAgain, grace, carol, frank, dave, erin]

  const tok = (user: SeedUser, over: Partial<SeedToken> = {}): SeedToken => {
    const token = over.token ?? generateAccessToken()
    recordSecret(token, 'access token')
    return { id: randomUUID(), userId: user.id, token, durationHours: 24, createdAt: ago(100), ...over }
  }
  const fresh = tok(alice) // bought, never used
  const activated = tok(alice, { durationHours: 12, activatedAt: ago(2), createdAt: ago(3) })
  const revoked = tok(alice, { durationHours: 168, isActive: false, revokedAt: ago(5) })
  const expired = tok(grace, { durationHours: 1, activatedAt: ago(50), createdAt: ago(60) })
  const short = tok(alice, { token: `short-${randomBytes(16).toString('hex')}` })
  const oddDuration = tok(alice, { durationHours: 48 })
  const certificatesOnly = tok(alice, { scope: 'certificates_only' })
  const ofDuplicate = tok(aliceAgain)
  const sourceTokens = [fresh, activated, revoked, expired, short, oddDuration, certificatesOnly, ofDuplicate]

  let daveHere: { id: string }
  let erinHere: { id: string; email: string }

  beforeAll(async () => {
    const admin = postgres(adminUrl!, { max: 1, onnotice: () => {} })
    await admin.unsafe(`create database ${sourceName}`)
    await admin.end()
    // Session in UTC: the earlier backend's timestamps are naive UTC.
    const src = postgres(sourceUrl, { max: 1, onnotice: () => {}, connection: { TimeZone: 'UTC' } })
    await src.unsafe(EARLIER_SCHEMA)
    for (const u of sourceUsers) {
      await src`insert into users ${src({
        id: u.id,
        email: u.email,
        username: u.username,
        hashed_password: u.hash,
        full_name: u.fullName ?? null,
        is_active: u.isActive ?? true,
        is_superuser: u.isSuperuser ?? false,
        created_at: u.createdAt,
        updated_at: u.createdAt,
        currency_balance: u.balance,
      })}`
    }
    for (const k of sourceTokens) {
      await src`insert into access_tokens ${src({
        id: k.id,
        user_id: k.userId,
        token: k.token,
        duration_hours: k.durationHours,
        created_at: k.createdAt,
        activated_at: k.activatedAt ?? null,
        is_active: k.isActive ?? true,
        revoked_at: k.revokedAt ?? null,
        scope: k.scope ?? 'full',
      })}`
    }
    await src.end()

    db = await testDatabase()
    t = await startApp({ database: db })
    daveHere = (await signUp(t, { email: dave.email.toUpperCase() })).user
    erinHere = (await signUp(t, { username: erin.username })).user
  })

  afterAll(async () => {
    await t?.close()
    await db?.drop()
    if (!adminUrl) return
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
    await admin.unsafe(`drop database if exists ${sourceName} with (force)`)
    await admin.end()
  })

  const run = () => {
    const io = capture()
    return importPythonBackend({ db: db.db, cipher: t.deps.cipher }, sourceUrl, io).then((report) => ({ report, io, text: io.all() }))
  }
  const tokenRow = async (token: string) =>
    (
      await db.db
        .select()
        .from(accessTokens)
        .where(eq(accessTokens.tokenHash, await hashAccessToken(token)))
    )[0]
  const login = (email: string, password: string) => t.request('/api/v1/auth/login', { method: 'POST', json: { email, password } })

  let first: Awaited<ReturnType<typeof run>>

  it('imports users, tokens and balances, and says what it skipped and why', async () => {
    first = await run()
    const { report, text } = first
    expect(report.users).toEqual({ imported: 4, 'already imported': 0, skipped: 3 })
    // 4 imported; skipped: 3 of alice's (length, duration, scope) and 1 of the duplicate's.
    expect(report.tokens).toEqual({ imported: 4, 'already imported': 0, skipped: 4 })

    expect(text).toContain(`read the earlier backend at ${publicUrl(sourceUrl)} (revision f83f3a8db3d9): 7 user(s), 8 access token(s)`)
    expect(text).toMatch(
      new RegExp(`imported user ${alice.username} <alice\\.${n}@example\\.com> \\(id ${alice.id}\\): 3 access token\\(s\\) \\(1 activated, 1 revoked\\)`),
    )
    expect(text).toMatch(new RegExp(`imported user ${grace.username} .*, superuser: 1 access token`))
    expect(text).toMatch(new RegExp(`imported user ${frank.username} .*, inactive: no access tokens`))
    const reason = (id: string) => report.skipped.filter((s) => s.id === id).map((s) => `${s.kind}: ${s.reason}`)
    expect(reason(aliceAgain.id)).toEqual([
      expect.stringMatching(new RegExp(`^user: email is alice\\.${n}@example\\.com once lower-cased, as is user ${alice.id}'s, which came first`)),
    ])
    expect(reason(aliceAgain.id)[0]).toMatch(/not imported with it: 1 access token\(s\), balance 10.00 ZNC/)
    expect(reason(dave.id)).toEqual([expect.stringMatching(/^user: email .* is already registered here by another account/)])
    expect(reason(erin.id)).toEqual([expect.stringMatching(/^user: username .* is already taken here by another account/)])
    expect(reason(short.id)).toEqual([expect.stringMatching(/^access token: token is not 64 URL-safe characters/)])
    expect(reason(oddDuration.id)).toEqual([expect.stringMatching(/^access token: duration 48 h is not one of 1, 12, 24, 168, 720/)])
    expect(reason(certificatesOnly.id)).toEqual([expect.stringMatching(/^access token: scope certificates_only has no equivalent here/)])
    for (const s of report.skipped) expect(text).toContain(s.reason)

    // Nothing secret in what it printed.
    for (const u of sourceUsers) {
      expect(text).not.toContain(u.password)
      expect(text).not.toContain(u.hash)
    }
    for (const k of sourceTokens) expect(text).not.toContain(k.token)
  })

  it('keeps ids and lower-cases emails; the accounts already here are untouched', async () => {
    const [a] = await db.db.select().from(users).where(eq(users.id, alice.id))
    expect(a).toMatchObject({ email: alice.email.toLowerCase(), username: alice.username, fullName: 'Alice A', isActive: true, isSuperuser: false })
    expect(a!.createdAt.getTime()).toBe(alice.createdAt.getTime())
    const [g] = await db.db.select().from(users).where(eq(users.id, grace.id))
    expect(g).toMatchObject({ isSuperuser: true, isActive: true })
    const [f] = await db.db.select().from(users).where(eq(users.id, frank.id))
    expect(f).toMatchObject({ isActive: false })
    expect(await db.db.$count(users, eq(users.id, aliceAgain.id))).toBe(0)
    expect(await db.db.$count(users, eq(users.id, dave.id))).toBe(0)
    expect(await db.db.$count(users, eq(users.id, erin.id))).toBe(0)
    const [d] = await db.db.select().from(users).where(eq(users.email, dave.email.toLowerCase()))
    expect(d!.id).toBe(daveHere.id)
    const [e] = await db.db.select().from(users).where(eq(users.username, erin.username))
    expect(e).toMatchObject({ id: erinHere.id, email: erinHere.email })
  })

  it('passwords verify unchanged: with our hasher and through the login route', async () => {
    const hasher = createBcryptHasher(4)
    for (const u of [alice, grace, carol]) {
      const [row] = await db.db.select().from(users).where(eq(users.id, u.id))
      expect(row!.hashedPassword).toBe(u.hash)
      expect(await hasher.verify(u.password, row!.hashedPassword)).toBe(true)
      expect(await hasher.verify(`${u.password}x`, row!.hashedPassword)).toBe(false)
    }
    expect(grace.hash.startsWith('$2b$12$')).toBe(true)
    expect((await login(alice.email, alice.password)).status).toBe(200) // as typed there, capitals and all
    expect((await login(grace.email, grace.password)).status).toBe(200)
    expect((await login(frank.email, frank.password)).status).toBe(401) // inactive there, inactive here
  })

  it('tokens are found by hash, decrypt to the same string, and keep their clocks and revocation', async () => {
    for (const k of [fresh, activated, revoked, expired]) {
      const row = await tokenRow(k.token)
      expect(row, k.id).toBeDefined()
      expect(row!.id).toBe(k.id)
      expect(row!.userId).toBe(k.userId)
      expect(await t.deps.cipher.decrypt(row!.tokenCiphertext)).toBe(k.token)
      expect(row!.createdAt.getTime()).toBe(k.createdAt.getTime())
    }
    for (const k of [short, oddDuration, certificatesOnly, ofDuplicate]) expect(await db.db.$count(accessTokens, eq(accessTokens.id, k.id))).toBe(0)

    const f = await tokenRow(fresh.token)
    expect(f).toMatchObject({ activatedAt: null, expiresAt: null, isActive: true, revokedAt: null, durationHours: 24 })

    const a = await tokenRow(activated.token)
    expect(a).toMatchObject({ isActive: true, durationHours: 12 })
    expect(a!.activatedAt!.getTime()).toBe(activated.activatedAt!.getTime())
    expect(a!.expiresAt!.getTime()).toBe(activated.activatedAt!.getTime() + 12 * HOUR)

    const r = await tokenRow(revoked.token)
    expect(r).toMatchObject({ isActive: false, activatedAt: null })
    expect(r!.revokedAt!.getTime()).toBe(revoked.revokedAt!.getTime())

    const x = await tokenRow(expired.token)
    expect(x!.expiresAt!.getTime()).toBe(expired.activatedAt!.getTime() + HOUR)

    // And the app honours them as they were: the clock already running is not restarted.
    expect(await t.services.tokens.checkStatus(fresh.token)).toMatchObject({ tokenId: fresh.id, activatedAt: null, expiresAt: null })
    expect(await t.services.tokens.validateAndActivate(activated.token)).toMatchObject({
      tokenId: activated.id,
      activatedAt: activated.activatedAt!.getTime(),
      expiresAt: activated.activatedAt!.getTime() + 12 * HOUR,
    })
    expect(await t.services.tokens.checkStatus(revoked.token)).toBeNull()
    expect(await t.services.tokens.validateAndActivate(revoked.token)).toBeNull()
    expect(await t.services.tokens.checkStatus(expired.token)).toBeNull()
  })

  // --- balances: these need the ledger (src/services/ledger.ts, drizzle/0001_ledger.sql) ---

  it('LEDGER: each balance becomes one opening transaction; zero posts nothing; 1.005 and negatives are skipped, not rounded', async () => {
    const { report, text } = first
    expect(report.balances).toEqual({ imported: 1, 'already imported': 0, skipped: 4, zero: 1 })
    // skipped: carol 1.005, frank -5.00, and the balances of the two skipped users that had one (the duplicate, dave)
    expect(await balanceOf(db.db, alice.id)).toBe(15050)
    expect(text).toMatch(new RegExp(`imported user ${alice.username} .*, opening balance 150.50 ZNC`))
    const opening = await db.db
      .select()
      .from(ledgerTransactions)
      .where(and(eq(ledgerTransactions.userId, alice.id), eq(ledgerTransactions.kind, 'opening')))
    expect(opening).toEqual([expect.objectContaining({ reference: `python:${alice.id}` })])

    expect(text).toMatch(new RegExp(`imported user ${grace.username} .*: .*, zero balance`))
    expect(await db.db.$count(ledgerTransactions, eq(ledgerTransactions.userId, grace.id))).toBe(0)

    const reason = (id: string) => report.skipped.filter((s) => s.id === id && s.kind === 'balance').map((s) => s.reason)
    expect(reason(carol.id)).toEqual([expect.stringMatching(/^1.005 ZNC has more than 2 decimals .*not rounded/)])
    expect(reason(frank.id)).toEqual([expect.stringMatching(/^-5.00 ZNC is negative/)])
    expect(await balanceOf(db.db, carol.id)).toBe(0)
    expect(await balanceOf(db.db, frank.id)).toBe(0)
    // The user is imported even when their balance is not.
    expect(await db.db.$count(users, eq(users.id, carol.id))).toBe(1)
  })

  it('a second run imports nothing new and says so', async () => {
    const { report, text } = await run()
    expect(report.users).toEqual({ imported: 0, 'already imported': 4, skipped: 3 })
    expect(report.tokens).toEqual({ imported: 0, 'already imported': 4, skipped: 4 })
    expect(text).toContain('nothing new to import: everything importable was already imported')
    expect(text).not.toMatch(/^imported user/m)
    // Still skipped, still saying why.
    expect(report.skipped.map((s) => s.reason)).toEqual(first.report.skipped.map((s) => s.reason))
    expect(await db.db.$count(users)).toBe(4 + 2) // the import's four and the two registered here
    expect(await db.db.$count(accessTokens)).toBe(4)
    // LEDGER: the opening balance is posted once (postOpeningBalance answers 'duplicate').
    expect(report.balances).toEqual({ imported: 0, 'already imported': 1, skipped: 4, zero: 1 })
    expect(await balanceOf(db.db, alice.id)).toBe(15050)
    expect(await db.db.$count(ledgerTransactions, eq(ledgerTransactions.userId, alice.id))).toBe(1)
  })

  it('runs from the command line (exit 0), adds nothing the third time, and leaves a ledger whose invariants hold', async () => {
    const cli = async (argv: string[]) => {
      const io = capture()
      const code = await runCli(argv, { env: { SECRET_KEY: TEST_SECRET, DATABASE_URL: db.url! }, io, database: db })
      return { code, ...io }
    }
    const r = await cli(['import-python-backend', '--from', sourceUrl])
    expect(r.code, r.all()).toBe(0)
    expect(r.stdout[0]).toBe(`read the earlier backend at ${publicUrl(sourceUrl)} (revision f83f3a8db3d9): 7 user(s), 8 access token(s)`)
    expect(r.stdout).toContain('nothing new to import: everything importable was already imported')
    expect(r.stdout.at(-2)).toMatch(/^done: users 0 imported, 4 already imported, 3 skipped; /)
    expect(await balanceOf(db.db, alice.id)).toBe(15050)
    expect(await db.db.$count(ledgerTransactions, eq(ledgerTransactions.userId, alice.id))).toBe(1)
    for (const k of sourceTokens) expect(r.all()).not.toContain(k.token)

    const check = await cli(['ledger-check'])
    expect(check.code, check.all()).toBe(0)
    expect(check.stdout[0]).toMatch(/^ledger-check: all invariants hold \(1 transaction\(s\), \d+ wallet\(s\)\)$/)
  })

  it('refuses a source that is not the earlier backend, and a missing or non-postgres --from', async () => {
    const io = capture()
    await expect(importPythonBackend({ db: db.db, cipher: t.deps.cipher }, undefined, io)).rejects.toThrow(/missing --from/)
    await expect(importPythonBackend({ db: db.db, cipher: t.deps.cipher }, 'mysql://x/y', io)).rejects.toThrow(/postgres:\/\//)
    // Our own database has users and access_tokens but not their columns.
    await expect(importPythonBackend({ db: db.db, cipher: t.deps.cipher }, db.url!, io)).rejects.toThrow(
      /the source has no access_tokens\.token: is it the earlier backend's database\?/,
    )
  })
})
