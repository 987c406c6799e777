import { afterEach, describe, expect, it, vi } from 'vitest'
import { createTieredCache } from '../../src/cache/tiered'
import { createLiveSessions } from '../../src/gateway/live-sessions'
import { createLogger } from '../../src/logger'

// Open streams by token: what closes them on revocation and expiry. The Workers
// relay uses registerOwned (see its comment); these pin that it closes on the same
// events as register(), and that one stream failing to close never stops a revocation.

const quiet = createLogger(() => {})

async function setup() {
  let now = 1_000_000
  const cache = await createTieredCache(null, quiet)
  const sessions = createLiveSessions({ cache, now: () => now })
  return { cache, sessions, advance: (ms: number) => void (now += ms), now: () => now }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('registerOwned', () => {
  it('closes on revocation as a continuation of its own, not inside the revoking call', async () => {
    const { cache, sessions } = await setup()
    const closed: string[] = []
    sessions.registerOwned('h1', null, (reason) => closed.push(reason))
    const revoking = cache.invalidate(['h1'])
    // The listener ran synchronously inside invalidate(); the close is a promise continuation, not part of that call.
    expect(closed).toEqual([])
    await revoking
    await new Promise((r) => setTimeout(r, 0))
    expect(closed).toEqual(['revoked'])
    expect(sessions.size).toBe(0)
  })

  it('closes on expiry with a timer of its own', async () => {
    vi.useFakeTimers()
    const { sessions, advance, now } = await setup()
    const closed: string[] = []
    sessions.registerOwned('h2', now() + 1_500, (reason) => closed.push(reason))
    sessions.stop() // the shared sweep is gone (as when the request that started it ended on Workers)
    advance(2_000)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(closed).toEqual(['expired'])
  })

  it('closes once, and not at all once the stream ended by itself', async () => {
    const { cache, sessions } = await setup()
    const closed: string[] = []
    const end = sessions.registerOwned('h3', null, (reason) => closed.push(reason))
    sessions.registerOwned('h4', null, (reason) => closed.push(`h4 ${reason}`))
    end()
    await cache.invalidate(['h3', 'h4'])
    await cache.invalidate(['h4'])
    await new Promise((r) => setTimeout(r, 0))
    expect(closed).toEqual(['h4 revoked'])
  })
})

it('a close that throws does not stop the other closes, nor the revocation', async () => {
  const { cache, sessions } = await setup()
  const closed: string[] = []
  sessions.register('h5', null, () => {
    throw new Error('Cannot perform I/O on behalf of a different request')
  })
  sessions.register('h5', null, () => closed.push('second'))
  await expect(cache.invalidate(['h5'])).resolves.toBeUndefined()
  expect(closed).toEqual(['second'])
})
