// The periodic re-sync of pending top-ups (PAYMENTS_RECONCILE_SECONDS), so a notification
// that never arrived still credits. On PostgreSQL every instance ticks, but each round runs
// inside a transaction holding an advisory lock, so only one instance works at a time. The
// lock's transaction only holds the lock: the provider calls and the money transactions of
// the round run on other connections, never inside it.

import { sql } from 'drizzle-orm'
import { type Database, queryRows } from '../../db/client'
import type { Logger } from '../../logger'
import type { Audit } from '../../services/audit'
import type { Payments } from '../../services/payments'

// Any fixed number, distinct from MIGRATION_LOCK.
export const RECONCILE_LOCK = 4_242_002

export interface Reconciler {
  /** One round now; resolves to null when another instance held the lock (or a round is still running here). */
  tick(): Promise<Awaited<ReturnType<Payments['reconcile']>> | null>
  stop(): Promise<void>
}

export function startReconciler(deps: {
  database: Database
  payments: Payments
  seconds: number
  log: Logger
  /** With a retention (AUDIT_RETENTION_DAYS > 0), each round also prunes older audit events. */
  audit?: Audit
  auditRetentionDays?: number
}): Reconciler {
  const { database, payments, log } = deps
  let running: Promise<unknown> | null = null

  const work = async () => {
    const result = await payments.reconcile()
    if (deps.audit && deps.auditRetentionDays) {
      // A failed prune is retried next round; it never costs the payments their round.
      await deps.audit.prune(database.db, deps.auditRetentionDays).catch((err: unknown) => log.error('audit prune failed', { error: err }))
    }
    return result
  }

  const round = async () => {
    // PGlite is one process's own database: nobody else to exclude.
    if (database.kind === 'pglite') return work()
    return database.db.transaction(async (tx) => {
      const [lock] = await queryRows<{ got: boolean }>(tx as never, sql`select pg_try_advisory_xact_lock(${RECONCILE_LOCK}) as got`)
      return lock?.got ? work() : null
    })
  }

  const tick: Reconciler['tick'] = async () => {
    if (running) return null
    const work = round()
    running = work
    try {
      const result = await work
      if (result && (result.credited > 0 || result.unavailable > 0)) log.info('payments reconciled', result)
      return result
    } catch (err) {
      log.error('payments reconcile failed', { error: err })
      return null
    } finally {
      running = null
    }
  }

  // Also without a provider: the same round prunes idempotency keys older than a day.
  const timer = deps.seconds > 0 ? setInterval(() => void tick(), deps.seconds * 1000) : null
  timer?.unref()
  return {
    tick,
    async stop() {
      if (timer) clearInterval(timer)
      await running?.catch(() => {})
    },
  }
}
