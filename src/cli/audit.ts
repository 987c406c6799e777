// The audit log from the command line: `audit-verify` walks the chain, `audit-export`
// writes every matching event to stdout, one batch at a time. Also the event each
// mutating command writes in the transaction of its change.

import { eq } from 'drizzle-orm'
import type { Db } from '../db/client'
import { users } from '../db/schema'
import { normalizeEmail } from '../services/accounts'
import type { Audit, AuditContext, AuditEvent } from '../services/audit'
import { type AuditFilters, type ExportFormat, exportLines } from '../services/audit-log'
import { UUID } from '../services/uuid'
import { CliError, EXIT_USAGE, type Output } from './io'

/** An operator at the command line: there is no account behind it. */
export const CLI_ACTOR: AuditContext = { actorType: 'cli' }

/** The cli.command event of a mutating command, about the user it changed (if one). */
export const cliCommand = (command: string, subjectUserId: string | null = null): AuditEvent => ({
  action: 'cli.command',
  ...CLI_ACTOR,
  subjectUserId,
  resourceType: subjectUserId ? 'user' : null,
  resourceId: subjectUserId,
  details: { command },
})

/** `audit-verify`: every problem on its own line and exit 1, or one line saying the chain is intact. */
export async function auditVerify(deps: { db: Db; audit: Audit }, io: Output): Promise<{ checked: number; problems: number }> {
  const { checked, problems } = await deps.audit.verify(deps.db)
  if (problems.length === 0) {
    io.out(`audit-verify: ${checked} events, chain intact`)
    return { checked, problems: 0 }
  }
  for (const p of problems) io.out(`audit-verify: ${p.id === null ? 'chain' : `event ${p.id}`}: ${p.problem}`)
  throw new CliError(`audit-verify: ${checked} events, ${problems.length} problem(s): the audit log was changed outside the application`)
}

export interface AuditExportInput {
  format: ExportFormat
  since?: Date
  until?: Date
  /** An email or a user id, as given. */
  user?: string
}

/** The command line, checked before anything is opened. */
export function auditExportInput(options: { format?: string; since?: string; until?: string; user?: string }): AuditExportInput {
  const format = options.format ?? 'ndjson'
  if (format !== 'ndjson' && format !== 'csv') throw new CliError('audit-export: --format must be ndjson or csv', EXIT_USAGE)
  const moment = (name: 'since' | 'until') => {
    const given = options[name]
    if (given === undefined) return undefined
    const at = new Date(given)
    if (!/^\d{4}-\d{2}-\d{2}/.test(given) || Number.isNaN(at.getTime())) {
      throw new CliError(`audit-export: --${name} must be an ISO 8601 date or time, such as 2026-01-31 or 2026-01-31T12:00:00Z`, EXIT_USAGE)
    }
    return at
  }
  const user = options.user?.trim()
  return { format, since: moment('since'), until: moment('until'), user: user || undefined }
}

/** `audit-export`: the events to stdout, oldest first, a batch at a time. */
export async function auditExport(deps: { db: Db }, input: AuditExportInput, io: Output): Promise<void> {
  const filters: AuditFilters = { since: input.since, until: input.until }
  if (input.user) {
    if (UUID.test(input.user)) filters.userId = input.user.toLowerCase()
    else {
      const [found] = await deps.db
        .select({ id: users.id })
        .from(users)
        .where(eq(users.email, normalizeEmail(input.user)))
      // A deleted user's events stay in the log: only an email needs the user to exist still.
      if (!found) throw new CliError(`audit-export: no user with email ${normalizeEmail(input.user)} (give the user id for a deleted user)`)
      filters.userId = found.id
    }
  }
  for await (const chunk of exportLines(deps.db, filters, input.format)) io.out(chunk)
}
