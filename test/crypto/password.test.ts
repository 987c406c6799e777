import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'
import { createBcryptHasher, dummyHash } from '../../src/crypto/password'

describe('dummy bcrypt hashes', () => {
  it.each(Array.from({ length: 12 }, (_, i) => i + 4))('cost %i: a constant $2b$ hash at exactly that cost', (rounds) => {
    const hash = dummyHash(rounds)
    expect(hash).toMatch(/^\$2b\$\d\d\$[./A-Za-z0-9]{53}$/)
    expect(bcrypt.getRounds(hash)).toBe(rounds)
    expect(dummyHash(rounds)).toBe(hash)
  })

  it('are all different and match no likely password', async () => {
    const all = Array.from({ length: 12 }, (_, i) => dummyHash(i + 4))
    expect(new Set(all).size).toBe(12)
    for (const guess of ['', 'password', 'correct horse battery', 'undefined', 'null']) expect(await bcrypt.compare(guess, dummyHash(4))).toBe(false)
  })

  it('exist only for the costs BCRYPT_ROUNDS allows', () => {
    for (const rounds of [3, 16, 0, 12.5]) expect(() => dummyHash(rounds)).toThrow(RangeError)
  })

  it('the in-thread hasher says its cost', () => {
    expect(createBcryptHasher(7).rounds).toBe(7)
  })
})
