// Token buckets kept in process and synced to the shared limiter in the
// background, for the proxy: a proxied request is decided here, synchronously,
// and never waits on Redis. Every `syncMs` (when requests keep coming) what this
// instance admitted since the last sync is added to the shared bucket in one
// script call for all keys ('force': it happened), and each local bucket moves
// up to the shared one — so other instances' traffic counts here within a sync
// or two. Shared store down: the local buckets go on alone (per-instance limits).
//
// No timers: a sync starts from a request (on Workers I/O belongs to a request,
// and this promise is never awaited by another), and a sync that never settles
// (its request ended first) is given up after `staleMs`.

import { gcraStep, intervalUs } from './gcra'
import type { Charge, Limiter, Rule } from './interface'

interface Bucket {
  /** TAT in µs. */
  tat: number
  /** Admitted here since the last sync began. */
  pending: number
}

export interface LocalBucketsOptions {
  rule: Rule
  /** Where the counts are shared (null: this instance only). */
  shared: Limiter | null
  /** The shared key for a local id. */
  keyOf: (id: string) => string
  /** Sync at most this often (default 250 ms, wall clock). */
  syncMs?: number
  /** A sync still unanswered after this is given up (default 2 s). */
  staleMs?: number
  /** Keys per script call (default 500). */
  batch?: number
  /** Wall clock for scheduling syncs (tests). */
  wallNow?: () => number
}

export function createLocalBuckets(opts: LocalBucketsOptions) {
  const interval = intervalUs(opts.rule.intervalMs)
  const burst = opts.rule.burst
  const syncMs = opts.syncMs ?? 250
  const staleMs = opts.staleMs ?? 2_000
  const batchSize = opts.batch ?? 500
  const wallNow = opts.wallNow ?? Date.now
  const buckets = new Map<string, Bucket>()
  let lastSync = 0
  let syncing: number | null = null
  // The background sync running now, for flush() only (never awaited on the request path).
  let current: Promise<void> | null = null

  /** Sends what was admitted since the last sync, and takes in what the others did. */
  const sync = async (now: number): Promise<void> => {
    const nowUs = Math.round(now) * 1000
    const sent: { id: string; n: number }[] = []
    for (const [id, b] of buckets) {
      if (b.pending > 0) {
        sent.push({ id, n: b.pending })
        b.pending = 0
      } else if (b.tat <= nowUs) buckets.delete(id) // idle and full again: nothing to remember
    }
    if (!opts.shared || sent.length === 0) return
    const shared = opts.shared
    const calls: Promise<void>[] = []
    for (let i = 0; i < sent.length; i += batchSize) {
      const part = sent.slice(i, i + batchSize)
      const charges: Charge[] = part.map(({ id, n }) => ({ key: opts.keyOf(id), rule: opts.rule, cost: n }))
      calls.push(
        shared.apply(charges, 'force', now).then((d) => {
          part.forEach(({ id }, j) => {
            const sharedTat = nowUs + d.results[j]!.resetMs * 1000
            const b = buckets.get(id)
            // What this instance admitted while the sync was out is not in the shared answer yet.
            if (b) b.tat = Math.max(b.tat, sharedTat + b.pending * interval)
            else if (sharedTat > nowUs) buckets.set(id, { tat: sharedTat, pending: 0 })
          })
        }),
      )
    }
    // A failed sync loses nothing that matters: this instance's own counts stand, and the next sync carries on.
    await Promise.allSettled(calls)
  }

  const maybeSync = (now: number) => {
    const wall = wallNow()
    if (syncing !== null && wall - syncing < staleMs) return
    if (wall - lastSync < syncMs) return
    lastSync = wall
    syncing = wall
    const started = wall
    const running = sync(now).finally(() => {
      if (syncing === started) syncing = null
    })
    current = running
    void running
  }

  return {
    /** Admits one event for `id` at `now` (epoch ms), or says how long until one would fit. Synchronous. */
    take(id: string, now: number): { allowed: true } | { allowed: false; retryAfterMs: number } {
      const nowUs = Math.round(now) * 1000
      const b = buckets.get(id)
      const step = gcraStep(b ? b.tat : null, nowUs, interval, burst, 1)
      if (!step.allowed) {
        maybeSync(now)
        return { allowed: false, retryAfterMs: Math.ceil((step.next - burst * interval - nowUs) / 1000) }
      }
      if (b) {
        b.tat = step.next
        b.pending++
      } else buckets.set(id, { tat: step.next, pending: 1 })
      maybeSync(now)
      return { allowed: true }
    },
    /** Waits for the background sync, then runs one more now (tests; on Workers only within the request that started it). */
    async flush(now: number) {
      await current
      await sync(now)
    },
    get size() {
      return buckets.size
    },
  }
}

export type LocalBuckets = ReturnType<typeof createLocalBuckets>
