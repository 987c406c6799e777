import { describe, expect, it } from 'vitest'
import { DomainError, isDomainError } from '../../src/services/errors'

describe('DomainError', () => {
  it.each([
    ['not_authenticated', 'Not authenticated'],
    ['invalid_credentials', 'Could not validate credentials'],
    ['user_not_found', 'User not found'],
    ['inactive_user', 'Inactive user'],
    ['login_failed', 'Incorrect email or password'],
    ['email_taken', 'Email already registered'],
    ['username_taken', 'Username already taken'],
    ['token_not_found', 'Token not found'],
    ['last_superuser', 'Cannot remove the last active superuser'],
  ] as const)('%s says the contract’s words: %j', (code, message) => {
    const err = new DomainError(code)
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ name: 'DomainError', code, message })
    expect(err.details).toBeUndefined()
    expect(isDomainError(err)).toBe(true)
    expect(isDomainError(err, code)).toBe(true)
  })

  it('composed messages and their details are the raiser’s', () => {
    const err = new DomainError('insufficient_balance', 'Insufficient balance. Required: 18.00 ZNC, Available: 10.00 ZNC', {
      required: '18.00',
      available: '10.00',
    })
    expect(err).toMatchObject({
      code: 'insufficient_balance',
      message: 'Insufficient balance. Required: 18.00 ZNC, Available: 10.00 ZNC',
      details: { required: '18.00' },
    })
    expect(isDomainError(err, 'invalid_duration')).toBe(false)
    expect(isDomainError(new Error('x'))).toBe(false)
  })
})
