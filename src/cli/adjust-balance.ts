import { randomUUID } from 'node:crypto'
import { and, eq } from 'drizzle-orm'
import type { Db } from '../db/client'
import { ledgerAccounts, ledgerEntries, ledgerTransactions } from '../db/schema'
import { formatMinor, parseMinor } from '../money/znc'
import { adjustIn } from '../services/adjustments'
import type { Audit } from '../services/audit'
import { DomainError } from '../services/errors'
import { balanceOf, moneyTransaction } from '../services/ledger'
import { CLI_ACTOR, cliCommand } from './audit'
import { CliError, EXIT_USAGE, type Output } from './io'
import { findUser } from './locks'

export interface AdjustmentInput {
  /** An email or a user id, as given. */
  user: string
  amountMinor: number
  reason: string
  /** The ledger reference: `cli:` and the --reference key (or a fresh UUID). */
  reference: string
}

// The admin API's rules for a reason and for an Idempotency-Key, so both paths accept the same.
const REASON_MIN = 3
const REASON_MAX = 500
const hasControl = (text: string) => [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
const KEY = /^[\x21-\x7e]{1,255}$/

const usageError = (message: string) => new CliError(`adjust-balance: ${message}`, EXIT_USAGE)

/** The command line, checked before anything is opened. */
export function adjustmentInput(options: { user?: string; amount?: string; reason?: string; reference?: string }): AdjustmentInput {
  const missing = (['user', 'amount', 'reason'] as const).filter((k) => (options[k] ?? '').trim() === '')
  if (missing.length > 0) throw usageError(`missing ${missing.map((k) => `--${k}`).join(', ')}`)
  const amountMinor = parseMinor(options.amount!.trim(), { negative: true })
  if (amountMinor === null || amountMinor === 0) {
    throw usageError('--amount must be a non-zero amount of ZNC with at most two decimals, such as 25.00 or -5.50')
  }
  const reason = options.reason!.trim()
  if (reason.length < REASON_MIN || reason.length > REASON_MAX)
    throw usageError(`--reason must be ${REASON_MIN} to ${REASON_MAX} characters (the user sees it)`)
  if (hasControl(reason)) throw usageError('--reason must not contain control characters (U+0000–U+001F, U+007F)')
  const key = options.reference?.trim() ?? randomUUID()
  if (!KEY.test(key)) throw usageError('--reference must be 1 to 255 printable ASCII characters without spaces')
  return { user: options.user!.trim(), amountMinor, reason, reference: `cli:${key}` }
}

const signed = (minor: number) => `${minor > 0 ? '+' : ''}${formatMinor(minor)} ZNC`

/** The adjustment already posted under this reference, with the wallet's side of it. */
async function postedUnder(tx: Db, reference: string) {
  const [row] = await tx
    .select({ id: ledgerTransactions.id, userId: ledgerTransactions.userId, reason: ledgerTransactions.description, amount: ledgerEntries.amount })
    .from(ledgerTransactions)
    .innerJoin(ledgerEntries, eq(ledgerEntries.transactionId, ledgerTransactions.id))
    .innerJoin(ledgerAccounts, and(eq(ledgerAccounts.id, ledgerEntries.accountId), eq(ledgerAccounts.kind, 'wallet')))
    .where(and(eq(ledgerTransactions.kind, 'adjustment'), eq(ledgerTransactions.reference, reference)))
  return row ?? null
}

export type AdjustmentOutcome =
  | { outcome: 'posted'; transactionId: string; balanceAfter: number }
  | { outcome: 'already posted'; transactionId: string | null; balanceAfter: number }

/**
 * `adjust-balance`: an operator adjustment (actor: none, the CLI) through the same
 * adjustIn as the admin API, in one money transaction. The reference makes it happen
 * once: the same command again moves nothing and says so; the same reference with
 * another user, amount or reason is refused.
 */
export async function adjustBalance(deps: { db: Db; audit?: Audit }, input: AdjustmentInput, io: Output): Promise<AdjustmentOutcome> {
  const user = await findUser(deps.db, input.user, 'adjust-balance')
  const who = `<${user.email}> (id ${user.id})`
  let done: AdjustmentOutcome
  try {
    done = await moneyTransaction(deps.db, async (tx): Promise<AdjustmentOutcome> => {
      const earlier = await postedUnder(tx, input.reference)
      if (earlier) {
        if (earlier.userId !== user.id || earlier.amount !== input.amountMinor || earlier.reason !== input.reason) {
          throw new CliError(
            `adjust-balance: reference ${input.reference} was already used for another adjustment ` +
              `(transaction ${earlier.id}: ${signed(earlier.amount)} to user ${earlier.userId}); nothing moved`,
          )
        }
        return { outcome: 'already posted', transactionId: earlier.id, balanceAfter: await balanceOf(tx, user.id) }
      }
      const { audit } = deps
      const adjusted = await adjustIn(
        tx,
        { userId: user.id, amountMinor: input.amountMinor, reason: input.reason, actorId: null, reference: input.reference },
        audit && { audit, ctx: CLI_ACTOR },
      )
      if (adjusted.transactionId) await audit?.record(tx, cliCommand('adjust-balance', user.id))
      // null: a concurrent run with the same reference committed first.
      return adjusted.transactionId
        ? { outcome: 'posted', transactionId: adjusted.transactionId, balanceAfter: adjusted.balanceAfter }
        : { outcome: 'already posted', transactionId: null, balanceAfter: adjusted.balanceAfter }
    })
  } catch (err) {
    if (err instanceof DomainError) throw new CliError(`adjust-balance: ${err.message}`)
    throw err
  }
  if (done.outcome === 'posted') {
    io.out(`adjusted the balance of ${who} by ${signed(input.amountMinor)}: transaction ${done.transactionId} (reference ${input.reference})`)
  } else {
    const which = done.transactionId ? `transaction ${done.transactionId}` : 'by another run just now'
    io.out(`reference ${input.reference} was already posted (${which}): nothing moved`)
  }
  io.out(`balance of ${who} now ${formatMinor(done.balanceAfter)} ZNC`)
  return done
}
