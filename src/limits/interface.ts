// The limiter port: GCRA (the generic cell rate algorithm) over named keys.
// A key's whole state is one number, its theoretical arrival time (TAT): the
// moment its bucket would be empty again. Implementations: memory.ts (in
// process), redis.ts (node-redis, Node) and upstash.ts (REST, Workers) run the
// same arithmetic (gcra.ts), the last two in one Lua script, so every instance
// on one Redis sees one count. fallback.ts puts the in-process one behind a
// shared one for when Redis is down.

/** A GCRA rule: one event per `intervalMs` sustained, up to `burst` back to back. */
export interface Rule {
  /** Milliseconds one event occupies (the emission interval); > 0. */
  intervalMs: number
  /** Events that fit at once (the bucket's size); ≥ 0. A rule with burst 0 only ever admits cost 0. */
  burst: number
}

/** One key charged under one rule. */
export interface Charge {
  key: string
  rule: Rule
  /** Events to count (default 1). 0 only looks; a negative cost gives events back (never below empty). */
  cost?: number
}

/**
 * - `check`: nothing is recorded;
 * - `take`: every charge is recorded if every charge fits, else none is (all or nothing, atomically);
 * - `force`: every charge is recorded whether it fits or not (something that happened, e.g. a failed login).
 */
export type Mode = 'check' | 'take' | 'force'

export interface KeyResult {
  /** This charge fitted. */
  allowed: boolean
  /** Further events of cost 1 that would fit now (after this call). */
  remaining: number
  /** Milliseconds until this charge would fit (0 when it fits). */
  retryAfterMs: number
  /** Milliseconds until the key's bucket is empty again (its TAT minus now), after this call. */
  resetMs: number
}

export interface Decision {
  /** Every charge fitted. */
  allowed: boolean
  /** Index of the first charge that did not fit, or -1. */
  refused: number
  results: KeyResult[]
}

export interface Limiter {
  readonly kind: 'memory' | 'redis' | 'upstash'
  /** Applies every charge at once, at `now` (epoch ms: the app's clock, so every instance and test agrees on time). */
  apply(charges: Charge[], mode: Mode, now: number): Promise<Decision>
  /** Forgets these keys (a counter reset). */
  reset(keys: string[]): Promise<void>
  close(): Promise<void>
}

/** Every key the limiters write starts with this (beside the token cache's `zenzefi:token:`). */
export const LIMIT_KEY_PREFIX = 'zenzefi:rl:'

/** "`limit` events per `windowSeconds`", as configured and as a 429 reports it. */
export interface RatePolicy {
  limit: number
  windowSeconds: number
}

/** The usual GCRA reading of "N per window": a burst of N, then one every window/N. */
export const ruleOf = (p: RatePolicy): Rule => ({ intervalMs: (p.windowSeconds * 1000) / p.limit, burst: p.limit })
