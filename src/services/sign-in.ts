// Email and password to a user, with every rule a login has wherever it comes from (the JSON
// API's POST /auth/login, the account page's form): the guard's locks and caps before the
// password is checked, the same refusal for every email, the audit event, the login counters.

import type { UserRow } from '../db/schema'
import type { Counter } from '../metrics/interface'
import type { Accounts, Checked } from './accounts'
import type { AuditContext } from './audit'
import { DomainError } from './errors'
import type { LoginGuard } from './login-guard'

type Facts = Omit<AuditContext, 'actorType' | 'actorId'>

export function createSignIn(deps: { accounts: Accounts; guard: LoginGuard; logins: Record<'success' | 'failure' | 'locked', Counter> }) {
  const { accounts, guard, logins } = deps
  return {
    /** The user, or a DomainError: login_failed, or the guard's login_locked / rate_limited (429). */
    async attempt(email: string, password: string, facts: Facts): Promise<UserRow> {
      let user: UserRow | null
      let checked: Checked | null = null
      try {
        // Locked (email, address) pairs and exhausted caps are refused before the password is checked.
        user = await guard.attempt(email, facts.ip ?? '', async () => {
          checked = await accounts.check(email, password)
          return checked.failure ? null : checked.user
        })
      } catch (err) {
        const code = err instanceof DomainError ? err.code : null
        const refused = code === 'login_locked' || code === 'rate_limited'
        logins[refused ? 'locked' : 'failure'].inc()
        // The event may name the account and why; the answer stays the same for every email.
        if (refused) {
          const failure = code === 'login_locked' ? 'locked' : 'rate_limited'
          await accounts.recordLogin(facts, { user: await accounts.findByEmail(email), failure })
        }
        throw err
      }
      if (!user) {
        logins.failure.inc()
        const failed = checked as Checked | null
        await accounts.recordLogin(facts, { user: failed?.user ?? null, failure: failed?.failure ?? 'bad_password' })
        throw new DomainError('login_failed')
      }
      await accounts.recordLogin(facts, { user, failure: null })
      logins.success.inc()
      return user
    },
  }
}

export type SignIn = ReturnType<typeof createSignIn>
