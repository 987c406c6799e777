import { describe, expect, it } from 'vitest'
import type { TokenCache } from '../../src/cache/interface'
import { setUserActive } from '../../src/cli/activation'
import { cliLogger } from '../../src/cli/io'
import { openCache } from '../../src/runtime/node/deps'
import { createAccounts } from '../../src/services/accounts'
import { systemClock } from '../../src/services/clock'
import { appFixture, purchase, signUp } from '../support/harness'
import { services } from '../support/services'
import { capture } from './output'

const f = appFixture()

/** The CLI's wiring over a given token cache. */
const deps = (cache: TokenCache) => ({
  accounts: createAccounts({ db: f.db.db, hasher: f.t.deps.hasher, cache, clock: systemClock }),
  db: f.db.db,
  cache,
})

const login = (email: string, password: string) => f.t.request('/api/v1/auth/login', { method: 'POST', json: { email, password } })

/** A user with a token the app has used, so its grant sits in the app's cache. */
async function userWithCachedToken() {
  const signed = await signUp(f.t)
  const token = await purchase(f.t, signed.jwt)
  expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull()
  expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull() // now answered from the cache
  return { ...signed, token }
}

describe('deactivate-user', () => {
  it('cuts the user off: their cached token is refused at once, logins and existing JWTs too', async () => {
    const { account, jwt, token } = await userWithCachedToken()
    const io = capture()
    const result = await setUserActive(deps(f.t.deps.cache), account.email.toUpperCase(), false, io)
    expect(result.changed).toBe(true)
    expect(io.stdout.join('\n')).toMatch(new RegExp(`deactivated <${account.email}> .*1 unrevoked access token`))

    expect(await f.t.services.tokens.validateAndActivate(token.token)).toBeNull()
    expect((await login(account.email, account.password)).status).toBe(401)
    const meRes = await f.t.request('/api/v1/users/me', { bearer: jwt })
    expect(meRes.status).toBe(403)
    expect(await meRes.json()).toEqual({ detail: 'Inactive user' })
  })

  it('is safe to run twice', async () => {
    const { account } = await signUp(f.t)
    await setUserActive(deps(f.t.deps.cache), account.email, false, capture())
    const io = capture()
    const again = await setUserActive(deps(f.t.deps.cache), account.email, false, io)
    expect(again.changed).toBe(false)
    expect(again.user.isActive).toBe(false)
    expect(io.stdout.join('\n')).toMatch(/was already inactive/)
  })

  it('fails with exit 1 for an unknown email, and exit 2 without one', async () => {
    await expect(setUserActive(deps(f.t.deps.cache), 'nobody@example.com', false, capture())).rejects.toMatchObject({
      exitCode: 1,
      message: 'deactivate-user: no user with email nobody@example.com',
    })
    await expect(setUserActive(deps(f.t.deps.cache), undefined, false, capture())).rejects.toMatchObject({ exitCode: 2 })
  })
})

describe('activate-user', () => {
  it('gives a deactivated user their access back; a second run changes nothing', async () => {
    const { account, jwt } = await signUp(f.t)
    await setUserActive(deps(f.t.deps.cache), account.email, false, capture())
    expect((await login(account.email, account.password)).status).toBe(401)

    const io = capture()
    expect((await setUserActive(deps(f.t.deps.cache), account.email, true, io)).changed).toBe(true)
    expect(io.stdout.join('\n')).toMatch(new RegExp(`activated <${account.email}>`))
    expect((await login(account.email, account.password)).status).toBe(200)
    expect((await f.t.request('/api/v1/users/me', { bearer: jwt })).status).toBe(200)

    const again = capture()
    expect((await setUserActive(deps(f.t.deps.cache), account.email, true, again)).changed).toBe(false)
    expect(again.stdout.join('\n')).toMatch(/already active; nothing changed/)
  })
})

describe.skipIf(!services().redisUrl)('deactivate-user from a separate process, through Redis', () => {
  it("reaches a running server's in-process cache: the token is refused on its very next request", async () => {
    // The CLI's own cache, as `npm run cli` opens it: its own Redis connections, nothing shared with the app in memory.
    const cliCache = await openCache(f.t.deps.config, cliLogger(capture()))
    try {
      expect(cliCache.kind).toBe('redis')
      const { account, token } = await userWithCachedToken()
      const io = capture()
      await setUserActive(deps(cliCache), account.email, false, io)
      expect(io.stdout.join('\n')).toMatch(/from the next request on every instance \(invalidation published via redis\)/)
      expect(await f.t.services.tokens.validateAndActivate(token.token)).toBeNull()
    } finally {
      await cliCache.close()
    }
  })
})
