import { describe, expect, it } from 'vitest'
import { appFixture, signUp } from '../support/harness'

const f = appFixture()

describe('/api/v1/users/me', () => {
  it('GET returns the signed-in user', async () => {
    const { user, jwt } = await signUp(f.t, { full_name: 'Grace Hopper' })
    const res = await f.t.request('/api/v1/users/me', { bearer: jwt })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual(user)
  })

  it('PATCH changes the full name and bumps updated_at, leaving the rest', async () => {
    const { user, jwt } = await signUp(f.t)
    f.t.clock.advance(1000)
    const res = await f.t.request('/api/v1/users/me', { method: 'PATCH', bearer: jwt, json: { full_name: 'New Name' } })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({ id: user.id, email: user.email, username: user.username, full_name: 'New Name' })
    expect(new Date(body.updated_at).getTime()).toBeGreaterThan(new Date((user as unknown as { updated_at: string }).updated_at).getTime())
  })

  it('PATCH password: the new one logs in, the old one no longer does', async () => {
    const { account, jwt } = await signUp(f.t)
    const res = await f.t.request('/api/v1/users/me', { method: 'PATCH', bearer: jwt, json: { password: 'brand new password' } })
    expect(res.status).toBe(200)
    const login = (password: string) => f.t.request('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password } })
    expect((await login('brand new password')).status).toBe(200)
    expect((await login(account.password)).status).toBe(401)
  })

  it('PATCH with a too-short or over-72-byte password is a 422 and changes nothing', async () => {
    const { account, jwt } = await signUp(f.t)
    for (const password of ['short', 'é'.repeat(37)]) {
      const res = await f.t.request('/api/v1/users/me', { method: 'PATCH', bearer: jwt, json: { password } })
      expect(res.status).toBe(422)
    }
    const login = await f.t.request('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: account.password } })
    expect(login.status).toBe(200)
  })

  it('PATCH cannot change email, username or privileges', async () => {
    const { user, jwt } = await signUp(f.t)
    const res = await f.t.request('/api/v1/users/me', {
      method: 'PATCH',
      bearer: jwt,
      json: { email: 'x@y.zz', username: 'hijack', is_superuser: true, is_active: false },
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ email: user.email, username: user.username, is_superuser: false, is_active: true })
  })

  it('PATCH needs authentication', async () => {
    const res = await f.t.request('/api/v1/users/me', { method: 'PATCH', json: { full_name: 'x' } })
    expect(res.status).toBe(403)
  })
})
