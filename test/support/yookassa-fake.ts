import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local stand-in for YooKassa's HTTP API v3 (https://api.yookassa.ru/v3): a real HTTP server on
 * 127.0.0.1 with a random port, for tests that point the real adapter at it (YOOKASSA_API_URL = `url`).
 *
 *   POST /v3/payments       Basic auth, Idempotence-Key required; the same key and body within 24 h
 *                           replays the first answer (same id), the same key with another body is 400
 *   GET  /v3/payments/:id   the payment as it is now, or 404 not_found
 *   GET  /v3/checkout/:id   a plain page standing in for the payer's checkout (no auth, not logged)
 *
 * Errors have YooKassa's shape: `{"type": "error", "id", "code", "description", "parameter"?}`.
 * While `down()`, the port is closed: every call gets connection refused until `up()`.
 */

export type YooKassaFakeFailure = 500 | 429 | 'timeout' | 'reset' | 'garbled'

export interface YooKassaFakePayment {
  id: string
  status: string
  paid: boolean
  amount: { value: string; currency: string }
  confirmation?: { type: 'redirect'; confirmation_url: string }
  created_at: string
  captured_at?: string
  description?: string
  metadata: Record<string, string>
  recipient: { account_id: string; gateway_id: string }
  refundable: boolean
  test: boolean
  cancellation_details?: { party: string; reason: string }
}

export interface YooKassaFakeCall {
  method: string
  /** As received, e.g. `/v3/payments/<id>` (still URL-encoded). */
  path: string
  idempotenceKey: string | null
}

export interface YooKassaFakeOptions {
  shopId?: string
  secretKey?: string
  /** The clock for created_at, captured_at and the 24 h idempotence window. */
  now?: () => number
}

export interface YooKassaFake {
  /** The API base, e.g. `http://127.0.0.1:PORT/v3`. */
  readonly url: string
  readonly shopId: string
  readonly secretKey: string
  /** Every API call received (failed, refused and replayed ones too), in order. */
  readonly calls: readonly YooKassaFakeCall[]
  /** Copies of the payments as they are now, by id. */
  readonly payments: ReadonlyMap<string, YooKassaFakePayment>
  /** The payer paid: succeeded, paid, captured_at; the confirmation is no longer offered. */
  pay(id: string): void
  /** Canceled (as if the payer never confirmed); the confirmation is no longer offered. */
  cancel(id: string): void
  /** Sets `status` only, to any string (an unknown one makes a garbled answer). */
  setStatus(id: string, status: string): void
  /** Sets `amount` verbatim, to simulate a mismatch or a garbled value. */
  setAmount(id: string, value: string, currency: string): void
  /**
   * The next `n` API calls fail: 500 or 429 with YooKassa's error body, 'timeout' holds the answer
   * until the client gives up or the fake closes, 'reset' drops the connection, 'garbled' answers 200 with non-JSON.
   */
  failNext(n: number, mode: YooKassaFakeFailure): void
  /** Closes the port: connection refused until up(). */
  down(): Promise<void>
  /** Listens again on the same port. */
  up(): Promise<void>
  /** POSTs `{"type": "notification", "event", "object": <payment>}` to `targetUrl` (default event payment.succeeded). */
  notify(targetUrl: string, id: string, opts?: { event?: string; headers?: Record<string, string> }): Promise<Response>
  close(): Promise<void>
}

const DAY_MS = 24 * 60 * 60 * 1000
const AMOUNT_VALUE = /^\d+(\.\d{1,2})?$/
const MAX_BODY = 1 << 20

