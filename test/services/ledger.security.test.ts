// The ledger's rules hold even when our code is bypassed: each write below is raw SQL, as a
// bug or a hand-run fix would be, and the database itself refuses it.
import { type SQL, sql } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { pgErrorCode, queryRows } from '../../src/db/client'
import { appFixture, purchase, signUp } from '../support/harness'
import { giveCredits, ledgerViolations, PRICED } from '../support/money'

const f = appFixture(PRICED)
let userId: string
let walletId: string
let tokenId: string

beforeAll(async () => {
  const u = await signUp(f.t)
  userId = u.user.id
  await giveCredits(f.t, userId, 5000)
  tokenId = (await purchase(f.t, u.jwt, 24)).id
  const [w] = await queryRows<{ id: string }>(f.db.db, sql`select id from ledger_accounts where user_id = ${userId}`)
  walletId = w!.id
})

/** Runs raw SQL in its own transaction; resolves to the refusal's message and SQLSTATE. */
async function refused(query: SQL | SQL[]): Promise<{ message: string; code: string | undefined }> {
  const err = await f.db.db
    .transaction(async (tx) => {
      for (const q of Array.isArray(query) ? query : [query]) await tx.execute(q)
    })
    .then(
      () => null,
      (e: unknown) => e as Error,
    )
  if (!err) throw new Error('the database accepted it')
  const cause = (err as { cause?: Error }).cause ?? err
  return { message: cause.message, code: pgErrorCode(err) }
}

const balance = async () => Number((await queryRows<{ b: string }>(f.db.db, sql`select balance::text as b from ledger_accounts where id = ${walletId}`))[0]!.b)

describe('the database refuses what would break the ledger', () => {
  it('editing or deleting an entry or a transaction', async () => {
    for (const q of [
      sql`update ledger_entries set amount = amount * 2`,
      sql`delete from ledger_entries`,
      sql`update ledger_transactions set description = 'changed'`,
      sql`delete from ledger_transactions`,
    ]) {
      expect((await refused(q)).message).toMatch(/append-only/)
    }
  })

  it('emptying the ledger with TRUNCATE', async () => {
    for (const table of ['ledger_entries', 'ledger_transactions', 'ledger_accounts']) {
      expect((await refused(sql.raw(`truncate ${table} cascade`))).message).toMatch(/append-only: TRUNCATE/)
    }
  })

  it('setting a balance directly, even to a plausible value', async () => {
    const before = await balance()
    expect((await refused(sql`update ledger_accounts set balance = balance + 100000 where id = ${walletId}`)).message).toMatch(/only through ledger entries/)
    expect(await balance()).toBe(before)
  })

  it('an entry that would take a wallet below zero', async () => {
    const before = await balance()
    const r = await refused([
      sql`insert into ledger_transactions (id, kind, reference, user_id, description) values ('00000000-0000-4000-8000-000000000001', 'adjustment', 'raw-negative', ${userId}, 'raw')`,
      sql`insert into ledger_entries (transaction_id, account_id, amount) values
            ('00000000-0000-4000-8000-000000000001', ${walletId}, ${-(before + 1)}),
            ('00000000-0000-4000-8000-000000000001', (select id from ledger_accounts where kind = 'adjustments'), ${before + 1})`,
    ])
    expect(r.code).toBe('23514')
    expect(r.message).toMatch(/ledger_accounts_balance_check/)
    expect(await balance()).toBe(before)
  })

  it('a transaction whose entries do not sum to zero, or that has one entry or none', async () => {
    const before = await balance()
    const tx = (id: string, ref: string) =>
      sql`insert into ledger_transactions (id, kind, reference, user_id, description) values (${id}, 'adjustment', ${ref}, ${userId}, 'raw')`
    const unbalanced = await refused([
      tx('00000000-0000-4000-8000-000000000002', 'raw-unbalanced'),
      sql`insert into ledger_entries (transaction_id, account_id, amount) values
            ('00000000-0000-4000-8000-000000000002', ${walletId}, 700),
            ('00000000-0000-4000-8000-000000000002', (select id from ledger_accounts where kind = 'adjustments'), -699)`,
    ])
    expect(unbalanced.message).toMatch(/unbalanced \(2 entries, sum 1\)/)
    const single = await refused([
      tx('00000000-0000-4000-8000-000000000003', 'raw-single'),
      sql`insert into ledger_entries (transaction_id, account_id, amount) values ('00000000-0000-4000-8000-000000000003', ${walletId}, 700)`,
    ])
    expect(single.message).toMatch(/unbalanced \(1 entries/)
    const empty = await refused(tx('00000000-0000-4000-8000-000000000004', 'raw-empty'))
    expect(empty.message).toMatch(/unbalanced \(0 entries/)
    expect(await balance()).toBe(before)
  })

  it('a second effect of the same business event', async () => {
    const r = await refused([
      sql`insert into ledger_transactions (kind, reference, user_id, description, token_id) values ('purchase', ${tokenId}, ${userId}, 'again', ${tokenId})`,
    ])
    expect(r.code).toBe('23505')
    expect(r.message).toMatch(/ledger_transactions_reference_key/)
  })

  it('rewriting the price paid for a token (the refund reads it)', async () => {
    expect((await refused(sql`update access_tokens set cost_minor = 99999 where id = ${tokenId}`)).message).toMatch(/price paid/)
  })

  it('a second wallet for one user, a wallet without an owner, or a deleted account', async () => {
    expect((await refused(sql`insert into ledger_accounts (kind, user_id) values ('wallet', ${userId})`)).code).toBe('23505')
    expect((await refused(sql`insert into ledger_accounts (kind) values ('wallet')`)).message).toMatch(/ledger_accounts_owner_check/)
    expect((await refused(sql`delete from ledger_accounts where id = ${walletId}`)).message).toMatch(/never deleted/)
  })

  it('and after all those attempts every invariant still holds', async () => {
    expect(await ledgerViolations(f.t)).toEqual([])
    expect(await balance()).toBe(5000 - 1800)
  })
})
