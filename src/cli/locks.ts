// `lock` / `unlock`: an operator's lock on a user or a token, through the same service as the
// admin API, so the lock is enforced and open sockets close on every instance alike.

import { eq } from 'drizzle-orm'
import type { Db } from '../db/client'
import { type UserRow, users } from '../db/schema'
import { normalizeEmail } from '../services/accounts'
import { DomainError } from '../services/errors'
import type { Locks, LockTarget } from '../services/locks'
import { UUID } from '../services/uuid'
import { CLI_ACTOR } from './audit'
import { reach } from './invalidation'
import { CliError, EXIT_USAGE, type Output } from './io'

const MESSAGE_MAX = 500
const hasControl = (text: string) => [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)

/** A user named by email or id, as `--user` gives it. */
export async function findUser(db: Db, given: string, command: string): Promise<UserRow> {
  const byId = UUID.test(given)
  const [user] = await db
    .select()
    .from(users)
    .where(byId ? eq(users.id, given.toLowerCase()) : eq(users.email, normalizeEmail(given)))
    .limit(1)
  if (!user) throw new CliError(`${command}: no user with ${byId ? `id ${given.toLowerCase()}` : `email ${normalizeEmail(given)}`}`)
  return user
}

/** Who is locked: a user (email or id, resolved once the database is open) or a token id. */
export type TargetInput = { type: 'user'; given: string } | { type: 'token'; id: string }

export interface LockInput {
  target: TargetInput
  message: string
  until: Date | null
}

function targetInput(command: string, options: { user?: string; token?: string }): TargetInput {
  const user = options.user?.trim()
  const token = options.token?.trim()
  if (!user === !token) throw new CliError(`${command}: give exactly one of --user EMAIL|ID or --token ID`, EXIT_USAGE)
  if (token !== undefined && !UUID.test(token)) throw new CliError(`${command}: --token must be a token id (a UUID), never the token itself`, EXIT_USAGE)
  return user ? { type: 'user', given: user } : { type: 'token', id: token!.toLowerCase() }
}

/** The command lines, checked before anything is opened. */
export function lockInput(options: { user?: string; token?: string; message?: string; until?: string }): LockInput {
  const target = targetInput('lock', options)
  const message = options.message?.trim() ?? ''
  if (message === '' || message.length > MESSAGE_MAX)
    throw new CliError(`lock: --message must be 1 to ${MESSAGE_MAX} characters (refused requests read it)`, EXIT_USAGE)
  if (hasControl(message)) throw new CliError('lock: --message must not contain control characters (U+0000–U+001F, U+007F)', EXIT_USAGE)
  let until: Date | null = null
  if (options.until !== undefined) {
    until = new Date(options.until)
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(options.until) || Number.isNaN(until.getTime())) {
      throw new CliError('lock: --until must be an ISO 8601 time with an offset, such as 2026-01-31T12:00:00Z', EXIT_USAGE)
    }
  }
  return { target, message, until }
}

export const unlockInput = (options: { user?: string; token?: string }): TargetInput => targetInput('unlock', options)

async function resolve(db: Db, target: TargetInput, command: string): Promise<{ target: LockTarget; label: string }> {
  if (target.type === 'token') return { target: { type: 'token', id: target.id }, label: `token ${target.id}` }
  const user = await findUser(db, target.given, command)
  return { target: { type: 'user', id: user.id }, label: `<${user.email}> (id ${user.id})` }
}

const refusal = (command: string) => (err: unknown) => {
  throw err instanceof DomainError ? new CliError(`${command}: ${err.message}`) : err
}

export async function lockCommand(deps: { db: Db; locks: Locks; cacheKind: Parameters<typeof reach>[0] }, input: LockInput, io: Output): Promise<void> {
  const { target, label } = await resolve(deps.db, input.target, 'lock')
  const lock = await deps.locks.lock(target, { message: input.message, expiresAt: input.until }, CLI_ACTOR).catch(refusal('lock'))
  const until = lock.expiresAt ? `until ${lock.expiresAt.toISOString()}` : 'until unlocked'
  io.out(`locked ${label} ${until}: requests refused with 403 ${reach(deps.cacheKind)} (lock ${lock.id})`)
}

export async function unlockCommand(deps: { db: Db; locks: Locks; cacheKind: Parameters<typeof reach>[0] }, input: TargetInput, io: Output): Promise<void> {
  const { target, label } = await resolve(deps.db, input, 'unlock')
  await deps.locks.lift(target, CLI_ACTOR).catch(refusal('unlock'))
  io.out(`unlocked ${label}: requests accepted again ${reach(deps.cacheKind)}`)
}
