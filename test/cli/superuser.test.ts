import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { CliError } from '../../src/cli/io'
import { createSuperuser, superuserInput } from '../../src/cli/superuser'
import { users } from '../../src/db/schema'
import { createAccounts } from '../../src/services/accounts'
import { systemClock } from '../../src/services/clock'
import { appFixture, newAccount, signUp } from '../support/harness'
import { capture } from './output'

const f = appFixture()

// What the CLI wires: the accounts service over the Node deps' bcrypt worker pool and token cache.
const deps = () => ({
  accounts: createAccounts({ db: f.db.db, hasher: f.t.deps.hasher, cache: f.t.deps.cache, clock: systemClock }),
  db: f.db.db,
  clock: systemClock,
})

const login = (email: string, password: string) => f.t.request('/api/v1/auth/login', { method: 'POST', json: { email, password } })

async function me(email: string, password: string) {
  const { access_token } = await (await login(email, password)).json()
  return (await f.t.request('/api/v1/users/me', { bearer: access_token })).json()
}

describe('create-superuser', () => {
  it('creates a superuser who can log in through the app; a second run changes nothing', async () => {
    const a = newAccount()
    const input = superuserInput({ email: a.email.toUpperCase(), username: a.username, password: a.password, 'full-name': 'Root Admin' }, {})
    const first = capture()
    const created = await createSuperuser(deps(), input, first)
    expect(created.outcome).toBe('created')
    expect(first.stdout.join('\n')).toMatch(new RegExp(`created superuser ${a.username} <${a.email}>`))

    const second = capture()
    const again = await createSuperuser(deps(), input, second)
    expect(again.outcome).toBe('unchanged')
    expect(again.user.id).toBe(created.user.id)
    expect(second.stdout.join('\n')).toMatch(/already exists and is an active superuser; nothing changed/)
    expect(await f.db.db.$count(users, eq(users.email, a.email))).toBe(1)

    expect((await login(a.email, a.password)).status).toBe(200)
    expect(await me(a.email, a.password)).toMatchObject({ email: a.email, username: a.username, full_name: 'Root Admin', is_superuser: true, is_active: true })
    expect(first.all() + second.all()).not.toContain(a.password)
  })

  it('makes an existing user superuser and active, leaving their username and password alone', async () => {
    const { account, user } = await signUp(f.t)
    await f.t.services.accounts.setActive(user.id, false)
    expect((await login(account.email, account.password)).status).toBe(401)

    const io = capture()
    const input = superuserInput({ email: account.email, username: 'someone_else', password: 'a different password' }, {})
    const result = await createSuperuser(deps(), input, io)
    expect(result.outcome).toBe('promoted')
    expect(io.stdout.join('\n')).toMatch(/already exists \(was not a superuser and inactive\): now an active superuser/)

    expect((await login(account.email, 'a different password')).status).toBe(401)
    expect(await me(account.email, account.password)).toMatchObject({ id: user.id, username: account.username, is_superuser: true, is_active: true })
    expect((await createSuperuser(deps(), input, capture())).outcome).toBe('unchanged')
  })

  it('refuses a username another account holds, creating nothing', async () => {
    const { account } = await signUp(f.t)
    const email = newAccount().email
    const input = superuserInput({ email, username: account.username, password: 'long enough password' }, {})
    await expect(createSuperuser(deps(), input, capture())).rejects.toThrow(new CliError('create-superuser: Username already taken'))
    expect(await f.db.db.$count(users, eq(users.email, email))).toBe(0)
  })
})

describe('create-superuser input', () => {
  it('takes ADMIN_EMAIL, ADMIN_USERNAME and ADMIN_PASSWORD from the environment, options first', () => {
    const env = { ADMIN_EMAIL: 'env@example.com', ADMIN_USERNAME: 'env_admin', ADMIN_PASSWORD: 'env password 1' }
    expect(superuserInput({}, env)).toEqual({ email: 'env@example.com', username: 'env_admin', password: 'env password 1', fullName: null })
    expect(superuserInput({ email: 'flag@example.com', password: 'flag password 1' }, env)).toMatchObject({
      email: 'flag@example.com',
      username: 'env_admin',
      password: 'flag password 1',
    })
  })

  it('says which values are missing (a usage error, exit 2)', () => {
    const err = catchError(() => superuserInput({ email: 'a@example.com' }, { ADMIN_EMAIL: '' }))
    expect(err.exitCode).toBe(2)
    expect(err.message).toBe('create-superuser: missing --username (or ADMIN_USERNAME), --password (or ADMIN_PASSWORD)')
  })

  it.each([
    ['a password under 8 characters', { password: 'seven77' }, /--password: Password must be at least 8 characters/],
    ['a password over 72 UTF-8 bytes', { password: `${'ü'.repeat(36)}x` }, /--password: Password must be at most 72 bytes in UTF-8/],
    ['a username under 3 characters', { username: 'ab' }, /--username: .*3/],
    ['a username over 50 characters', { username: 'u'.repeat(51) }, /--username: .*50/],
    ['an invalid email', { email: 'not-an-email' }, /--email: Invalid email/],
    ['a NUL in the password', { password: 'good pass\u0000word' }, /--password: Must not contain the NUL character/],
    ['a control character in the username', { username: 'ok\u001buser' }, /--username: Must not contain control characters/],
    ['a tab around the username', { username: '\tokuser' }, /--username: Must not contain control characters/],
  ])('rejects %s like registration does (exit 1), never echoing the password', (_, bad: { email?: string; username?: string; password?: string }, message) => {
    const good = { email: 'ok@example.com', username: 'okuser', password: 'good password 1' }
    const err = catchError(() => superuserInput({ ...good, ...bad }, {}))
    expect(err.exitCode).toBe(1)
    expect(err.message).toMatch(message)
    expect(err.message).not.toContain(bad.password ?? good.password)
  })

  it('refuses a control character in --full-name like registration does', () => {
    const err = catchError(() =>
      superuserInput({ email: 'c@example.com', username: 'okuser', password: 'good password 1', 'full-name': 'Root\u007fAdmin' }, {}),
    )
    expect(err.message).toMatch(/--full-name: Must not contain control characters/)
  })

  it('accepts the boundaries registration accepts: 72 bytes of password, 3 and 50 characters of username', () => {
    expect(superuserInput({ email: 'b@example.com', username: 'abc', password: 'ü'.repeat(36) }, {}).password).toBe('ü'.repeat(36))
    expect(superuserInput({ email: 'b@example.com', username: 'u'.repeat(50), password: '12345678' }, {}).username).toBe('u'.repeat(50))
  })
})

function catchError(fn: () => unknown): CliError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(CliError)
    return err as CliError
  }
  throw new Error('expected a CliError')
}
