import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { beforeEach, describe, expect, it } from 'vitest'
import { checkDb } from '../../src/cli/check-db'
import { clearDb } from '../../src/cli/clear-db'
import { migrate } from '../../src/cli/migrate'
import { resetDb } from '../../src/cli/reset-db'
import { runCli } from '../../src/cli/run'
import { MIGRATIONS_DIR, openDatabase } from '../../src/db/connect-node'
import { accessTokens, users } from '../../src/db/schema'
import { appFixture, purchase, signUp, TEST_SECRET } from '../support/harness'
import { capture } from './output'

const MIGRATION_FILES = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR }).length

const f = appFixture()

const rows = async () => ({ users: await f.db.db.$count(users), accessTokens: await f.db.db.$count(accessTokens) })
const check = () => checkDb({ database: f.db, description: f.db.kind }, capture())

/** Two users with tokens, one token used so its grant sits in the app's cache. */
async function seed() {
  const a = await signUp(f.t)
  const b = await signUp(f.t)
  const token = await purchase(f.t, a.jwt)
  await purchase(f.t, b.jwt)
  await f.t.services.tokens.validateAndActivate(token.token)
  expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull() // answered from the cache
  return { a, b, token }
}

/** The whole account flow works on whatever schema is there now. */
async function appWorks() {
  const { jwt } = await signUp(f.t)
  await purchase(f.t, jwt)
  const me = await f.t.request('/api/v1/users/me', { bearer: jwt })
  expect(me.status).toBe(200)
}

/** A database as it is before anything ever migrated it. */
async function unmigrate() {
  await f.db.db.execute(sql`drop table if exists access_tokens, users cascade`)
  await f.db.db.execute(sql`drop schema if exists drizzle cascade`)
}

// Each test starts from an empty, fully migrated database.
beforeEach(async () => {
  await resetDb({ database: f.db, cache: f.t.deps.cache }, capture())
})

describe('check-db', () => {
  it('reports the database kind, migrations applied against drizzle/, and row counts', async () => {
    await seed()
    const io = capture()
    const report = await checkDb({ database: f.db, description: `${f.db.kind} (test)` }, io)
    expect(report).toEqual({ kind: f.db.kind, migrations: { files: MIGRATION_FILES, applied: MIGRATION_FILES, pending: 0 }, users: 2, accessTokens: 2 })
    expect(io.stdout).toEqual([
      `database: ${f.db.kind} (test), reachable`,
      `migrations: ${MIGRATION_FILES} applied, ${MIGRATION_FILES} in drizzle/ (up to date)`,
      'users: 2',
      'access_tokens: 2',
    ])
  })

  it('reports an unmigrated database as pending, with its tables missing, and changes nothing', async () => {
    await unmigrate()
    const io = capture()
    expect(await checkDb({ database: f.db, description: f.db.kind }, io)).toMatchObject({
      migrations: { applied: 0, pending: MIGRATION_FILES },
      users: null,
      accessTokens: null,
    })
    expect(io.stdout).toContain('users: table missing')
    expect((await check()).migrations.applied).toBe(0)
  })

  it('fails with "database unreachable" when it cannot connect', async () => {
    const gone = await openDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:1/nowhere', dataDir: 'memory://' })
    try {
      await expect(checkDb({ database: gone, description: 'postgres (127.0.0.1:1)' }, capture())).rejects.toMatchObject({
        exitCode: 1,
        message: expect.stringMatching(/^database unreachable: postgres \(127\.0\.0\.1:1\): .*ECONNREFUSED/),
      })
    } finally {
      await gone.close()
    }
  })
})

describe('migrate', () => {
  it('migrates a fresh database; a second run applies nothing', async () => {
    await unmigrate()
    const first = capture()
    expect(await migrate({ database: f.db, databaseUrl: f.db.url }, first)).toMatchObject({ applied: MIGRATION_FILES })
    expect(first.stdout[0]).toMatch(new RegExp(`^migrations: applied ${MIGRATION_FILES}; now .*\\(up to date\\)`))
    const second = capture()
    expect(await migrate({ database: f.db, databaseUrl: f.db.url }, second)).toMatchObject({ applied: 0 })
    expect(second.stdout[0]).toMatch(/^migrations: nothing to apply/)
    await appWorks()
  })
})

