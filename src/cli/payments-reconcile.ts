import { sql } from 'drizzle-orm'
import { type Database, pgErrorCode } from '../db/client'
import { RECONCILE_LOCK } from '../runtime/node/payments-reconciler'
import type { Payments } from '../services/payments'
import { CliError, type Output } from './io'

/** How long to wait for a server's round that is running right now. */
const LOCK_WAIT = '60s'

export interface ReconcileReport {
  provider: string
  checked: number
  credited: number
  unavailable: number
}

/**
 * `payments-reconcile`: one round of what catches a lost provider notification — every
 * open top-up asked about again through the app's own payments service, the paid ones
 * credited (once: the deposit's reference is the payment). On PostgreSQL it takes the
 * servers' reconcile lock, so it runs after a round in progress, never beside it. Fails
 * (exit 1) if the provider could not be reached; the payments not asked are asked on the
 * next run.
 */
export async function paymentsReconcile(deps: { database: Database; payments: Payments }, io: Output): Promise<ReconcileReport> {
  const { database, payments } = deps
  const { provider } = payments
  if (!provider) throw new CliError('payments-reconcile: no payment provider is configured (PAYMENT_PROVIDER=none), so no payment can be confirmed')
  let done: Awaited<ReturnType<Payments['reconcile']>>
  try {
    done =
      database.kind === 'pglite'
        ? await payments.reconcile()
        : // The lock's transaction only holds the lock; the round's own work runs on other connections, as the servers' does.
          await database.db.transaction(async (tx) => {
            await tx.execute(sql.raw(`set local lock_timeout = '${LOCK_WAIT}'`))
            await tx.execute(sql`select pg_advisory_xact_lock(${RECONCILE_LOCK})`)
            return payments.reconcile()
          })
  } catch (err) {
    if (pgErrorCode(err) === '55P03') throw new CliError(`payments-reconcile: a server has been reconciling for over ${LOCK_WAIT}; try again later`)
    throw err
  }
  io.out(`payments-reconcile (${provider.name}): ${done.checked} open payment(s) checked, ${done.credited} credited, ${done.unavailable} unavailable`)
  if (done.unavailable > 0) {
    throw new CliError(`payments-reconcile: the payment provider (${provider.name}) was unavailable; the payments after it are asked again on the next run`)
  }
  return { provider: provider.name, ...done }
}
