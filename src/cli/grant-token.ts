// `grant-token`: a token given free of charge (cost 0, no ledger transaction), printed once.

import type { Db } from '../db/client'
import type { AdminTokens } from '../services/admin-tokens'
import { DomainError } from '../services/errors'
import { ALLOWED_DURATIONS } from '../services/tokens'
import { CLI_ACTOR } from './audit'
import { CliError, EXIT_USAGE, type Output } from './io'
import { findUser } from './locks'

export interface GrantInput {
  user: string
  hours: number
  reason: string
}

const usageError = (message: string) => new CliError(`grant-token: ${message}`, EXIT_USAGE)

/** The command line, checked before anything is opened (the admin API's rules for a reason). */
export function grantInput(options: { user?: string; hours?: string; reason?: string }): GrantInput {
  const missing = (['user', 'hours', 'reason'] as const).filter((k) => (options[k] ?? '').trim() === '')
  if (missing.length > 0) throw usageError(`missing ${missing.map((k) => `--${k}`).join(', ')}`)
  const hours = Number(options.hours!.trim())
  if (!(ALLOWED_DURATIONS as readonly number[]).includes(hours)) throw usageError(`--hours must be one of ${ALLOWED_DURATIONS.join(', ')}`)
  const reason = options.reason!.trim()
  if (reason.length < 3 || reason.length > 500) throw usageError('--reason must be 3 to 500 characters')
  if ([...reason].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) throw usageError('--reason must not contain control characters')
  return { user: options.user!.trim(), hours, reason }
}

/** Prints the token on its own line, once; everything else about it on the line before. */
export async function grantToken(deps: { db: Db; adminTokens: AdminTokens }, input: GrantInput, io: Output): Promise<{ tokenId: string }> {
  const user = await findUser(deps.db, input.user, 'grant-token')
  const done = await deps.adminTokens.grant({ userId: user.id, durationHours: input.hours, reason: input.reason }, CLI_ACTOR).catch((err: unknown) => {
    throw err instanceof DomainError ? new CliError(`grant-token: ${err.message}`) : err
  })
  io.out(`granted <${user.email}> (id ${user.id}) a ${input.hours} h token free of charge: token ${done.row.id}, clock starts at first use; shown once:`)
  io.out(done.token)
  return { tokenId: done.row.id }
}
