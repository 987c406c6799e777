import { eq } from 'drizzle-orm'
import type { Env } from '../config'
import type { Db } from '../db/client'
import { type UserRow, users } from '../db/schema'
import { RegisterIn } from '../routes/auth'
import type { Accounts } from '../services/accounts'
import type { Audit } from '../services/audit'
import type { Clock } from '../services/clock'
import { DomainError } from '../services/errors'
import { CLI_ACTOR, cliCommand } from './audit'
import { CliError, EXIT_USAGE, type Output } from './io'

export interface SuperuserInput {
  email: string
  username: string
  password: string
  fullName: string | null
}

const FLAGS = { email: '--email', username: '--username', password: '--password', full_name: '--full-name' } as const

const given = (v: string | undefined) => (v === undefined || v === '' ? undefined : v)

/**
 * Options first, then ADMIN_EMAIL / ADMIN_USERNAME / ADMIN_PASSWORD; checked with
 * registration's own schema. Messages name the field, never echo its value.
 */
export function superuserInput(options: { email?: string; username?: string; password?: string; 'full-name'?: string }, env: Env): SuperuserInput {
  const raw = {
    email: given(options.email) ?? given(env.ADMIN_EMAIL),
    username: given(options.username) ?? given(env.ADMIN_USERNAME),
    password: given(options.password) ?? given(env.ADMIN_PASSWORD),
    full_name: given(options['full-name']) ?? null,
  }
  const missing = (['email', 'username', 'password'] as const).filter((k) => raw[k] === undefined)
  if (missing.length > 0) {
    const names = missing.map((k) => `${FLAGS[k]} (or ADMIN_${k.toUpperCase()})`).join(', ')
    throw new CliError(`create-superuser: missing ${names}`, EXIT_USAGE)
  }
  const parsed = RegisterIn.safeParse(raw)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${FLAGS[i.path[0] as keyof typeof FLAGS] ?? String(i.path[0])}: ${i.message}`)
    throw new CliError(`create-superuser: invalid input\n  ${problems.join('\n  ')}`)
  }
  const v = parsed.data
  return { email: v.email, username: v.username, password: v.password, fullName: v.full_name ?? null }
}

export type SuperuserOutcome = 'created' | 'promoted' | 'unchanged'

/**
 * `create-superuser`: registers through the accounts service (bcrypt, email
 * normalisation, the unique-index race). If the email is taken, that user is made
 * superuser and active instead; their username and password are left alone, so
 * running it twice changes nothing the second time.
 */
export async function createSuperuser(
  deps: { accounts: Accounts; db: Db; clock: Clock; audit?: Audit },
  input: SuperuserInput,
  io: Output,
): Promise<{ user: UserRow; outcome: SuperuserOutcome }> {
  const { accounts, db, clock, audit } = deps
  const existing = await accounts.findByEmail(input.email)
  if (existing) return promote(existing)
  try {
    const user = await accounts.register(
      { ...input, isSuperuser: true },
      { ctx: CLI_ACTOR, within: audit && ((tx, u) => audit.record(tx, cliCommand('create-superuser', u.id))) },
    )
    io.out(`created superuser ${user.username} <${user.email}> (id ${user.id})`)
    return { user, outcome: 'created' }
  } catch (err) {
    if (!(err instanceof DomainError)) throw err
    // Another run registered the same email between our check and our insert.
    const raced = err.code === 'email_taken' ? await accounts.findByEmail(input.email) : null
    if (raced) return promote(raced)
    throw new CliError(`create-superuser: ${err.message}`)
  }

  async function promote(user: UserRow): Promise<{ user: UserRow; outcome: SuperuserOutcome }> {
    const kept = `username ${user.username} and password unchanged`
    if (user.isSuperuser && user.isActive) {
      io.out(`user <${user.email}> already exists and is an active superuser; nothing changed (${kept})`)
      return { user, outcome: 'unchanged' }
    }
    const [row] = await db.transaction(async (t) => {
      const tx = t as unknown as Db
      const rows = await tx.update(users).set({ isSuperuser: true, isActive: true, updatedAt: clock.now() }).where(eq(users.id, user.id)).returning()
      await audit?.record(tx, cliCommand('create-superuser', user.id))
      return rows
    })
    const was = [!user.isSuperuser && 'not a superuser', !user.isActive && 'inactive'].filter(Boolean).join(' and ')
    io.out(`user <${user.email}> already exists (was ${was}): now an active superuser (${kept})`)
    return { user: row!, outcome: 'promoted' }
  }
}
