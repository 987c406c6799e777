import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { TokenGrant } from '../../src/cache/interface'
import { decodeGrant, encodeGrant } from '../../src/cache/keys'
import { createRedisStore } from '../../src/cache/redis'
import { hashAccessToken } from '../../src/crypto/access-token'
import { lockInForce } from '../../src/services/locks'
import { appFixture, purchase, signUp } from '../support/harness'
import { services } from '../support/services'

const { redisUrl } = services()

const grant = (over: Partial<TokenGrant> = {}): TokenGrant => ({
  tokenId: randomUUID(),
  userId: randomUUID(),
  durationHours: 24,
  activatedAt: null,
  expiresAt: null,
  ...over,
})

describe('the lock in a grant', () => {
  it('is in force until its expiry, or until lifted when it has none', () => {
    expect(lockInForce(grant(), 1000)).toBeNull()
    expect(lockInForce(grant({ lock: { message: 'm', expiresAt: null } }), 1000)).toEqual({ message: 'm', expiresAt: null })
    expect(lockInForce(grant({ lock: { message: 'm', expiresAt: 1001 } }), 1000)).not.toBeNull()
    expect(lockInForce(grant({ lock: { message: 'm', expiresAt: 1000 } }), 1000)).toBeNull()
  })

  it('wire format: entries without a lock still decode; a lock round-trips; a malformed one is refused (a miss), never dropped', () => {
    const old = '{"tokenId":"t","userId":"u","durationHours":1,"activatedAt":null,"expiresAt":null}'
    expect(decodeGrant(old)).toEqual({ tokenId: 't', userId: 'u', durationHours: 1, activatedAt: null, expiresAt: null })
    expect(decodeGrant(old)).not.toHaveProperty('lock')
    const locked = grant({ lock: { message: 'Suspended', expiresAt: 1234 } })
    expect(decodeGrant(encodeGrant(locked))).toEqual(locked)
    expect(encodeGrant(grant())).not.toContain('lock')
    for (const lock of ['"x"', 'null', '{"expiresAt":null}', '{"message":"m","expiresAt":"soon"}']) {
      expect(() => decodeGrant(old.replace('}', `,"lock":${lock}}`)), lock).toThrow()
    }
  })

  it.skipIf(!redisUrl)('goes through Redis with the grant (REDIS_URL)', async () => {
    const store = await createRedisStore(redisUrl!)
    try {
      const hash = await hashAccessToken(randomUUID())
      const locked = grant({ lock: { message: 'Suspended', expiresAt: null } })
      await store.set(hash, locked, 30)
      expect(await store.get(hash)).toEqual(locked)
      await store.delete([hash])
    } finally {
      await store.close()
    }
  })
})

describe('the grant query (PostgreSQL tier)', () => {
  const f = appFixture()
  const actor = { actorType: 'system' as const }

  it('carries the strongest lock of the token and its owner: none first, else the latest expiry', async () => {
    const { jwt, user } = await signUp(f.t)
    const bought = await purchase(f.t, jwt)
    const { tokens, locks } = f.t.services
    const now = f.t.clock.now().getTime()
    expect((await tokens.checkStatus(bought.token))?.lock).toBeUndefined()
    await locks.lock({ type: 'token', id: bought.id }, { message: 'Token soon', expiresAt: new Date(now + 60_000) }, actor)
    expect((await tokens.checkStatus(bought.token))?.lock).toEqual({ message: 'Token soon', expiresAt: now + 60_000 })
    await locks.lock({ type: 'user', id: user.id }, { message: 'User later', expiresAt: new Date(now + 120_000) }, actor)
    expect((await tokens.checkStatus(bought.token))?.lock).toEqual({ message: 'User later', expiresAt: now + 120_000 })
    await locks.lock({ type: 'token', id: bought.id }, { message: 'Token for good', expiresAt: null }, actor)
    expect((await tokens.checkStatus(bought.token))?.lock).toEqual({ message: 'Token for good', expiresAt: null })
    await locks.lift({ type: 'token', id: bought.id }, actor)
    expect((await tokens.checkStatus(bought.token))?.lock).toEqual({ message: 'User later', expiresAt: now + 120_000 })
    await locks.lift({ type: 'user', id: user.id }, actor)
    expect((await tokens.checkStatus(bought.token))?.lock).toBeUndefined()
  })

  it('a locked token is not activated by the request it refuses; once lifted, the next one activates it', async () => {
    const { jwt } = await signUp(f.t)
    const bought = await purchase(f.t, jwt)
    await f.t.services.locks.lock({ type: 'token', id: bought.id }, { message: 'Hold', expiresAt: null }, actor)
    const held = await f.t.services.tokens.authorize(bought.token)
    expect(held?.grant).toMatchObject({ activatedAt: null, lock: { message: 'Hold' } })
    await f.t.services.locks.lift({ type: 'token', id: bought.id }, actor)
    const used = await f.t.services.tokens.authorize(bought.token)
    expect(used?.grant.activatedAt).not.toBeNull()
    expect(used?.grant.lock).toBeUndefined()
  })
})
