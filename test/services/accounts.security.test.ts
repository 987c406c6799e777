import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TokenCache } from '../../src/cache/interface'
import { createTieredCache } from '../../src/cache/tiered'
import { createBcryptHasher, type PasswordHasher } from '../../src/crypto/password'
import { createLogger } from '../../src/logger'
import { createAccounts } from '../../src/services/accounts'
import { systemClock } from '../../src/services/clock'
import { type TestDatabase, testDatabase } from '../support/harness'

let db: TestDatabase
let cache: TokenCache
beforeAll(async () => {
  db = await testDatabase()
  cache = await createTieredCache(
    null,
    createLogger(() => {}),
  )
})
afterAll(async () => {
  await cache?.close()
  await db?.drop()
})

/** The in-thread bcryptjs hasher (what Workers run), recording every call. */
function recordingHasher(rounds: number) {
  const inner = createBcryptHasher(rounds)
  const calls: { op: 'hash' | 'verify'; hash?: string }[] = []
  const hasher: PasswordHasher = {
    rounds,
    hash: (p) => {
      calls.push({ op: 'hash' })
      return inner.hash(p)
    },
    verify: (p, h) => {
      calls.push({ op: 'verify', hash: h })
      return inner.verify(p, h)
    },
  }
  return { hasher, calls }
}

const accountsWith = (hasher: PasswordHasher) => createAccounts({ db: db.db, hasher, cache, clock: systemClock })

describe('a login for an unknown email', () => {
  it.each([4, 5, 7])(
    'at BCRYPT_ROUNDS=%i costs exactly one bcrypt verify at that cost, with nothing hashed before or during (no promise outlives a request)',
    async (rounds) => {
      const { hasher, calls } = recordingHasher(rounds)
      const accounts = accountsWith(hasher)
      expect(calls).toEqual([]) // nothing computed ahead
      for (let i = 0; i < 3; i++) {
        calls.length = 0
        expect(await accounts.authenticate(`nobody-${i}@example.com`, 'some password')).toBeNull()
        expect(calls).toHaveLength(1)
        expect(calls[0]!.op).toBe('verify')
        expect(calls[0]!.hash!.startsWith(`$2b$${String(rounds).padStart(2, '0')}$`)).toBe(true)
      }
    },
  )

  it('and a wrong password for a known one: the same one verify', async () => {
    const { hasher, calls } = recordingHasher(4)
    const accounts = accountsWith(hasher)
    const user = await accounts.register({ email: `known-${Date.now()}@example.com`, username: `known_${Date.now()}`, password: 'the right password' })
    calls.length = 0
    expect(await accounts.authenticate(user.email, 'a wrong password')).toBeNull()
    expect(calls.map((c) => c.op)).toEqual(['verify'])
    expect(calls[0]!.hash).toBe(user.hashedPassword)
  })
})
