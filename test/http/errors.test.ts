import { HTTPException } from 'hono/http-exception'
import { describe, expect, it } from 'vitest'
import { ApiError, toHttpError } from '../../src/http/errors'
import { DomainError } from '../../src/services/errors'

const challenge = { 'WWW-Authenticate': 'Bearer' }

describe('toHttpError: one table from domain code to the wire', () => {
  it.each([
    [new DomainError('not_authenticated'), 403, 'Not authenticated', {}],
    [new DomainError('invalid_credentials'), 401, 'Could not validate credentials', challenge],
    [new DomainError('user_not_found'), 401, 'User not found', challenge],
    [new DomainError('inactive_user'), 403, 'Inactive user', {}],
    [new DomainError('login_failed'), 401, 'Incorrect email or password', challenge],
    [new DomainError('email_taken'), 400, 'Email already registered', {}],
    [new DomainError('username_taken'), 400, 'Username already taken', {}],
    [
      new DomainError('invalid_duration', 'Invalid duration. Must be one of: [1, 12, 24, 168, 720]'),
      400,
      'Invalid duration. Must be one of: [1, 12, 24, 168, 720]',
      {},
    ],
    [new DomainError('token_not_found'), 404, 'Token not found', {}],
    [
      new DomainError('insufficient_balance', 'Insufficient balance. Required: 18.00 ZNC, Available: 10.00 ZNC'),
      402,
      'Insufficient balance. Required: 18.00 ZNC, Available: 10.00 ZNC',
      {},
    ],
    [new DomainError('last_superuser'), 409, 'Cannot remove the last active superuser', {}],
  ])('%s → %i', (err, status, detail, headers) => {
    expect(toHttpError(err)).toEqual({ status, detail, headers })
  })

  it('route refusals (ApiError) and Hono’s own 4xx pass as they are', () => {
    expect(toHttpError(new ApiError(401, 'Invalid or expired access token'))).toEqual({ status: 401, detail: 'Invalid or expired access token', headers: {} })
    expect(toHttpError(new ApiError(413, 'Request body too large', { 'X-A': 'b' }))).toEqual({
      status: 413,
      detail: 'Request body too large',
      headers: { 'X-A': 'b' },
    })
    expect(toHttpError(new HTTPException(400, { message: 'Malformed JSON in request body' }))).toEqual({
      status: 400,
      detail: 'Malformed JSON in request body',
      headers: {},
    })
    expect(toHttpError(new HTTPException(415))).toEqual({ status: 415, detail: 'Bad Request', headers: {} })
  })

  it('anything else is a bug: null, for the caller to log and answer 500', () => {
    for (const err of [new Error('boom'), new TypeError('x'), 'string', undefined, { status: 400, detail: 'forged' }]) expect(toHttpError(err)).toBeNull()
  })
})
