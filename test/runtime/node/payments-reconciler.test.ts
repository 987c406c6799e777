// The periodic re-sync runs on one instance at a time: two instances on one PostgreSQL ticking
// together ask YooKassa about each open payment once, not twice, and credit it once.

import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RECONCILE_LOCK, startReconciler } from '../../../src/runtime/node/payments-reconciler'
import { signUp, startApp, type TestApp, type TestDatabase, testDatabase } from '../../support/harness'
import { startYooKassaFake, type YooKassaFake } from '../../support/yookassa-fake'

const onPostgres = !!process.env.DATABASE_URL

describe.skipIf(!onPostgres)('payments reconciler across instances (needs DATABASE_URL)', () => {
  let db: TestDatabase
  let yk: YooKassaFake
  let a: TestApp
  let b: TestApp
  beforeAll(async () => {
    db = await testDatabase()
    yk = await startYooKassaFake()
    const env = { PAYMENT_PROVIDER: 'yookassa', YOOKASSA_SHOP_ID: yk.shopId, YOOKASSA_SECRET_KEY: yk.secretKey, YOOKASSA_API_URL: yk.url }
    a = await startApp({ database: db, env })
    b = await startApp({ database: db, env })
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await yk?.close()
    await db?.drop()
  })

  it('two instances ticking at once: each open payment is asked about once and credited once', async () => {
    const u = await signUp(a)
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const created = await a.services.payments.topUp(u.user.id, { amountMinor: 1000, returnUrl: 'https://x.test/' }, null)
      ids.push(JSON.parse(created.body).payment_id)
    }
    for (const p of yk.payments.values()) yk.pay(p.id)
    const gets = () => yk.calls.filter((c) => c.method === 'GET').length
    const before = gets()
    const log = a.deps.log
    const ra = startReconciler({ database: a.deps.database, payments: a.services.payments, seconds: 0, log })
    const rb = startReconciler({ database: b.deps.database, payments: b.services.payments, seconds: 0, log })
    const [one, two] = await Promise.all([ra.tick(), rb.tick()])
    const ran = [one, two].filter((r) => r !== null)
    // One held the lock; the other saw it taken (or, if the first had already finished, found nothing open).
    expect(ran.reduce((n, r) => n + r!.credited, 0)).toBe(5)
    expect(gets() - before).toBe(5)
    for (const id of ids) expect((await a.services.payments.get(u.user.id, id)).credited).toBe(true)
    const balance = await a.request('/api/v1/currency/balance', { bearer: u.jwt })
    expect(await balance.json()).toEqual({ balance: '50.00', currency: 'ZNC' })
    await ra.stop()
    await rb.stop()
  })

  it('while another instance holds the round, a tick does nothing and asks YooKassa nothing', async () => {
    const r = startReconciler({ database: a.deps.database, payments: a.services.payments, seconds: 0, log: a.deps.log })
    const before = yk.calls.length
    let result: unknown = 'not run'
    await b.deps.database.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${RECONCILE_LOCK})`)
      result = await r.tick()
    })
    expect(result).toBeNull()
    expect(yk.calls.length).toBe(before)
    expect(await r.tick()).toMatchObject({ unavailable: 0 })
    await r.stop()
  })
})
