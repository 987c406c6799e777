import { and, count, eq } from 'drizzle-orm'
import type { TokenCache } from '../cache/interface'
import type { Db } from '../db/client'
import { accessTokens, type UserRow } from '../db/schema'
import type { Accounts } from '../services/accounts'
import type { Audit } from '../services/audit'
import { cliCommand } from './audit'
import { reach } from './invalidation'
import { CliError, EXIT_USAGE, type Output } from './io'

/**
 * `deactivate-user` / `activate-user`, through accounts.setActive: deactivation
 * invalidates the user's tokens in every cache tier and publishes it to every
 * instance, so the cut-off holds from the next request — not after a TTL.
 * Deactivating twice invalidates again, which is harmless.
 */
export async function setUserActive(
  deps: { accounts: Accounts; db: Db; cache: Pick<TokenCache, 'kind'>; audit?: Audit },
  email: string | undefined,
  active: boolean,
  io: Output,
): Promise<{ user: UserRow; changed: boolean }> {
  const command = active ? 'activate-user' : 'deactivate-user'
  if (!email) throw new CliError(`${command}: missing --email`, EXIT_USAGE)
  const before = await deps.accounts.findByEmail(email)
  if (!before) throw new CliError(`${command}: no user with email ${email.trim().toLowerCase()}`)
  const { audit } = deps
  const user = await deps.accounts.setActive(before.id, active, audit ? { within: (tx, u) => audit.record(tx, cliCommand(command, u.id)) } : {})
  if (!user) throw new CliError(`${command}: user <${before.email}> was deleted meanwhile`)
  const changed = before.isActive !== active
  if (active) {
    io.out(changed ? `activated <${user.email}> (id ${user.id})` : `<${user.email}> is already active; nothing changed`)
  } else {
    const [row] = await deps.db
      .select({ n: count() })
      .from(accessTokens)
      .where(and(eq(accessTokens.userId, user.id), eq(accessTokens.isActive, true)))
    const tokens = `${row?.n ?? 0} unrevoked access token(s) refused ${reach(deps.cache.kind)}`
    io.out(
      changed
        ? `deactivated <${user.email}> (id ${user.id}): logins refused, ${tokens}`
        : `<${user.email}> was already inactive; caches invalidated again (${tokens})`,
    )
  }
  return { user, changed }
}
