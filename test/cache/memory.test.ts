import { describe, expect, it } from 'vitest'
import { MemoryLru } from '../../src/cache/memory'

const grant = (n: number) => ({ tokenId: `t${n}`, userId: 'u', durationHours: 1, activatedAt: null, expiresAt: null })

describe('in-process tier', () => {
  it('forgets an entry when its TTL passes', () => {
    let now = 0
    const lru = new MemoryLru(10, () => now)
    lru.set('a', grant(1), 5000)
    now = 4999
    expect(lru.get('a')).toEqual(grant(1))
    now = 5000
    expect(lru.get('a')).toBeNull()
  })

  it('stays within its size, evicting the least recently used (recency kept to the second)', () => {
    let now = 0
    const lru = new MemoryLru(3, () => now)
    for (const k of ['a', 'b', 'c']) lru.set(k, grant(1), 60_000)
    now = 1000
    lru.get('a') // a is now the most recent
    lru.set('d', grant(4), 60_000)
    expect(lru.size).toBe(3)
    expect(lru.get('b')).toBeNull()
    expect(lru.get('a')).not.toBeNull()
    expect(lru.get('d')).not.toBeNull()
  })

  it('does not store entries with no time left', () => {
    const lru = new MemoryLru(3)
    lru.set('a', grant(1), 0)
    expect(lru.get('a')).toBeNull()
  })
})
