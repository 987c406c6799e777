import { eq } from 'drizzle-orm'
import { DrizzleQueryError } from 'drizzle-orm/errors'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { users } from '../src/db/schema'
import { consoleLogger, createLogger, serializeError } from '../src/logger'
import { stdoutLogger } from '../src/runtime/node/stdout-log'
import { type TestDatabase, testDatabase } from './support/harness'

// Real failing queries on the test database (PostgreSQL or PGlite), each carrying a
// secret-looking parameter, through every logger the runtimes use.
let db: TestDatabase
beforeAll(async () => {
  db = await testDatabase()
})
afterAll(async () => {
  await db?.drop()
})

const SECRET_HASH = '$2b$12$SecretLookingBcryptHashThatMustNeverBeLoggedAnywhere0123'
const SECRET_VALUE = 'zz-secret-value-quoted-by-postgres'

async function failing(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run()
  } catch (err) {
    return err
  }
  throw new Error('the query was expected to fail')
}

/** Three kinds of failure: a unique violation (params hold the hash), bad input PostgreSQL quotes in its message, NUL in text. */
async function realQueryErrors() {
  const row = { email: `dup-${Date.now()}@example.com`, username: `dup_${Date.now()}`, hashedPassword: SECRET_HASH }
  await db.db.insert(users).values(row)
  return {
    unique: await failing(() => db.db.insert(users).values({ ...row, username: `${row.username}x` })),
    badUuid: await failing(() => db.db.update(users).set({ hashedPassword: SECRET_HASH }).where(eq(users.id, SECRET_VALUE))),
    nul: await failing(() =>
      db.db
        .update(users)
        .set({ fullName: `${SECRET_VALUE}\u0000`, hashedPassword: SECRET_HASH })
        .where(eq(users.email, row.email)),
    ),
  }
}

describe('logging a query error', () => {
  it('the errors are real drizzle query errors whose message and params do hold the secrets (so the test means something)', async () => {
    const errors = await realQueryErrors()
    for (const err of Object.values(errors)) {
      expect(err).toBeInstanceOf(DrizzleQueryError)
      const e = err as DrizzleQueryError
      expect(`${e.message}${e.stack}${JSON.stringify(e.params)}${(e.cause as Error).message}`).toMatch(/SecretLookingBcryptHash|zz-secret-value/)
    }
  })

  it('gives name, SQLSTATE and query text, never a message, a parameter or a value', async () => {
    const errors = await realQueryErrors()
    const codes = { unique: '23505', badUuid: '22P02', nul: '22021' }
    for (const [kind, err] of Object.entries(errors)) {
      const out = serializeError(err)
      expect(out).toMatchObject({ name: 'DrizzleQueryError', code: codes[kind as keyof typeof codes] })
      expect(out.query).toEqual((err as DrizzleQueryError).query)
      expect(out.query).toMatch(/\$1/)
      expect(out).not.toHaveProperty('message')
      const text = JSON.stringify(out)
      expect(text).not.toContain('SecretLookingBcryptHash')
      expect(text).not.toContain(SECRET_VALUE)
      expect(text).not.toMatch(/Failed query|params:/)
    }
    expect(serializeError(errors.unique).constraint).toBe('users_email_key')
  })

  it('the driver error itself (drizzle’s cause) is reduced the same way', async () => {
    const { badUuid } = await realQueryErrors()
    const cause = (badUuid as Error).cause
    expect((cause as Error).message).toContain(SECRET_VALUE)
    const out = serializeError(cause)
    expect(out).toMatchObject({ code: '22P02' })
    expect(JSON.stringify(out)).not.toContain(SECRET_VALUE)
  })

  it('no logger of either runtime writes them: createLogger, consoleLogger (Workers), stdoutLogger (Node)', async () => {
    const errors = await realQueryErrors()
    const lines: string[] = []
    const logged = (log: ReturnType<typeof createLogger>) => {
      for (const err of Object.values(errors)) log.error('unhandled error', { error: err, cause: (err as Error).cause })
    }
    logged(createLogger((l) => lines.push(l), 'debug'))
    const consoleSpy = vi.spyOn(console, 'log').mockImplementation((l: unknown) => void lines.push(String(l)))
    try {
      logged(consoleLogger('debug'))
    } finally {
      consoleSpy.mockRestore()
    }
    const writes: string[] = []
    const stdoutSpy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk))
      return true
    })
    try {
      logged(stdoutLogger('debug'))
      await new Promise((r) => setImmediate(r))
    } finally {
      stdoutSpy.mockRestore()
    }
    lines.push(...writes.join('').split('\n').filter(Boolean))
    expect(lines).toHaveLength(9)
    for (const line of lines) {
      expect(line).not.toContain('SecretLookingBcryptHash')
      expect(line).not.toContain(SECRET_VALUE)
      expect(JSON.parse(line).error.code).toMatch(/^(23505|22P02|22021)$/)
    }
  })

  it('other errors keep name, message and code; a stack keeps its frames, not the message lines', () => {
    const err = Object.assign(new TypeError('fetch failed'), { code: 'ECONNREFUSED' })
    err.stack = `TypeError: fetch failed\nwith a second line\n    at probe (file:///src/x.ts:1:1)\n    at run (file:///src/y.ts:2:2)`
    expect(serializeError(err)).toEqual({
      name: 'TypeError',
      message: 'fetch failed',
      code: 'ECONNREFUSED',
      stack: 'at probe (file:///src/x.ts:1:1)\nat run (file:///src/y.ts:2:2)',
    })
    expect(serializeError('a thrown string with a secret')).toEqual({ name: 'NonError', type: 'string' })
  })
})
