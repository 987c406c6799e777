import { describe, expect, it } from 'vitest'
import { OpenList } from '../../src/gateway/open-list'

describe('open list', () => {
  it('holds what was added until it is removed; removing it again changes nothing', () => {
    const list = new OpenList<string>()
    const a = list.add('a')
    const b = list.add('b')
    list.add('c')
    list.remove(a)
    expect(list.values().sort()).toEqual(['b', 'c'])
    list.remove(a)
    expect(list.size).toBe(2)
    list.remove(b)
    expect(list.values()).toEqual(['c'])
  })

  it('removes any entry in any order, 1,000 of them, leaving exactly the rest', () => {
    const list = new OpenList<number>()
    const slots = Array.from({ length: 1000 }, (_, i) => list.add(i))
    // Every third, from the back, then the middle ones: swap-removal must keep positions right.
    for (let i = 999; i >= 0; i -= 3) list.remove(slots[i]!)
    for (let i = 400; i < 600; i++) list.remove(slots[i]!)
    const expected = Array.from({ length: 1000 }, (_, i) => i).filter((i) => (999 - i) % 3 !== 0 && (i < 400 || i >= 600))
    expect(list.values().sort((a, b) => a - b)).toEqual(expected)
  })

  it('take() hands over the matching entries, which removing again then leaves alone', () => {
    const list = new OpenList<{ kind: string }>()
    const ws = { kind: 'websocket' }
    const stream = { kind: 'stream' }
    const wsSlot = list.add(ws)
    const streamSlot = list.add(stream)
    expect(list.take((s) => s.kind === 'websocket')).toEqual([ws])
    list.remove(wsSlot) // already taken: must not remove the stream that moved into its place
    expect(list.values()).toEqual([stream])
    list.remove(streamSlot)
    expect(list.take()).toEqual([])
  })

  it('values() is a copy: closing entries that remove themselves while it is walked reaches all of them', () => {
    const list = new OpenList<() => void>()
    const closed: number[] = []
    for (let i = 0; i < 5; i++) {
      const slot = list.add(() => {
        closed.push(i)
        list.remove(slot)
      })
    }
    for (const close of list.values()) close()
    expect(closed.sort()).toEqual([0, 1, 2, 3, 4])
    expect(list.size).toBe(0)
  })
})
