// The Workers Cron Trigger: the built worker in Miniflare, a top-up made through it at a local fake
// of YooKassa's API, paid there with its notification lost; one scheduled() run credits it once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newAccount, TEST_SECRET, type TestDatabase, testDatabase } from '../../support/harness'
import { buildWorker, type RunningWorker, startWorker } from '../../support/worker'
import { startYooKassaFake, type YooKassaFake } from '../../support/yookassa-fake'

describe.skipIf(!process.env.DATABASE_URL)('the worker’s scheduled() handler (needs DATABASE_URL)', () => {
  let db: TestDatabase
  let yk: YooKassaFake
  let worker: RunningWorker
  beforeAll(async () => {
    buildWorker()
    db = await testDatabase()
    yk = await startYooKassaFake()
    worker = await startWorker({
      NODE_ENV: 'test',
      SECRET_KEY: TEST_SECRET,
      BCRYPT_ROUNDS: '4',
      RATE_LIMITS: 'off',
      DATABASE_URL: db.url!,
      ZENZEFI_TARGET_URL: 'http://127.0.0.1:9',
      PAYMENT_PROVIDER: 'yookassa',
      YOOKASSA_SHOP_ID: yk.shopId,
      YOOKASSA_SECRET_KEY: yk.secretKey,
      YOOKASSA_API_URL: yk.url,
    })
  }, 120_000)
  afterAll(async () => {
    await worker?.close()
    await yk?.close()
    await db?.drop()
  })

  const call = async (path: string, body?: unknown, jwt?: string) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (jwt) headers.authorization = `Bearer ${jwt}`
    const res = await fetch(`${worker.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return res.json()
  }

  it('credits a paid top-up whose notification never came, once', async () => {
    const account = newAccount()
    await call('/api/v1/auth/register', account)
    const { access_token: jwt } = await call('/api/v1/auth/login', { email: account.email, password: account.password })
    const { payment_id } = await call('/api/v1/currency/purchase', { amount_znc: '30.00' }, jwt)
    const remote = [...yk.payments.values()].find((p) => p.metadata.payment_id === payment_id)!
    yk.pay(remote.id)
    expect(await call('/api/v1/currency/balance', undefined, jwt)).toEqual({ balance: '0.00', currency: 'ZNC' })

    const cron = await worker.mf.getWorker()
    await cron.scheduled({ cron: '*/5 * * * *' })
    expect(await call('/api/v1/currency/balance', undefined, jwt)).toEqual({ balance: '30.00', currency: 'ZNC' })
    await cron.scheduled({ cron: '*/5 * * * *' })
    expect(await call('/api/v1/currency/balance', undefined, jwt)).toEqual({ balance: '30.00', currency: 'ZNC' })
    expect(await call(`/api/v1/currency/payments/${payment_id}`, undefined, jwt)).toMatchObject({ status: 'succeeded', credited: true })
  }, 60_000)
})
