import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { and, eq, isNull, sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/run'
import { accessTokens, ledgerAccounts, ledgerTransactions, payments } from '../../src/db/schema'
import { RECONCILE_LOCK } from '../../src/runtime/node/payments-reconciler'
import { balanceOf } from '../../src/services/ledger'
import { appFixture, purchase, signUp, TEST_SECRET, type TestDatabase } from '../support/harness'
import { fund, markPaid, PRICED } from './money'
import { capture } from './output'

const dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-cli-ledger-'))

/** `npm run cli -- …` in-process, on the fixture's database, as an operator's environment would name it. */
function cliOn(db: () => TestDatabase) {
  return async (argv: string[], env: Record<string, string> = {}) => {
    const io = capture()
    const database = db()
    const base = { SECRET_KEY: TEST_SECRET, DATA_DIR: dataDir, PAYMENT_PROVIDER: 'fake', ...(database.url ? { DATABASE_URL: database.url } : {}) }
    const code = await runCli(argv, { env: { ...base, ...env }, io, database })
    return { code, ...io }
  }
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'

describe('adjust-balance', () => {
  const f = appFixture(PRICED)
  const cli = cliOn(() => f.db)
  const adjustments = (userId: string) =>
    f.db.db
      .select()
      .from(ledgerTransactions)
      .where(and(eq(ledgerTransactions.userId, userId), eq(ledgerTransactions.kind, 'adjustment')))
      .orderBy(ledgerTransactions.createdAt)

  it('gives credits by email and takes some by id, printing the transaction and the balance; the user sees each reason', async () => {
    const { user, jwt } = await signUp(f.t)
    const given = await cli(['adjust-balance', '--user', user.email.toUpperCase(), '--amount', '25.00', '--reason', 'Goodwill credit'])
    expect(given.code, given.stderr.join('\n')).toBe(0)
    expect(given.stderr).toEqual([])
    const who = `<${user.email}> \\(id ${user.id}\\)`
    expect(given.stdout[0]).toMatch(new RegExp(`^adjusted the balance of ${who} by \\+25\\.00 ZNC: transaction (${UUID}) \\(reference cli:${UUID}\\)$`))
    expect(given.stdout[1]).toBe(`balance of <${user.email}> (id ${user.id}) now 25.00 ZNC`)

    const taken = await cli(['adjust-balance', '--user', user.id, '--amount', '-5.50', '--reason', 'Correction of a double top-up'])
    expect(taken.code, taken.stderr.join('\n')).toBe(0)
    expect(taken.stdout[0]).toMatch(new RegExp(`^adjusted the balance of ${who} by -5\\.50 ZNC: transaction ${UUID}`))
    expect(taken.stdout[1]).toBe(`balance of <${user.email}> (id ${user.id}) now 19.50 ZNC`)

    expect(await balanceOf(f.db.db, user.id)).toBe(1950)
    const rows = await adjustments(user.id)
    expect(rows).toEqual([
      expect.objectContaining({ description: 'Goodwill credit', actorId: null, reference: expect.stringMatching(new RegExp(`^cli:${UUID}$`)) }),
      expect.objectContaining({ description: 'Correction of a double top-up', actorId: null }),
    ])
    expect(given.stdout[0]).toContain(rows[0]!.id)
    // Each run made its own reference: two commands, two adjustments.
    expect(rows[0]!.reference).not.toBe(rows[1]!.reference)

    const history = (await (await f.t.request('/api/v1/currency/transactions', { bearer: jwt })).json()) as {
      items: { amount: string; description: string; transaction_type: string; balance_after: string }[]
    }
    expect(history.items.map((i) => [i.transaction_type, i.amount, i.description, i.balance_after])).toEqual([
      ['adjustment', '-5.50', 'Correction of a double top-up', '19.50'],
      ['adjustment', '25.00', 'Goodwill credit', '25.00'],
    ])
  })

  it('with --reference, the same command twice moves money once and says so; another adjustment under it is refused', async () => {
    const { user } = await signUp(f.t)
    const key = `ticket-${randomBytes(4).toString('hex')}`
    const argv = ['adjust-balance', '--user', user.email, '--amount', '10.00', '--reason', 'Support ticket', '--reference', key]
    const first = await cli(argv)
    expect(first.code, first.stderr.join('\n')).toBe(0)
    const id = new RegExp(`transaction (${UUID})`).exec(first.stdout[0]!)![1]!
    expect(first.stdout[0]).toContain(`(reference cli:${key})`)

    const second = await cli(argv)
    expect(second.code).toBe(0)
    expect(second.stdout).toEqual([
      `reference cli:${key} was already posted (transaction ${id}): nothing moved`,
      `balance of <${user.email}> (id ${user.id}) now 10.00 ZNC`,
    ])
    expect(await balanceOf(f.db.db, user.id)).toBe(1000)
    expect(await adjustments(user.id)).toEqual([expect.objectContaining({ id, reference: `cli:${key}` })])

    const other = await cli(['adjust-balance', '--user', user.email, '--amount', '-10.00', '--reason', 'Support ticket', '--reference', key])
    expect(other.code).toBe(1)
    expect(other.stderr).toEqual([
      `adjust-balance: reference cli:${key} was already used for another adjustment (transaction ${id}: +10.00 ZNC to user ${user.id}); nothing moved`,
    ])
    expect(await balanceOf(f.db.db, user.id)).toBe(1000)
  })

  it("refuses to take more than the balance, with the API's message, exit 1, and moves nothing", async () => {
    const { user, jwt } = await signUp(f.t)
    await fund(f.db.db, user.id, 2000)
    await purchase(f.t, jwt) // 18.00 of it spent: 2.00 left
    const r = await cli(['adjust-balance', '--user', user.email, '--amount', '-2.01', '--reason', 'Too much'])
    expect(r.code).toBe(1)
    expect(r.stdout).toEqual([])
    expect(r.stderr).toEqual(['adjust-balance: Adjustment would make balance negative. Available: 2.00 ZNC'])
    expect(await balanceOf(f.db.db, user.id)).toBe(200)
    expect(await adjustments(user.id)).toHaveLength(1) // the funding only

    const all = await cli(['adjust-balance', '--user', user.email, '--amount=-2.00', '--reason', 'Exactly all of it'])
    expect(all.code, all.stderr.join('\n')).toBe(0)
    expect(all.stdout[1]).toBe(`balance of <${user.email}> (id ${user.id}) now 0.00 ZNC`)
  })

  it('fails (exit 1) for a user that does not exist, naming who was asked for', async () => {
    const email = await cli(['adjust-balance', '--user', 'Nobody@Example.com', '--amount', '1.00', '--reason', 'Nobody'])
    expect(email.code).toBe(1)
    expect(email.stderr).toEqual(['adjust-balance: no user with email nobody@example.com'])
    const id = randomUUID()
    const byId = await cli(['adjust-balance', '--user', id, '--amount', '1.00', '--reason', 'Nobody'])
    expect(byId.code).toBe(1)
    expect(byId.stderr).toEqual([`adjust-balance: no user with id ${id}`])
    expect(await f.db.db.$count(ledgerTransactions, eq(ledgerTransactions.description, 'Nobody'))).toBe(0)
  })
})

describe('payments-reconcile', () => {
  const f = appFixture(PRICED)
  const cli = cliOn(() => f.db)

  it('credits a paid top-up whose confirmation never arrived, once; a second run finds nothing to do', async () => {
    const { user } = await signUp(f.t)
    const answer = await f.t.services.payments.topUp(user.id, { amountMinor: 1000, returnUrl: 'http://x/' }, null)
    const paymentId = (JSON.parse(answer.body) as { payment_id: string }).payment_id

    const unpaid = await cli(['payments-reconcile'])
    expect(unpaid.code, unpaid.stderr.join('\n')).toBe(0)
    expect(unpaid.stdout).toEqual(['payments-reconcile (fake): 1 open payment(s) checked, 0 credited, 0 unavailable'])
    expect(await balanceOf(f.db.db, user.id)).toBe(0)

    // Paid at the provider; the notification (or the checkout's own sync) was lost.
    await markPaid(f.db.db, paymentId)
    const paid = await cli(['payments-reconcile'])
    expect(paid.code, paid.stderr.join('\n')).toBe(0)
    expect(paid.stdout).toEqual(['payments-reconcile (fake): 1 open payment(s) checked, 1 credited, 0 unavailable'])
    expect(paid.stderr).toEqual([])
    expect(await balanceOf(f.db.db, user.id)).toBe(1000)
    const [row] = await f.db.db.select().from(payments).where(eq(payments.id, paymentId))
    expect(row).toMatchObject({ status: 'succeeded', creditedAt: expect.any(Date) })

    const again = await cli(['payments-reconcile'])
    expect(again.code).toBe(0)
    expect(again.stdout).toEqual(['payments-reconcile (fake): 0 open payment(s) checked, 0 credited, 0 unavailable'])
    expect(await balanceOf(f.db.db, user.id)).toBe(1000)
    expect(await f.db.db.$count(ledgerTransactions, and(eq(ledgerTransactions.paymentId, paymentId), eq(ledgerTransactions.kind, 'deposit')))).toBe(1)
    expect((await cli(['ledger-check'])).code).toBe(0)
  })

  it('fails (exit 1) when the provider cannot be reached, leaving the payment open for the next run', async () => {
    const { user } = await signUp(f.t)
    const [open] = await f.db.db
      .insert(payments)
      .values({
        userId: user.id,
        provider: 'yookassa',
        providerPaymentId: `yk-${randomUUID()}`,
        status: 'pending',
        amountMinor: 1000,
        chargeMinor: 10000,
        currency: 'RUB',
      })
      .returning()
    const yookassa = { PAYMENT_PROVIDER: 'yookassa', YOOKASSA_SHOP_ID: '123', YOOKASSA_SECRET_KEY: 'test_not_a_key', YOOKASSA_API_URL: 'http://127.0.0.1:1/v3' }
    try {
      const r = await cli(['payments-reconcile'], yookassa)
      expect(r.code).toBe(1)
      expect(r.stdout).toEqual(['payments-reconcile (yookassa): 1 open payment(s) checked, 0 credited, 1 unavailable'])
      expect(r.stderr).toEqual([
        'warning: payment provider unreachable',
        'payments-reconcile: the payment provider (yookassa) was unavailable; the payments after it are asked again on the next run',
      ])
      const [still] = await f.db.db.select().from(payments).where(eq(payments.id, open!.id))
      expect(still).toMatchObject({ status: 'pending', creditedAt: null })
      expect(await balanceOf(f.db.db, user.id)).toBe(0)
    } finally {
      await f.db.db.update(payments).set({ status: 'canceled' }).where(eq(payments.id, open!.id))
    }
  })

  it.skipIf(!process.env.DATABASE_URL)("waits for a server's round in progress (the servers' reconcile lock), then runs its own", async () => {
    const { user } = await signUp(f.t)
    const answer = await f.t.services.payments.topUp(user.id, { amountMinor: 1500, returnUrl: 'http://x/' }, null)
    await markPaid(f.db.db, (JSON.parse(answer.body) as { payment_id: string }).payment_id)
    let release!: () => void
    let held!: () => void
    const holding = new Promise<void>((r) => (held = r))
    // What a server's reconciler holds for the length of its round.
    const server = f.db.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${RECONCILE_LOCK})`)
      held()
      await new Promise<void>((r) => (release = r))
    })
    await holding
    let finished = false
    const run = cli(['payments-reconcile']).finally(() => (finished = true))
    await new Promise((r) => setTimeout(r, 500))
    expect(finished).toBe(false)
    expect(await balanceOf(f.db.db, user.id)).toBe(0)
    release()
    await server
    const r = await run
    expect(r.code, r.all()).toBe(0)
    expect(r.stdout).toEqual(['payments-reconcile (fake): 1 open payment(s) checked, 1 credited, 0 unavailable'])
    expect(await balanceOf(f.db.db, user.id)).toBe(1500)
  })

  it('refuses (exit 1) when no payment provider is configured', async () => {
    const r = await cli(['payments-reconcile'], { PAYMENT_PROVIDER: 'none' })
    expect(r.code).toBe(1)
    expect(r.stderr).toEqual(['payments-reconcile: no payment provider is configured (PAYMENT_PROVIDER=none), so no payment can be confirmed'])
  })
})

describe('ledger-check', () => {
  // A database of its own: the broken rows written below can never be deleted (the ledger is append-only).
  const f = appFixture(PRICED)
  const cli = cliOn(() => f.db)

  it('finds every invariant holding after real activity, and says how much it checked (exit 0)', async () => {
    // a: a top-up credited by reconcile, a purchase, a refund; b: an adjustment.
    const a = await signUp(f.t)
    const b = await signUp(f.t)
    const answer = await f.t.services.payments.topUp(a.user.id, { amountMinor: 5000, returnUrl: 'http://x/' }, null)
    await markPaid(f.db.db, (JSON.parse(answer.body) as { payment_id: string }).payment_id)
    expect((await cli(['payments-reconcile'])).code).toBe(0)
    const token = await purchase(f.t, a.jwt)
    expect((await f.t.services.tokens.revoke(a.user.id, token.id)).refundMinor).toBe(1800)
    expect((await cli(['adjust-balance', '--user', b.user.email, '--amount', '3.00', '--reason', 'Welcome'])).code).toBe(0)

    const r = await cli(['ledger-check'])
    expect(r.code, r.all()).toBe(0)
    expect(r.stdout).toEqual(['ledger-check: all invariants hold (4 transaction(s), 2 wallet(s))'])
    expect(r.stderr).toEqual([])
    expect([await balanceOf(f.db.db, a.user.id), await balanceOf(f.db.db, b.user.id)]).toEqual([5000, 300])
  })

  it('reports each broken rule with what broke it, and fails (exit 1)', async () => {
    const a = await signUp(f.t)
    const b = await signUp(f.t)
    await fund(f.db.db, b.user.id, 700)
    const broken = await f.db.db.transaction(async (tx) => {
      // The database refuses all of this on its own; only with its ledger triggers off (for this transaction) can it be written.
      for (const table of ['ledger_entries', 'ledger_transactions', 'ledger_accounts']) await tx.execute(sql.raw(`alter table ${table} disable trigger user`))
      // 1. A transaction of one entry: 1.00 into revenue from nowhere.
      const [unbalanced] = await tx
        .insert(ledgerTransactions)
        .values({ kind: 'adjustment', reference: `broken:${randomUUID()}`, userId: a.user.id, description: 'one-sided' })
        .returning()
      const [revenue] = await tx
        .select()
        .from(ledgerAccounts)
        .where(and(eq(ledgerAccounts.kind, 'revenue'), isNull(ledgerAccounts.userId)))
      await tx.execute(sql`insert into ledger_entries (transaction_id, account_id, amount) values (${unbalanced!.id}, ${revenue!.id}, 100)`)
      // 2. A wallet balance moved without an entry.
      await tx.update(ledgerAccounts).set({ balance: 1200 }).where(eq(ledgerAccounts.userId, b.user.id))
      for (const table of ['ledger_entries', 'ledger_transactions', 'ledger_accounts']) await tx.execute(sql.raw(`alter table ${table} enable trigger user`))
      // 3. A payment marked succeeded that was never credited. 4. A token sold at a price never debited.
      const [payment] = await tx
        .insert(payments)
        .values({
          userId: a.user.id,
          provider: 'fake',
          providerPaymentId: `fake_${randomUUID()}`,
          status: 'succeeded',
          amountMinor: 1000,
          chargeMinor: 10000,
          currency: 'RUB',
        })
        .returning()
      const [token] = await tx
        .insert(accessTokens)
        .values({ userId: a.user.id, tokenHash: randomBytes(32).toString('hex'), tokenCiphertext: 'not a token', durationHours: 24, costMinor: 1800 })
        .returning()
      return { transaction: unbalanced!.id, payment: payment!.id, token: token!.id }
    })

    const r = await cli(['ledger-check'])
    expect(r.code).toBe(1)
    expect(r.stdout).toEqual([
      `balanced transactions: transaction ${broken.transaction}: 1 entries summing to 100`,
      `balance equals the sum of entries: wallet of user ${b.user.id}: balance 1200, entries sum to 700`,
      `every succeeded payment credited exactly once with its amount: payment ${broken.payment} (succeeded, 1000): 0 deposit(s) crediting 0`,
      `every priced token debited its price, refunded at most that: token ${broken.token}: price 1800, debited 0, refunded 0`,
    ])
    // The earlier test's 4 and this one's funding and broken transaction; a's wallet was never made (nothing was posted to it).
    expect(r.stderr).toEqual(['ledger-check: 4 violation(s) found (6 transaction(s), 3 wallet(s))'])
  })
})
