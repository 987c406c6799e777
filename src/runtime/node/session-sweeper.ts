// Proxy sessions on Node: this instance's counts are written every SESSION_FLUSH_SECONDS
// (one statement per flush), and sessions that went idle, or whose token was revoked
// or expired, are ended by a sweep that one instance at a time runs (an advisory lock
// on PostgreSQL; PGlite is one process's own database). stop() writes what is left,
// so a SIGTERM loses no counts.

import type { Database } from '../../db/client'
import type { DeviceSessions } from '../../gateway/device-sessions'
import type { Logger } from '../../logger'
import type { SessionService } from '../../services/sessions'

export interface SessionSweeper {
  /** Ends what is due now; null when another instance held the lock. */
  sweep(): Promise<number | null>
  flush(): Promise<number>
  /** Stops the timers and writes the counts still in memory. */
  stop(): Promise<void>
}

export function startSessionSweeper(deps: {
  database: Database
  service: SessionService
  devices: DeviceSessions | null
  flushSeconds: number
  idleSeconds: number
  log: Logger
  /** Also run with each sweep: rows nothing can use any more (account sign-ins past their timeouts, spent launch codes). */
  prune?: () => Promise<unknown>
}): SessionSweeper {
  const { service, devices, log } = deps
  let sweeping: Promise<unknown> | null = null

  const flush = async () => (devices ? devices.flush() : 0)

  const sweep = async (): Promise<number | null> => {
    if (sweeping) return null
    const work = service.sweep(deps.idleSeconds, { exclusive: deps.database.kind !== 'pglite' })
    sweeping = work
    try {
      const ended = await work
      if (!ended) return null
      await deps.prune?.()
      devices?.forget(ended.map((e) => e.id))
      if (ended.length) log.info('proxy sessions ended', { count: ended.length })
      return ended.length
    } catch (err) {
      log.error('proxy session sweep failed', { error: err })
      return null
    } finally {
      sweeping = null
    }
  }

  // Counts first, then the sweep: a session seen in the last flush is never taken for idle.
  const flushTimer = setInterval(() => void flush(), deps.flushSeconds * 1000)
  const sweepTimer = setInterval(() => void flush().then(sweep), Math.max(deps.flushSeconds, Math.min(60, deps.idleSeconds / 4)) * 1000)
  flushTimer.unref()
  sweepTimer.unref()
  return {
    sweep,
    flush,
    async stop() {
      clearInterval(flushTimer)
      clearInterval(sweepTimer)
      await sweeping?.catch(() => {})
      await flush()
    },
  }
}
