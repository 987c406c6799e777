import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TokenCache } from '../../src/cache/interface'
import { createTieredCache } from '../../src/cache/tiered'
import { createBcryptHasher } from '../../src/crypto/password'
import { createLogger } from '../../src/logger'
import { type Accounts, createAccounts } from '../../src/services/accounts'
import { systemClock } from '../../src/services/clock'
import { DomainError } from '../../src/services/errors'
import { type TestDatabase, testDatabase } from '../support/harness'

let db: TestDatabase
let cache: TokenCache
let accounts: Accounts
beforeAll(async () => {
  db = await testDatabase()
  cache = await createTieredCache(
    null,
    createLogger(() => {}),
  )
  accounts = createAccounts({ db: db.db, hasher: createBcryptHasher(4), cache, clock: systemClock })
})
afterAll(async () => {
  await cache?.close()
  await db?.drop()
})

let n = 0
const account = () => ({ email: `svc-${Date.now()}-${n}@example.com`, username: `svc_${Date.now()}_${n++}`, password: 'correct horse battery' })

async function refusal(p: Promise<unknown>): Promise<DomainError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(DomainError)
  return err as DomainError
}

describe('the accounts service refuses with domain errors', () => {
  it('a taken email: email_taken, checked before the username', async () => {
    const a = account()
    await accounts.register(a)
    const err = await refusal(accounts.register({ ...account(), email: a.email.toUpperCase(), username: a.username }))
    expect(err).toMatchObject({ code: 'email_taken', message: 'Email already registered' })
  })

  it('a taken username: username_taken', async () => {
    const a = account()
    await accounts.register(a)
    expect(await refusal(accounts.register({ ...account(), username: a.username }))).toMatchObject({
      code: 'username_taken',
      message: 'Username already taken',
    })
  })

  it('two registrations racing past the checks: the unique index decides, still a domain error', async () => {
    const a = account()
    const results = await Promise.allSettled([accounts.register(a), accounts.register({ ...a, username: `${a.username}x` })])
    const rejected = results.filter((r) => r.status === 'rejected')
    expect(rejected).toHaveLength(1)
    expect((rejected[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'email_taken' })
    expect((rejected[0] as PromiseRejectedResult).reason).toBeInstanceOf(DomainError)
  })

  it('updating a user that is gone: user_not_found', async () => {
    expect(await refusal(accounts.update('00000000-0000-4000-8000-000000000000', { fullName: 'x' }))).toMatchObject({
      code: 'user_not_found',
      message: 'User not found',
    })
  })
})
