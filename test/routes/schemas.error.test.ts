import { describe, expect, it } from 'vitest'
import { appFixture, newAccount, signUp } from '../support/harness'

// Every text field a client sends refuses control characters with the contract's 422
// (PostgreSQL cannot store U+0000 in text: before, that was a 500 from the driver).
const f = appFixture()

/** U+0000–U+001F and U+007F: what email, username and full_name refuse. */
const CONTROLS = [...Array.from({ length: 0x20 }, (_, i) => i), 0x7f].map((c) => String.fromCharCode(c))
const hex = (ch: string) => `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`
/** The character at the start, in the middle or at the end, by turns. */
const place = (ch: string, i: number, base: string) => [`${ch}${base}`, `${base.slice(0, 3)}${ch}${base.slice(3)}`, `${base}${ch}`][i % 3]!

const register = (json: unknown) => f.t.request('/api/v1/auth/register', { method: 'POST', json })
const login = (json: unknown) => f.t.request('/api/v1/auth/login', { method: 'POST', json })

async function expect422(res: Response, field: string) {
  expect(res.status).toBe(422)
  const { detail } = await res.json()
  expect(detail).toEqual(expect.arrayContaining([{ loc: ['body', field], msg: expect.any(String), type: expect.any(String) }]))
}

describe('control characters in text fields are a 422, never a 500', () => {
  it.each(['username', 'full_name', 'email'] as const)('register %s: every character U+0000–U+001F and U+007F, anywhere', async (field) => {
    for (const [i, ch] of CONTROLS.entries()) {
      const account = newAccount()
      const value = field === 'email' ? place(ch, i, account.email) : place(ch, i, `${field === 'username' ? account.username : 'Ada Lovelace'}`)
      const res = await register({ ...account, [field]: value })
      await expect422(res, field).catch((e) => {
        throw new Error(`${field} with ${hex(ch)}: ${e.message}`)
      })
    }
  })

  it('register password: U+0000 anywhere is refused', async () => {
    for (const i of [0, 1, 2]) await expect422(await register(newAccount({ password: place('\u0000', i, 'correct horse battery') })), 'password')
  })

  it('register password: every other control character is a fair password character, and logs in', async () => {
    const others = CONTROLS.filter((ch) => ch !== '\u0000')
    for (const [i, ch] of others.entries()) {
      const account = newAccount({ password: place(ch, i, 'correct horse') })
      const res = await register(account)
      expect(res.status, hex(ch)).toBe(201)
      if (i % 8 === 0) expect((await login({ email: account.email, password: account.password })).status, hex(ch)).toBe(200)
    }
  })

  it('login email: every control character is a 422', async () => {
    const { account } = await signUp(f.t)
    for (const [i, ch] of CONTROLS.entries()) {
      await expect422(await login({ email: place(ch, i, account.email), password: account.password }), 'email').catch((e) => {
        throw new Error(`login email with ${hex(ch)}: ${e.message}`)
      })
    }
  })

  it('login password: U+0000 is a 422, a tab is just a wrong password', async () => {
    const { account } = await signUp(f.t)
    for (const i of [0, 1, 2]) await expect422(await login({ email: account.email, password: place('\u0000', i, account.password) }), 'password')
    expect((await login({ email: account.email, password: `${account.password}\t` })).status).toBe(401)
  })

  it('PATCH /users/me full_name: every control character is a 422 and changes nothing', async () => {
    const { jwt } = await signUp(f.t, { full_name: 'Grace Hopper' })
    for (const [i, ch] of CONTROLS.entries()) {
      const res = await f.t.request('/api/v1/users/me', {
        method: 'PATCH',
        bearer: jwt,
        json: { full_name: place(ch, i, 'New Name'), password: 'a new password' },
      })
      await expect422(res, 'full_name').catch((e) => {
        throw new Error(`full_name with ${hex(ch)}: ${e.message}`)
      })
    }
    const me = await (await f.t.request('/api/v1/users/me', { bearer: jwt })).json()
    expect(me.full_name).toBe('Grace Hopper')
  })

  it('PATCH /users/me password: U+0000 is a 422 and the old password still logs in', async () => {
    const { account, jwt } = await signUp(f.t)
    for (const i of [0, 1, 2]) {
      const res = await f.t.request('/api/v1/users/me', { method: 'PATCH', bearer: jwt, json: { password: place('\u0000', i, 'a brand new password') } })
      await expect422(res, 'password')
    }
    expect((await login({ email: account.email, password: account.password })).status).toBe(200)
  })

  it('characters past U+007F are ordinary text', async () => {
    const account = newAccount({ full_name: 'Zoë Ångström\u0085 🚀' })
    const res = await register(account)
    expect(res.status).toBe(201)
    expect((await res.json()).full_name).toBe('Zoë Ångström\u0085 🚀')
  })
})
