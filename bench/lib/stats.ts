// Latency samples → the figures the bench prints. Samples are in microseconds.

export interface Summary {
  n: number
  mean: number
  p50: number
  p99: number
  max: number
  /** completed operations per second of wall time (closed loop, one at a time unless stated) */
  perSec: number
}

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export function summarize(samples: ArrayLike<number>, wallSeconds: number): Summary {
  const sorted = Float64Array.from(samples).sort()
  let sum = 0
  for (const v of sorted) sum += v
  return {
    n: sorted.length,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    perSec: wallSeconds > 0 ? sorted.length / wallSeconds : Number.NaN,
  }
}

export const nowNs = (): bigint => process.hrtime.bigint()
export const elapsedUs = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1_000

export interface Case {
  /** measured calls in total, split evenly over the rounds */
  n: number
  fn: () => Promise<unknown>
  /** sees the first measured result, to prove the path under test answered as expected */
  check?: (result: unknown) => void
}

/**
 * Times each call of every case, one call at a time. The cases take turns in `rounds`
 * rounds (n / rounds calls each per round, after n / 10 warm-up calls in the first), so a
 * noisy moment on the machine lands on every row rather than on whichever ran then.
 */
export async function measureInterleaved(cases: Case[], rounds: number): Promise<Summary[]> {
  const samples = cases.map((c) => new Float64Array(c.n))
  const wall = cases.map(() => 0)
  const filled = cases.map(() => 0)
  for (let r = 0; r < rounds; r++) {
    for (const [k, c] of cases.entries()) {
      if (r === 0) for (let i = 0; i < Math.ceil(c.n / 10); i++) await c.fn()
      const until = r === rounds - 1 ? c.n : Math.floor(((r + 1) * c.n) / rounds)
      const started = nowNs()
      for (let i = filled[k]!; i < until; i++) {
        const t0 = nowNs()
        const result = await c.fn()
        samples[k]![i] = elapsedUs(t0)
        if (i === 0) c.check?.(result)
      }
      wall[k]! += elapsedUs(started) / 1e6
      filled[k] = until
    }
  }
  return cases.map((_, k) => summarize(samples[k]!, wall[k]!))
}
