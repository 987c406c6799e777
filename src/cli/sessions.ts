// `sessions` and `kill-session`: who is using Zenzefi now, and stopping one device at once.
// kill-session publishes the same `session:<id>` message the admin API does, so every
// instance sharing the cache closes that device's sockets and streams.

import type { TokenCache } from '../cache/interface'
import type { Db } from '../db/client'
import { sessionEndedMessage } from '../gateway/device-sessions'
import type { SessionService } from '../services/sessions'
import { UUID } from '../services/uuid'
import { CLI_ACTOR } from './audit'
import { CliError, EXIT_USAGE, type Output } from './io'
import { findUser } from './locks'

export async function listSessions(deps: { db: Db; sessions: SessionService }, options: { user?: string; all?: boolean }, io: Output): Promise<number> {
  const user = options.user ? await findUser(deps.db, options.user, 'sessions') : null
  const { items, total } = await deps.sessions.list({ active: options.all ? undefined : true, userId: user?.id, limit: 100, offset: 0 })
  for (const s of items) {
    const state = s.endedAt ? `ended ${s.endedAt.toISOString()} (${s.endReason})` : `open, last seen ${s.lastSeenAt.toISOString()}`
    io.out(
      `${s.id}  <${s.email}>  token ${s.tokenId}  device ${s.deviceSource}  ${s.lastIp ?? '-'}  ${s.requests} req, ${s.bytesIn} B in, ${s.bytesOut} B out, ${s.websocketsOpen} ws  ${state}`,
    )
  }
  // Counters are written every SESSION_FLUSH_SECONDS: a running server's last seconds may not be in yet.
  io.out(`${total} ${options.all ? '' : 'open '}session(s)${total > items.length ? `, newest ${items.length} shown` : ''}`)
  return total
}

export function killInput(options: { session?: string; reason?: string }): { id: string; reason: string | null } {
  const id = (options.session ?? '').trim()
  if (!UUID.test(id)) throw new CliError('kill-session: --session must be a session id (see `sessions`)', EXIT_USAGE)
  const reason = options.reason?.trim() || null
  if (reason && (reason.length > 500 || [...reason].some((c) => c.charCodeAt(0) < 0x20)))
    throw new CliError('kill-session: --reason must be up to 500 plain characters', EXIT_USAGE)
  return { id, reason }
}

export async function killSession(
  deps: { sessions: SessionService; cache: TokenCache },
  input: { id: string; reason: string | null },
  io: Output,
): Promise<void> {
  const done = await deps.sessions.terminate(input.id, { reason: input.reason, ctx: CLI_ACTOR })
  if (done === null) throw new CliError(`kill-session: no session ${input.id}`)
  if (done === 'ended') throw new CliError(`kill-session: session ${input.id} had already ended`)
  await deps.cache.invalidate([sessionEndedMessage(input.id)])
  io.out(`ended session ${input.id} (user ${done.userId}, token ${done.tokenId}): its sockets and downloads close within 2 s on every instance`)
}
