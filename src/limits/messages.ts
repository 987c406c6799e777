// What a client reads when it is over a limit: the API (DomainError) and the
// proxy (its steps' replies) compose the same words here. The contract fixes the
// failed-login one; the others follow its form.

/** Whole seconds to wait, at least 1: what `Retry-After` and `retry_after` carry. */
export const retryAfterSeconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000))

/** CONTRACT.md "Abuse controls": the same for every email, known or not. */
export const tooManyFailedLogins = (seconds: number): string => `Too many failed login attempts. Try again in ${seconds} seconds.`

export const tooManyRequests = (seconds: number): string => `Too many requests. Try again in ${seconds} seconds.`

export const tooManyInFlight = (seconds: number): string => `Too many requests in progress for this access token. Try again in ${seconds} seconds.`

/** The body fields of every 429 beside `detail`: the limit that was hit (`window` in seconds; 0 for a cap on requests at once). */
export interface LimitFacts {
  limit: number
  window: number
  retry_after: number
}
