// What a long-lived object (a token's open streams, a device session) holds for each request
// in flight: added and removed at request rate. Not a Set or Map: entries that a long-lived Set
// or Map held even briefly are kept alive into V8's old generation, and with them everything the
// request's closures reach (measured under load: ~9 KB of every proxied request promoted, so
// minor GCs took ~10 ms each instead of ~1). An array with swap-removal lets them die young.

/** One entry's place, handed back by add() and given to remove(). */
export interface OpenSlot<T> {
  value: T
  /** Position in the array; -1 once removed. */
  index: number
}

export class OpenList<T> {
  private slots: OpenSlot<T>[] = []

  get size(): number {
    return this.slots.length
  }

  /** Adds one entry; remove() with what it returns takes it out. */
  add(value: T): OpenSlot<T> {
    const slot: OpenSlot<T> = { value, index: this.slots.length }
    this.slots.push(slot)
    return slot
  }

  /** A copy of the entries, safe to act on while they remove themselves. */
  values(): T[] {
    return this.slots.map((s) => s.value)
  }

  /** Removes and returns the entries that match (all of them without a test). */
  take(test?: (value: T) => boolean): T[] {
    const kept: OpenSlot<T>[] = []
    const taken: T[] = []
    for (const s of this.slots) {
      if (test && !test(s.value)) {
        s.index = kept.length
        kept.push(s)
      } else {
        s.index = -1
        taken.push(s.value)
      }
    }
    this.slots = kept
    return taken
  }

  /** Takes one entry out; again, or once take() has taken it: no effect. */
  remove(slot: OpenSlot<T>): void {
    if (slot.index < 0) return
    const last = this.slots.pop()!
    if (last !== slot) {
      this.slots[slot.index] = last
      last.index = slot.index
    }
    slot.index = -1
  }
}
