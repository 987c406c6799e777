// bcrypt's worker threads: none until the first hash or check, as many as a burst needs up to the
// pool's size, and none again once the pool has been idle.
import bcrypt from 'bcryptjs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createPasswordPool, type PasswordPool } from '../../../src/runtime/node/password-pool'

const pools: PasswordPool[] = []
const pool = (size: number, idleMs = 60_000) => {
  const p = createPasswordPool(4, size, { idleMs })
  pools.push(p)
  return p
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()))
})

describe('createPasswordPool', () => {
  it('starts no thread until the first password check, then serves concurrent checks', async () => {
    const p = pool(2)
    expect(p.threads).toBe(0)
    const stored = bcrypt.hashSync('right', 4)
    const checks = [p.verify('right', stored), p.verify('wrong', stored), p.hash('new one'), p.verify('right', stored)]
    // Four jobs at once: a thread per busy slot, never more than the pool's size.
    expect(p.threads).toBe(2)
    const [ok, bad, hashed, again] = await Promise.all(checks)
    expect([ok, bad, again]).toEqual([true, false, true])
    expect(bcrypt.compareSync('new one', hashed as string)).toBe(true)
    expect(hashed).toMatch(/^\$2[aby]\$04\$/)
    expect(p.threads).toBe(2)
  })

  it('runs one job at a time on one thread', async () => {
    const p = pool(4)
    const stored = await p.hash('pw')
    expect(await p.verify('pw', stored)).toBe(true)
    expect(await p.verify('nope', stored)).toBe(false)
    // Each job found the thread idle: no second one was started.
    expect(p.threads).toBe(1)
  })

  it('ends its threads once idle, and starts one again for the next check', async () => {
    const p = pool(2, 50)
    const stored = await p.hash('pw')
    expect(p.threads).toBe(1)
    await vi.waitFor(() => expect(p.threads).toBe(0), { timeout: 5_000 })
    expect(await p.verify('pw', stored)).toBe(true)
    expect(p.threads).toBe(1)
  })

  it('refuses work once closed (a check is then false, not a hang)', async () => {
    const p = pool(1)
    const stored = await p.hash('pw')
    await p.close()
    expect(p.threads).toBe(0)
    expect(await p.verify('pw', stored)).toBe(false)
    await expect(p.hash('pw')).rejects.toThrow(/closed/)
  })
})
