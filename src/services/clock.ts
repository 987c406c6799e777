/** Injected so tests can move time (token expiry, JWT lifetime) without sleeping. */
export interface Clock {
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }
