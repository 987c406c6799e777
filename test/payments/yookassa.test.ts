// The real YooKassa adapter against the local fake of YooKassa's API: real HTTP, no fetch mocks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CreatePayment, type PaymentProvider, ProviderRejected, ProviderUnavailable } from '../../src/payments/provider'
import { createYooKassaProvider, minorToValue, valueToMinor } from '../../src/payments/yookassa'
import { startYooKassaFake, type YooKassaFake } from '../support/yookassa-fake'

let fake: YooKassaFake
let provider: PaymentProvider
/** Every error the adapter threw in this file: none may carry the credentials. */
const thrown: unknown[] = []

function request(overrides: Partial<CreatePayment> = {}): CreatePayment {
  return {
    idempotenceKey: crypto.randomUUID(),
    amountMinor: 15000,
    currency: 'RUB',
    description: 'Zenzefi access top-up',
    returnUrl: 'https://zenzefi.example/payments/return',
    metadata: { payment_id: crypto.randomUUID() },
    ...overrides,
  }
}

/** The rejection of `promise`, remembered for the credentials check. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  const err = await promise.then(
    () => {
      throw new Error('expected the call to fail')
    },
    (e: unknown) => e,
  )
  thrown.push(err)
  return err
}

beforeAll(async () => {
  fake = await startYooKassaFake()
  provider = createYooKassaProvider({ shopId: fake.shopId, secretKey: fake.secretKey, apiUrl: fake.url })
})

afterAll(async () => {
  await fake?.close()
})

describe('amount strings', () => {
  it('formats integer minor units exactly', () => {
    expect(minorToValue(15000)).toBe('150.00')
    expect(minorToValue(5)).toBe('0.05')
    expect(minorToValue(10)).toBe('0.10')
    expect(minorToValue(12345)).toBe('123.45')
    expect(minorToValue(900719925474099)).toBe('9007199254740.99')
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) expect(() => minorToValue(bad)).toThrow(RangeError)
  })

  it('parses only plain decimal strings, by string arithmetic', () => {
    expect(valueToMinor('100.1')).toBe(10010)
    expect(valueToMinor('100')).toBe(10000)
    expect(valueToMinor('0.05')).toBe(5)
    expect(valueToMinor('123.45')).toBe(12345)
    expect(valueToMinor('0.29')).toBe(29) // 0.29 * 100 is 28.999999999999996 in floats
    for (const bad of ['', '1e3', '100.001', '-1', ' 100', '100.', '.5', '1,000.00', '0x10', 100, null, '99999999999999999.99']) {
      expect(valueToMinor(bad)).toBeNull()
    }
  })
})

describe('create', () => {
  it('creates a pending payment with a confirmation url, sending what YooKassa expects', async () => {
    const req = request({ amountMinor: 15000 })
    const payment = await provider.create(req)
    expect(payment).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'pending',
      amountMinor: 15000,
      currency: 'RUB',
      confirmationUrl: `${fake.url}/checkout/${payment.id}`,
      metadata: req.metadata,
    })
    const stored = fake.payments.get(payment.id)!
    expect(stored.amount).toEqual({ value: '150.00', currency: 'RUB' })
    expect(stored.description).toBe('Zenzefi access top-up')
    expect(fake.calls.at(-1)).toEqual({ method: 'POST', path: '/v3/payments', idempotenceKey: req.idempotenceKey })
  })

  it('sends small amounts exactly (5 kopecks is "0.05")', async () => {
    const payment = await provider.create(request({ amountMinor: 5 }))
    expect(payment.amountMinor).toBe(5)
    expect(fake.payments.get(payment.id)!.amount.value).toBe('0.05')
  })

  it("truncates the description to YooKassa's 128 characters", async () => {
    const payment = await provider.create(request({ description: 'Пополнение '.repeat(20) }))
    const description = fake.payments.get(payment.id)!.description!
    expect(description).toHaveLength(128)
    expect(description.startsWith('Пополнение Пополнение')).toBe(true)
  })

  it('returns the same payment for the same Idempotence-Key, and stores one', async () => {
    const req = request()
    const before = fake.payments.size
    const first = await provider.create(req)
    const second = await provider.create(req)
    expect(second.id).toBe(first.id)
    expect(second).toEqual(first)
    expect(fake.payments.size).toBe(before + 1)
    expect(fake.calls.filter((c) => c.idempotenceKey === req.idempotenceKey)).toHaveLength(2)
  })

  it("rejects the same Idempotence-Key with a different body, with YooKassa's description", async () => {
    const req = request()
    await provider.create(req)
    const err = await failure(provider.create({ ...req, amountMinor: req.amountMinor + 100 }))
    expect(err).toBeInstanceOf(ProviderRejected)
    expect((err as ProviderRejected).status).toBe(400)
    expect((err as Error).message).toContain('invalid_request')
    expect((err as Error).message).toContain('Idempotence key duplicated')
  })

  it('refuses amounts it cannot state exactly before asking anyone', async () => {
    const calls = fake.calls.length
    await expect(provider.create(request({ amountMinor: 10.5 }))).rejects.toThrow(RangeError)
    await expect(provider.create(request({ amountMinor: 0 }))).rejects.toThrow(RangeError)
    expect(fake.calls.length).toBe(calls)
  })
})

describe('get', () => {
  it('reads a paid payment with exact minor units', async () => {
    const created = await provider.create(request({ amountMinor: 12345 }))
    expect(await provider.get(created.id)).toEqual({ ...created, status: 'pending' })
    fake.pay(created.id)
    const paid = await provider.get(created.id)
    expect(paid).toEqual({ ...created, status: 'succeeded', amountMinor: 12345, confirmationUrl: null })
    expect(fake.calls.at(-1)).toEqual({ method: 'GET', path: `/v3/payments/${created.id}`, idempotenceKey: null })
  })

  it('reads amounts with fewer decimals ("100.1" is 10010) and a changed amount as it is', async () => {
    const created = await provider.create(request())
    fake.setAmount(created.id, '100.1', 'RUB')
    expect((await provider.get(created.id))!.amountMinor).toBe(10010)
    fake.setAmount(created.id, '7', 'EUR')
    expect(await provider.get(created.id)).toMatchObject({ amountMinor: 700, currency: 'EUR' })
  })

  it('reads canceled and waiting_for_capture', async () => {
    const created = await provider.create(request())
    fake.cancel(created.id)
    expect(await provider.get(created.id)).toMatchObject({ status: 'canceled', confirmationUrl: null })
    fake.setStatus(created.id, 'waiting_for_capture')
    expect((await provider.get(created.id))!.status).toBe('waiting_for_capture')
  })

  it('answers null for a payment YooKassa does not know, and URL-encodes the id', async () => {
    expect(await provider.get('2f3b588d-000f-5000-8000-1d6e87c7fbde')).toBeNull()
    expect(await provider.get('a/../b?c')).toBeNull()
    expect(fake.calls.at(-1)!.path).toBe('/v3/payments/a%2F..%2Fb%3Fc')
  })

  it("treats a bare 404 (not YooKassa's not_found: a wrong apiUrl, a proxy) as unavailable, never as an unknown payment", async () => {
    const { createServer } = await import('node:http')
    const other = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'))
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r))
    try {
      const apiUrl = `http://127.0.0.1:${(other.address() as { port: number }).port}/v3`
      const wrong = createYooKassaProvider({ shopId: fake.shopId, secretKey: fake.secretKey, apiUrl })
      expect(await failure(wrong.get('2f3b588d-000f-5000-8000-1d6e87c7fbde'))).toBeInstanceOf(ProviderUnavailable)
      const err = await failure(wrong.create(request()))
      expect(err).toBeInstanceOf(ProviderRejected)
      expect((err as ProviderRejected).status).toBe(404)
    } finally {
      await new Promise<void>((r) => other.close(() => r()))
    }
  })
})

describe('failures', () => {
  it('an injected 500 or 429 is ProviderUnavailable, and the next call works', async () => {
    fake.failNext(1, 500)
    const err = await failure(provider.create(request()))
    expect(err).toBeInstanceOf(ProviderUnavailable)
    expect((err as Error).message).toContain('HTTP 500')
    fake.failNext(1, 429)
    expect(await failure(provider.get('whatever'))).toBeInstanceOf(ProviderUnavailable)
    expect((await provider.create(request())).status).toBe('pending')
  })

  it('a timeout is ProviderUnavailable', async () => {
    const quick = createYooKassaProvider({ shopId: fake.shopId, secretKey: fake.secretKey, apiUrl: fake.url, timeoutMs: 200 })
    fake.failNext(1, 'timeout')
    const started = Date.now()
    const err = await failure(quick.create(request()))
    expect(err).toBeInstanceOf(ProviderUnavailable)
    expect((err as Error).message).toContain('no answer within 200 ms')
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('a reset connection is ProviderUnavailable', async () => {
    const created = await provider.create(request())
    fake.failNext(1, 'reset')
    const err = await failure(provider.get(created.id))
    expect(err).toBeInstanceOf(ProviderUnavailable)
    expect((err as Error).message).toContain('network error')
  })

  it('while YooKassa is down every call is ProviderUnavailable; after up() calls work again', async () => {
    const created = await provider.create(request())
    await fake.down()
    try {
      expect(await failure(provider.create(request()))).toBeInstanceOf(ProviderUnavailable)
      const err = await failure(provider.get(created.id))
      expect(err).toBeInstanceOf(ProviderUnavailable)
      expect((err as Error).message).toContain('ECONNREFUSED')
    } finally {
      await fake.up()
    }
    expect((await provider.get(created.id))!.id).toBe(created.id)
  })

  it('a wrong secret key is ProviderRejected with status 401', async () => {
    const wrong = createYooKassaProvider({ shopId: fake.shopId, secretKey: 'test_wrongSecretKey_4f1c9a', apiUrl: fake.url })
    const err = await failure(wrong.create(request()))
    expect(err).toBeInstanceOf(ProviderRejected)
    expect((err as ProviderRejected).status).toBe(401)
    expect((err as Error).message).toContain('invalid_credentials')
    expect(String((err as Error).stack)).not.toContain('test_wrongSecretKey_4f1c9a')
    expect(await failure(wrong.get('anything'))).toBeInstanceOf(ProviderRejected)
  })

  it('garbled answers are ProviderUnavailable, never a guess', async () => {
    const created = await provider.create(request())
    const garbled = async () => {
      const err = await failure(provider.get(created.id))
      expect(err).toBeInstanceOf(ProviderUnavailable)
      expect((err as Error).message).toContain('unreadable payment')
    }
    for (const value of ['1e3', '100.001', '-100.00', '100,00', ' 100.00', '']) {
      fake.setAmount(created.id, value, 'RUB')
      await garbled()
    }
    fake.setAmount(created.id, '100.00', 'rub')
    await garbled()
    fake.setAmount(created.id, '100.00', 'RUB')
    fake.setStatus(created.id, 'paid')
    await garbled()
    fake.setStatus(created.id, 'pending')
    expect((await provider.get(created.id))!.amountMinor).toBe(10000)

    fake.failNext(1, 'garbled')
    const err = await failure(provider.create(request()))
    expect(err).toBeInstanceOf(ProviderUnavailable)
    expect((err as Error).message).toContain('not JSON')
  })

  it("keeps the credentials out of messages even when YooKassa's description quotes them", async () => {
    const { createServer } = await import('node:http')
    const encoded = btoa(`${fake.shopId}:${fake.secretKey}`)
    // The secret sits across the 300-character cut, so clipping before redacting would leak half of it.
    const description = `${'x'.repeat(290)}${fake.secretKey} Basic ${encoded}\u0000\n`
    const echo = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', id: 'e1', code: 'invalid_request', description }))
    })
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
    try {
      const apiUrl = `http://127.0.0.1:${(echo.address() as { port: number }).port}/v3`
      const p = createYooKassaProvider({ shopId: fake.shopId, secretKey: fake.secretKey, apiUrl })
      const err = await failure(p.create(request()))
      expect(err).toBeInstanceOf(ProviderRejected)
      expect((err as Error).message).toContain('[redacted]')
      expect((err as Error).message).not.toContain(fake.secretKey.slice(0, 10))
      expect([...(err as Error).message].some((c) => c < ' ')).toBe(false)
    } finally {
      await new Promise<void>((r) => echo.close(() => r()))
    }
  })

  it('never puts the secret key or the Authorization header into an error', async () => {
    expect(thrown.length).toBeGreaterThan(10)
    const secrets = [fake.secretKey, 'test_wrongSecretKey_4f1c9a']
    for (const secret of secrets) {
      const encoded = btoa(`${fake.shopId}:${secret}`)
      for (const err of thrown) {
        let e: unknown = err
        while (e) {
          const text = e instanceof Error ? `${e.message}\n${e.stack}\n${JSON.stringify(e)}` : String(e)
          expect(text).not.toContain(secret)
          expect(text).not.toContain(encoded)
          expect(text).not.toContain('Basic ')
          e = (e as { cause?: unknown }).cause
        }
      }
    }
  })
})

describe('the fake', () => {
  it("requires Basic auth and an Idempotence-Key, and answers in YooKassa's error shape", async () => {
    const noAuth = await fetch(`${fake.url}/payments/x`)
    expect(noAuth.status).toBe(401)
    expect(await noAuth.json()).toMatchObject({ type: 'error', code: 'invalid_credentials' })
    const auth = `Basic ${btoa(`${fake.shopId}:${fake.secretKey}`)}`
    const noKey = await fetch(`${fake.url}/payments`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: { value: '1.00', currency: 'RUB' }, confirmation: { type: 'redirect', return_url: 'https://x.example' } }),
    })
    expect(noKey.status).toBe(400)
    expect(await noKey.json()).toMatchObject({ type: 'error', code: 'invalid_request', parameter: 'Idempotence-Key' })
  })

  it('forgets an Idempotence-Key after 24 hours', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z')
    const local = await startYooKassaFake({ shopId: '42', secretKey: 'test_local', now: () => now })
    try {
      const p = createYooKassaProvider({ shopId: '42', secretKey: 'test_local', apiUrl: local.url })
      const req = request()
      const first = await p.create(req)
      now += 23 * 60 * 60 * 1000
      expect((await p.create(req)).id).toBe(first.id)
      now += 2 * 60 * 60 * 1000
      expect((await p.create(req)).id).not.toBe(first.id)
      expect(local.payments.size).toBe(2)
    } finally {
      await local.close()
    }
  })

  it('posts a YooKassa-shaped notification to a webhook', async () => {
    const created = await provider.create(request())
    fake.pay(created.id)
    const { createServer } = await import('node:http')
    const received: { headers: Record<string, unknown>; body: unknown }[] = []
    const hook = createServer((req, res) => {
      let text = ''
      req.on('data', (c) => (text += c))
      req.on('end', () => {
        received.push({ headers: req.headers, body: JSON.parse(text) })
        res.writeHead(200).end()
      })
    })
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r))
    try {
      const port = (hook.address() as { port: number }).port
      const res = await fake.notify(`http://127.0.0.1:${port}/webhooks/yookassa`, created.id, { headers: { 'x-test': '1' } })
      expect(res.status).toBe(200)
      expect(received).toHaveLength(1)
      expect(received[0]!.headers['x-test']).toBe('1')
      expect(received[0]!.body).toMatchObject({
        type: 'notification',
        event: 'payment.succeeded',
        object: { id: created.id, status: 'succeeded', paid: true, amount: { value: '150.00', currency: 'RUB' } },
      })
    } finally {
      await new Promise<void>((r) => hook.close(() => r()))
    }
  })
})
