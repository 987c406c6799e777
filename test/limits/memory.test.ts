import { describe, expect, it } from 'vitest'
import { type Rule, ruleOf } from '../../src/limits/interface'
import { createMemoryLimiter } from '../../src/limits/memory'

const T0 = 1_800_000_000_000
const perSecond = (n: number, burst: number): Rule => ({ intervalMs: 1000 / n, burst })

describe('the in-process GCRA limiter', () => {
  it('admits exactly the burst at one instant, then one per interval, and says when', async () => {
    const l = createMemoryLimiter()
    const rule = perSecond(2, 5)
    const at = async (t: number) => (await l.apply([{ key: 'k', rule }], 'take', t)).results[0]!
    const first = await Promise.all(Array.from({ length: 8 }, () => at(T0)))
    expect(first.filter((r) => r.allowed)).toHaveLength(5)
    expect(first.map((r) => r.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0, 0])
    // The next place frees one interval (500 ms) after the burst began.
    expect(first[5]).toEqual({ allowed: false, remaining: 0, retryAfterMs: 500, resetMs: 2500 })
    expect((await at(T0 + 499)).allowed).toBe(false)
    expect((await at(T0 + 500)).allowed).toBe(true)
    expect((await at(T0 + 500)).allowed).toBe(false)
    // Idle long enough, the whole burst is back.
    const later = await Promise.all(Array.from({ length: 6 }, () => at(T0 + 10_000)))
    expect(later.filter((r) => r.allowed)).toHaveLength(5)
  })

  it('"N per window" is a burst of N refilled over the window', async () => {
    expect(ruleOf({ limit: 10, windowSeconds: 3600 })).toEqual({ intervalMs: 360_000, burst: 10 })
  })

  it('check records nothing; take is all or nothing; force records past the limit', async () => {
    const l = createMemoryLimiter()
    const small = perSecond(1, 1)
    const big = perSecond(1, 10)
    expect((await l.apply([{ key: 'a', rule: small }], 'check', T0)).allowed).toBe(true)
    expect((await l.apply([{ key: 'a', rule: small }], 'check', T0)).allowed).toBe(true)
    // Both fit: both recorded.
    expect(
      await l.apply(
        [
          { key: 'a', rule: small },
          { key: 'b', rule: big },
        ],
        'take',
        T0,
      ),
    ).toMatchObject({ allowed: true, refused: -1 })
    // 'a' is full: refused as index 0, and 'b' is not charged either.
    const refused = await l.apply(
      [
        { key: 'a', rule: small },
        { key: 'b', rule: big },
      ],
      'take',
      T0,
    )
    expect(refused).toMatchObject({ allowed: false, refused: 0 })
    // `remaining` is the state after the call: nothing was written.
    expect(refused.results[1]).toMatchObject({ allowed: true, remaining: 9 })
    expect((await l.apply([{ key: 'b', rule: big, cost: 0 }], 'check', T0)).results[0]!.remaining).toBe(9)
    // force counts what happened, over the limit too.
    const forced = await l.apply([{ key: 'a', rule: small, cost: 3 }], 'force', T0)
    expect(forced.results[0]).toMatchObject({ allowed: false, resetMs: 4000 })
    expect((await l.apply([{ key: 'a', rule: small }], 'take', T0 + 3999)).allowed).toBe(false)
    expect((await l.apply([{ key: 'a', rule: small }], 'take', T0 + 4000)).allowed).toBe(true)
  })

  it('a negative cost gives events back, never below empty; reset forgets', async () => {
    const l = createMemoryLimiter()
    const rule = perSecond(1, 3)
    await l.apply([{ key: 'k', rule, cost: 3 }], 'take', T0)
    expect((await l.apply([{ key: 'k', rule }], 'check', T0)).allowed).toBe(false)
    await l.apply([{ key: 'k', rule, cost: -1 }], 'force', T0)
    expect((await l.apply([{ key: 'k', rule }], 'check', T0)).results[0]).toMatchObject({ allowed: true, remaining: 1 })
    expect((await l.apply([{ key: 'k', rule, cost: -10 }], 'force', T0)).results[0]).toMatchObject({ resetMs: 0, remaining: 3 })
    await l.apply([{ key: 'k', rule, cost: 3 }], 'take', T0)
    await l.reset(['k'])
    expect((await l.apply([{ key: 'k', rule }], 'check', T0)).results[0]!.remaining).toBe(3)
  })

  it('burst 0 and cost 0 ask whether a lock (a TAT pushed into the future) is over', async () => {
    const l = createMemoryLimiter()
    await l.apply([{ key: 'lock', rule: { intervalMs: 900_000, burst: 0 } }], 'force', T0)
    const probe = { key: 'lock', rule: { intervalMs: 1000, burst: 0 }, cost: 0 }
    expect((await l.apply([probe], 'check', T0 + 1000)).results[0]).toMatchObject({ allowed: false, retryAfterMs: 899_000 })
    expect((await l.apply([probe], 'check', T0 + 900_000)).allowed).toBe(true)
  })

  it('keeps at most maxKeys keys, the oldest written going first', async () => {
    const l = createMemoryLimiter({ maxKeys: 10 })
    const rule = perSecond(1, 1)
    for (let i = 0; i < 50; i++) await l.apply([{ key: `k${i}`, rule }], 'take', T0)
    // The newest are still counted, the oldest forgotten.
    expect((await l.apply([{ key: 'k49', rule }], 'take', T0)).allowed).toBe(false)
    expect((await l.apply([{ key: 'k0', rule }], 'take', T0)).allowed).toBe(true)
  })
})