describe('clear-db', () => {
  it("empties users and access_tokens, keeps the schema, and drops the deleted tokens from the app's cache", async () => {
    const { a, token } = await seed()
    const io = capture()
    expect(await clearDb({ db: f.db.db, cache: f.t.deps.cache }, io)).toEqual({ users: 2, accessTokens: 2 })
    expect(io.stdout[0]).toBe('deleted 2 user(s) and 2 access token(s); schema and migrations kept')
    expect(await rows()).toEqual({ users: 0, accessTokens: 0 })
    expect(await f.t.services.tokens.validateAndActivate(token.token)).toBeNull()
    expect((await f.t.request('/api/v1/users/me', { bearer: a.jwt })).status).toBe(401)
    expect((await check()).migrations).toMatchObject({ applied: MIGRATION_FILES, pending: 0 })
    expect(await clearDb({ db: f.db.db, cache: f.t.deps.cache }, capture())).toEqual({ users: 0, accessTokens: 0 })
    await appWorks()
  })
})

describe('reset-db', () => {
  it('drops tables and bookkeeping and re-migrates: an empty, working, up-to-date schema', async () => {
    const { token } = await seed()
    const io = capture()
    const result = await resetDb({ database: f.db, cache: f.t.deps.cache }, io)
    expect(result).toEqual({ dropped: expect.arrayContaining(['"public"."users"', '"public"."access_tokens"']), migrations: MIGRATION_FILES })
    expect(io.stdout.join('\n')).toMatch(/and schema "drizzle"\nmigrations: replayed \d+; now .*\(up to date\); the database is empty/)
    expect(await rows()).toEqual({ users: 0, accessTokens: 0 })
    expect(await f.t.services.tokens.validateAndActivate(token.token)).toBeNull()
    // The bookkeeping is drizzle's own: the migrator (what the server runs at startup) finds nothing to do.
    expect(await migrate({ database: f.db, databaseUrl: f.db.url }, capture())).toMatchObject({ applied: 0 })
    await appWorks()
  })

  it('also works on a database that was never migrated, and twice in a row', async () => {
    await unmigrate()
    expect((await resetDb({ database: f.db, cache: f.t.deps.cache }, capture())).dropped).toEqual([])
    await resetDb({ database: f.db, cache: f.t.deps.cache }, capture())
    expect((await check()).migrations).toEqual({ files: MIGRATION_FILES, applied: MIGRATION_FILES, pending: 0 })
    await appWorks()
  })
})

describe('destructive commands through the CLI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-cli-'))
  const run = (argv: string[], env: Record<string, string>) => {
    const io = capture()
    const env2 = { SECRET_KEY: TEST_SECRET, DATA_DIR: dataDir, ...(f.db.url ? { DATABASE_URL: f.db.url } : {}), ...env }
    return runCli(argv, { env: env2, io, database: f.db }).then((code) => ({ code, ...io }))
  }

  it.each(['clear-db', 'reset-db'])('%s refuses with NODE_ENV=production unless --yes is given', async (command) => {
    await seed()
    const refused = await run([command], { NODE_ENV: 'production' })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toEqual([`refusing to run ${command} with NODE_ENV=production: it destroys data; pass --yes to confirm`])
    expect(refused.stdout).toEqual([])
    expect(await rows()).toEqual({ users: 2, accessTokens: 2 })

    const confirmed = await run([command, '--yes'], { NODE_ENV: 'production' })
    expect(confirmed.code).toBe(0)
    expect(await rows()).toEqual({ users: 0, accessTokens: 0 })
  })

  it.each(['clear-db', 'reset-db'])('%s runs without --yes in development', async (command) => {
    await seed()
    const done = await run([command], {})
    expect(done.code).toBe(0)
    expect(done.stderr).toEqual([])
    expect(done.stdout[0]).toMatch(new RegExp(`^database: ${f.db.kind} \\(`))
    expect(await rows()).toEqual({ users: 0, accessTokens: 0 })
  })
})
