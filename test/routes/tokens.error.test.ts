import { describe, expect, it } from 'vitest'
import { appFixture, purchase, signUp } from '../support/harness'

const f = appFixture()

const buy = (jwt: string, json: unknown) => f.t.request('/api/v1/tokens/purchase', { method: 'POST', bearer: jwt, json })

describe('purchase refuses', () => {
  it('a duration not on offer with 400 and the list', async () => {
    const { jwt } = await signUp(f.t)
    const res = await buy(jwt, { duration_hours: 2 })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ detail: 'Invalid duration. Must be one of: [1, 12, 24, 168, 720]' })
  })

  it.each([[0], [-5], [1.5], ['24'], [null]])('duration_hours=%j with 422', async (value) => {
    const { jwt } = await signUp(f.t)
    const res = await buy(jwt, { duration_hours: value })
    expect(res.status).toBe(422)
    expect((await res.json()).detail[0].loc).toEqual(['body', 'duration_hours'])
  })

  it('without a Bearer JWT with 403 and stores nothing', async () => {
    const res = await f.t.request('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: 1 } })
    expect(res.status).toBe(403)
  })
})

describe('revoke refuses', () => {
  it('another user’s token with 404, and the token keeps working', async () => {
    const owner = await signUp(f.t)
    const other = await signUp(f.t)
    const token = await purchase(f.t, owner.jwt)
    const res = await f.t.request(`/api/v1/tokens/${token.id}`, { method: 'DELETE', bearer: other.jwt })
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ detail: 'Token not found' })
    expect(await f.t.services.tokens.validateAndActivate(token.token)).not.toBeNull()
  })

  it('an id that is not a UUID with 422', async () => {
    const { jwt } = await signUp(f.t)
    expect((await f.t.request('/api/v1/tokens/not-a-uuid', { method: 'DELETE', bearer: jwt })).status).toBe(422)
  })

  it('an unknown id with 404', async () => {
    const { jwt } = await signUp(f.t)
    expect((await f.t.request('/api/v1/tokens/00000000-0000-4000-8000-000000000000', { method: 'DELETE', bearer: jwt })).status).toBe(404)
  })
})

describe('my-tokens refuses', () => {
  it('a malformed active_only with 422', async () => {
    const { jwt } = await signUp(f.t)
    expect((await f.t.request('/api/v1/tokens/my-tokens?active_only=maybe', { bearer: jwt })).status).toBe(422)
  })
})

describe('token checks refuse', () => {
  it.each([
    ['empty', ''],
    ['short', 'abc'],
    ['65 chars', 'a'.repeat(65)],
    ['bad characters', '!'.repeat(64)],
    ['well-formed but unknown', 'A'.repeat(64)],
  ])('%s', async (_, token) => {
    expect(await f.t.services.tokens.validateAndActivate(token)).toBeNull()
    expect(await f.t.services.tokens.checkStatus(token)).toBeNull()
  })
})
