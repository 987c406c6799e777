import { beforeAll, describe, expect, it } from 'vitest'
import { DomainError } from '../../src/services/errors'
import { appFixture, signUp } from '../support/harness'

const f = appFixture()
let userId: string
beforeAll(async () => {
  userId = (await signUp(f.t)).user.id
})

describe('the token service refuses with domain errors', () => {
  it.each([0, 2, 23, 25, 721, -1])('a duration of %i hours: invalid_duration, naming the offered ones', async (hours) => {
    const err = await f.t.services.tokens.purchase(userId, hours).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DomainError)
    expect(err).toMatchObject({
      code: 'invalid_duration',
      message: 'Invalid duration. Must be one of: [1, 12, 24, 168, 720]',
      details: { allowed: [1, 12, 24, 168, 720] },
    })
  })

  it('revoking a token that is not the caller’s: token_not_found', async () => {
    const other = await signUp(f.t)
    const theirs = (await f.t.services.tokens.purchase(other.user.id, 24)).token
    for (const id of [theirs.id, '00000000-0000-4000-8000-000000000000']) {
      const err = await f.t.services.tokens.revoke(userId, id).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(DomainError)
      expect(err).toMatchObject({ code: 'token_not_found', message: 'Token not found' })
    }
  })
})