type ErrorBody = { type: 'error'; id: string; code: string; description: string; parameter?: string }

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The same JSON with object keys sorted, so equal bodies compare equal whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (isObject(value)) {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** Why a create-payment body is invalid, as YooKassa's `parameter`, or null. */
function invalidParameter(body: unknown): { parameter: string; description: string } | null {
  if (!isObject(body)) return { parameter: 'body', description: 'Request body must be a JSON object' }
  const { amount, capture, confirmation, description, metadata } = body
  if (!isObject(amount)) return { parameter: 'amount', description: 'Amount is required' }
  if (typeof amount.value !== 'string' || !AMOUNT_VALUE.test(amount.value) || !/[1-9]/.test(amount.value)) {
    return { parameter: 'amount.value', description: 'Invalid amount value' }
  }
  if (typeof amount.currency !== 'string' || !/^[A-Z]{3}$/.test(amount.currency)) return { parameter: 'amount.currency', description: 'Invalid currency' }
  if (capture !== undefined && typeof capture !== 'boolean') return { parameter: 'capture', description: 'Invalid capture' }
  if (!isObject(confirmation) || confirmation.type !== 'redirect' || typeof confirmation.return_url !== 'string' || confirmation.return_url.length > 2048) {
    return { parameter: 'confirmation', description: 'Redirect confirmation with return_url is required' }
  }
  if (description !== undefined && (typeof description !== 'string' || description.length > 128)) {
    return { parameter: 'description', description: 'Description must be a string of at most 128 characters' }
  }
  if (metadata !== undefined) {
    if (!isObject(metadata)) return { parameter: 'metadata', description: 'Metadata must be an object' }
    const entries = Object.entries(metadata)
    if (entries.length > 16 || entries.some(([k, v]) => k.length > 32 || typeof v !== 'string' || v.length > 512)) {
      return { parameter: 'metadata', description: 'Metadata: at most 16 keys of up to 32 characters, string values of up to 512' }
    }
  }
  return null
}

function headerValue(value: string | string[] | undefined): string | null {
  return typeof value === 'string' ? value : Array.isArray(value) ? (value[0] ?? null) : null
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY) {
        req.destroy()
        reject(new Error('body too large'))
      } else chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

export async function startYooKassaFake(opts: YooKassaFakeOptions = {}): Promise<YooKassaFake> {
  const shopId = opts.shopId ?? '100500'
  const secretKey = opts.secretKey ?? 'test_fakeSecretKey0123456789abcdef'
  const now = opts.now ?? Date.now
  const expectedAuth = `Basic ${Buffer.from(`${shopId}:${secretKey}`, 'utf8').toString('base64')}`

  const payments = new Map<string, YooKassaFakePayment>()
  /** Idempotence-Key → the first request's canonical body and its answer. */
  const keys = new Map<string, { body: string; answer: string; at: number }>()
  const calls: YooKassaFakeCall[] = []
  const failures: YooKassaFakeFailure[] = []
  const held = new Set<ServerResponse>()
  let isDown = false
  let closed = false
  let url = ''

  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(text) }).end(text)
  }
  const error = (res: ServerResponse, status: number, code: string, description: string, parameter?: string) => {
    const body: ErrorBody = { type: 'error', id: randomUUID(), code, description }
    if (parameter) body.parameter = parameter
    json(res, status, body)
  }
  const find = (id: string): YooKassaFakePayment => {
    const payment = payments.get(id)
    if (!payment) throw new Error(`the YooKassa fake has no payment ${id}`)
    return payment
  }

  async function createPayment(req: IncomingMessage, res: ServerResponse, idempotenceKey: string | null) {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return void res.writeHead(415).end()
    const text = await readBody(req)
    if (!idempotenceKey) return error(res, 400, 'invalid_request', 'Idempotence-Key header is required', 'Idempotence-Key')
    if (idempotenceKey.length > 64) return error(res, 400, 'invalid_request', 'Idempotence-Key is longer than 64 characters', 'Idempotence-Key')
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      return error(res, 400, 'invalid_request', 'Request body is not valid JSON')
    }
    const invalid = invalidParameter(body)
    if (invalid) return error(res, 400, 'invalid_request', invalid.description, invalid.parameter)

    const seen = keys.get(idempotenceKey)
    const form = canonical(body)
    if (seen && now() - seen.at < DAY_MS) {
      if (seen.body !== form) return error(res, 400, 'invalid_request', 'Idempotence key duplicated', 'Idempotence-Key')
      return json(res, 200, seen.answer) // the first answer, as it was then
    }

    const b = body as { amount: { value: string; currency: string }; description?: string; metadata?: Record<string, string> }
    const id = randomUUID()
    const payment: YooKassaFakePayment = {
      id,
      status: 'pending',
      paid: false,
      amount: { value: b.amount.value, currency: b.amount.currency },
      confirmation: { type: 'redirect', confirmation_url: `${url}/checkout/${id}` },
      created_at: new Date(now()).toISOString(),
      metadata: { ...b.metadata },
      recipient: { account_id: shopId, gateway_id: '1000001' },
      refundable: false,
      test: true,
    }
    if (b.description !== undefined) payment.description = b.description
    payments.set(id, payment)
    const answer = JSON.stringify(payment)
    keys.set(idempotenceKey, { body: form, answer, at: now() })
    json(res, 200, answer)
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0]!
    const checkout = /^\/v3\/checkout\/([^/]+)$/.exec(path)
    if (checkout && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>YooKassa fake checkout</title><p>Checkout</p>')
      return
    }

    calls.push({ method: req.method ?? '', path, idempotenceKey: headerValue(req.headers['idempotence-key']) })
    const failure = failures.shift()
    if (failure === 'reset') return void req.socket.resetAndDestroy()
    if (failure === 'timeout') {
      held.add(res)
      res.on('close', () => held.delete(res))
      return
    }
    if (failure === 500) return error(res, 500, 'internal_server_error', 'Internal server error')
    if (failure === 429) return error(res, 429, 'too_many_requests', 'Too many requests')
    if (failure === 'garbled') {
      res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8' }).end('{"id": "2f3b588d-000f-5000-8000-1d6e87c7fbde", "status": "pend')
      return
    }

    if (req.headers.authorization !== expectedAuth) {
      return error(res, 401, 'invalid_credentials', 'Authentication by given credentials failed. Check the shopId and secret key.')
    }
    const idempotenceKey = headerValue(req.headers['idempotence-key'])
    if (path === '/v3/payments') {
      if (req.method === 'POST') return createPayment(req, res, idempotenceKey)
      return void res.writeHead(405).end()
    }
    const one = /^\/v3\/payments\/([^/]+)$/.exec(path)
    if (one) {
      if (req.method !== 'GET') return void res.writeHead(405).end()
      let id: string
      try {
        id = decodeURIComponent(one[1]!)
      } catch {
        return error(res, 404, 'not_found', 'Payment not found')
      }
      const payment = payments.get(id)
      return payment ? json(res, 200, payment) : error(res, 404, 'not_found', 'Payment not found')
    }
    error(res, 404, 'not_found', 'Not found')
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) error(res, 500, 'internal_server_error', 'Internal server error')
      else res.destroy()
    })
  })
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve((server.address() as AddressInfo).port)
      })
    })
  const stop = async () => {
    for (const res of held) res.destroy()
    held.clear()
    const closedPromise = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    await closedPromise
  }

  const port = await listen(0)
  url = `http://127.0.0.1:${port}/v3`

  return {
    url,
    shopId,
    secretKey,
    calls,
    get payments() {
      return new Map([...payments].map(([id, p]) => [id, structuredClone(p)]))
    },
    pay(id) {
      const p = find(id)
      p.status = 'succeeded'
      p.paid = true
      p.captured_at = new Date(now()).toISOString()
      delete p.confirmation
    },
    cancel(id) {
      const p = find(id)
      p.status = 'canceled'
      p.paid = false
      p.cancellation_details = { party: 'yoo_money', reason: 'expired_on_confirmation' }
      delete p.confirmation
    },
    setStatus(id, status) {
      find(id).status = status
    },
    setAmount(id, value, currency) {
      find(id).amount = { value, currency }
    },
    failNext(n, mode) {
      for (let i = 0; i < n; i++) failures.push(mode)
    },
    async down() {
      if (isDown || closed) return
      isDown = true
      await stop()
    },
    async up() {
      if (!isDown || closed) return
      await listen(port)
      isDown = false
    },
    async notify(targetUrl, id, options = {}) {
      const object = structuredClone(find(id))
      return fetch(targetUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...options.headers },
        body: JSON.stringify({ type: 'notification', event: options.event ?? 'payment.succeeded', object }),
      })
    },
    async close() {
      if (closed) return
      closed = true
      if (!isDown) await stop()
    },
  }
}
