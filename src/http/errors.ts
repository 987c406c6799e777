import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { DomainError, type DomainErrorCode } from '../services/errors'

type Status = 400 | 401 | 402 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 502 | 503 | 504

/** A refusal decided by a route itself (a missing body field, a proxy token); src/app.ts turns it into {"detail": ...}. */
export class ApiError extends Error {
  constructor(
    readonly status: Status,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail)
  }
}

export const bearerChallenge = { 'WWW-Authenticate': 'Bearer' }

/** How each domain refusal goes on the wire. One line per code; the message is the DomainError's own. */
const DOMAIN_HTTP: Record<DomainErrorCode, { status: Status; headers?: Record<string, string>; limit?: true }> = {
  not_authenticated: { status: 403 },
  invalid_credentials: { status: 401, headers: bearerChallenge },
  user_not_found: { status: 401, headers: bearerChallenge },
  inactive_user: { status: 403 },
  login_failed: { status: 401, headers: bearerChallenge },
  email_taken: { status: 400 },
  username_taken: { status: 400 },
  invalid_duration: { status: 400 },
  token_not_found: { status: 404 },
  insufficient_balance: { status: 402 },
  last_superuser: { status: 409 },
  not_superuser: { status: 403 },
  money_busy: { status: 409 },
  idempotency_mismatch: { status: 422 },
  idempotency_in_progress: { status: 409 },
  idempotency_key_invalid: { status: 400 },
  idempotency_key_required: { status: 400 },
  payment_not_found: { status: 404 },
  user_not_found_admin: { status: 404 },
  provider_unavailable: { status: 503, headers: { 'Retry-After': '5' } },
  topups_unavailable: { status: 503 },
  notification_forbidden: { status: 403 },
  notification_malformed: { status: 400 },
  invalid_topup_amount: { status: 422 },
  token_already_revoked: { status: 409 },
  lock_not_found: { status: 404 },
  lock_expiry_past: { status: 422 },
  adjustment_negative: { status: 409 },
  // Over a limit: the body also says which (limit, window, retry_after) and Retry-After says when.
  rate_limited: { status: 429, limit: true },
  login_locked: { status: 429, limit: true },
}

export interface HttpError {
  status: ContentfulStatusCode
  detail: string
  headers: Record<string, string>
  /** Fields the body carries beside `detail` (a 429's limit, window and retry_after). */
  fields?: Record<string, unknown>
}

/** The answer for an error the app expected, or null for a bug (a 500, logged by the caller). */
export function toHttpError(err: unknown): HttpError | null {
  if (err instanceof DomainError) {
    const { status, headers = {}, limit } = DOMAIN_HTTP[err.code]
    if (limit && err.details) {
      const { limit: max, window, retry_after } = err.details
      return { status, detail: err.message, headers: { ...headers, 'Retry-After': String(retry_after) }, fields: { limit: max, window, retry_after } }
    }
    return { status, detail: err.message, headers }
  }
  if (err instanceof ApiError) return { status: err.status, detail: err.detail, headers: err.headers }
  // Hono's own refusals (malformed JSON, wrong content type) keep their 4xx status.
  if (err instanceof HTTPException) return { status: err.status as ContentfulStatusCode, detail: err.message || 'Bad Request', headers: {} }
  return null
}
