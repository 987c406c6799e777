// What the services (and the CLI) refuse, in the domain's words. The message is
// what a client reads: the contract's `detail`. How each code reaches HTTP
// (status, headers) is decided in one table in src/http/errors.ts; the CLI
// prints the message. A new refusal is one line here and one line there (the
// compiler insists on the second).

/** Refusals whose message never varies. */
const FIXED_MESSAGES = {
  not_authenticated: 'Not authenticated',
  invalid_credentials: 'Could not validate credentials',
  user_not_found: 'User not found',
  inactive_user: 'Inactive user',
  login_failed: 'Incorrect email or password',
  email_taken: 'Email already registered',
  username_taken: 'Username already taken',
  token_not_found: 'Token not found',
  last_superuser: 'Cannot remove the last active superuser',
  not_superuser: 'Superuser permissions required',
  money_busy: 'Another operation on this balance is in progress; retry',
  idempotency_mismatch: 'Idempotency-Key reused with a different request',
  idempotency_in_progress: 'A request with this Idempotency-Key is still in progress; retry later',
  idempotency_key_invalid: 'Idempotency-Key must be 1 to 255 printable characters',
  idempotency_key_required: 'Idempotency-Key header is required for this request',
  payment_not_found: 'Payment not found',
  user_not_found_admin: 'User not found',
  provider_unavailable: 'Payment provider unavailable; retry with the same Idempotency-Key',
  topups_unavailable: 'Top-ups are not available on this server',
  notification_forbidden: 'Forbidden',
  notification_malformed: 'Not a payment notification',
  invalid_topup_amount: 'Invalid top-up amount',
  token_already_revoked: 'Token already revoked',
  lock_not_found: 'No lock in force on it',
  lock_expiry_past: 'expires_at must be in the future',
} as const

/** Refusals whose message carries values, so it is given where they are raised. */
type ComposedCode =
  /** "Invalid duration. Must be one of: [1, 12, 24, 168, 720]" */
  | 'invalid_duration'
  /** "Insufficient balance. Required: 18.00 ZNC, Available: 10.00 ZNC" */
  | 'insufficient_balance'
  /** "Too many requests. Try again in N seconds." — details {limit, window, retry_after} */
  | 'rate_limited'
  /** "Too many failed login attempts. Try again in N seconds." — details {limit, window, retry_after} */
  | 'login_locked'
  /** "Adjustment would make balance negative. Available: 10.00 ZNC" */
  | 'adjustment_negative'

type FixedCode = keyof typeof FIXED_MESSAGES
export type DomainErrorCode = FixedCode | ComposedCode

export class DomainError extends Error {
  override readonly name = 'DomainError'
  readonly code: DomainErrorCode
  /** Machine-readable facts behind a composed message (amounts, limits); never secrets. */
  readonly details?: Readonly<Record<string, unknown>>

  constructor(code: FixedCode, message?: string, details?: Readonly<Record<string, unknown>>)
  constructor(code: ComposedCode, message: string, details?: Readonly<Record<string, unknown>>)
  constructor(code: DomainErrorCode, message?: string, details?: Readonly<Record<string, unknown>>) {
    super(message ?? FIXED_MESSAGES[code as FixedCode])
    this.code = code
    if (details !== undefined) this.details = details
  }
}

export const isDomainError = (err: unknown, code?: DomainErrorCode): err is DomainError =>
  err instanceof DomainError && (code === undefined || err.code === code)
