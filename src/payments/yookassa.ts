// The real YooKassa API v3 adapter. Plain fetch and Web-standard APIs only, so the
// same code runs on Node and on Workers. Answers are read strictly: whatever we
// can't read is ProviderUnavailable (the caller answers 503 and asks again later),
// never a guess and never a crash. The secret key and the Authorization header
// never reach an error message.
import { type CreatePayment, type PaymentProvider, type ProviderPayment, ProviderRejected, type ProviderStatus, ProviderUnavailable } from './provider'

export const YOOKASSA_API_URL = 'https://api.yookassa.ru/v3'
const DEFAULT_TIMEOUT_MS = 10_000
/** YooKassa's limit on a payment's `description`. */
export const DESCRIPTION_MAX_LENGTH = 128

const STATUSES: ReadonlySet<string> = new Set<ProviderStatus>(['pending', 'waiting_for_capture', 'succeeded', 'canceled'])
/** An `amount.value`: digits, a point and at most two decimals; no sign, exponent, spaces or thousands separator. */
const AMOUNT_VALUE = /^\d+(\.\d{1,2})?$/
const CURRENCY = /^[A-Z]{3}$/
/** The same rule notifiedPaymentId applies to ids in notifications. */
const PAYMENT_ID = /^[A-Za-z0-9_-]{1,64}$/
const ERROR_CODE = /^[a-z_]{1,64}$/

export interface YooKassaOptions {
  shopId: string
  secretKey: string
  /** Default https://api.yookassa.ru/v3; tests point it at a local fake. */
  apiUrl?: string
  /** Per call, answer body included. Default 10000. */
  timeoutMs?: number
  fetch?: typeof fetch
}

/**
 * Integer minor units to YooKassa's amount string, by string arithmetic: 15000 → "150.00", 5 → "0.05".
 * Two decimals, which every currency YooKassa takes has.
 */
export function minorToValue(minor: number): string {
  if (!Number.isSafeInteger(minor) || minor <= 0) throw new RangeError(`amountMinor must be a positive safe integer, got ${minor}`)
  const digits = String(minor).padStart(3, '0')
  return `${digits.slice(0, -2)}.${digits.slice(-2)}`
}

/** YooKassa's amount string to integer minor units ("100.1" → 10010), or null if it isn't one. */
export function valueToMinor(value: unknown): number | null {
  if (typeof value !== 'string' || !AMOUNT_VALUE.test(value)) return null
  const [whole = '', fraction = ''] = value.split('.')
  const minor = Number(whole + fraction.padEnd(2, '0'))
  // Past 2^53 the number would be rounded: refuse rather than misstate the amount.
  return Number.isSafeInteger(minor) ? minor : null
}

/** At most `max` UTF-16 units without splitting a surrogate pair, so it fits however the limit is counted. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text
  const cut = text.slice(0, max)
  const last = cut.charCodeAt(cut.length - 1)
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut
}

/** Base64 of the UTF-8 bytes (btoa alone only takes Latin-1). */
function base64(text: string): string {
  let binary = ''
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte)
  return btoa(binary)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Why an answer is not a payment we can use, or the payment. */
function readPayment(body: unknown): ProviderPayment | string {
  if (!isObject(body)) return 'not a JSON object'
  const { id, status, amount, confirmation, metadata } = body
  if (typeof id !== 'string' || !PAYMENT_ID.test(id)) return 'bad id'
  if (typeof status !== 'string' || !STATUSES.has(status)) return 'unknown status'
  if (!isObject(amount)) return 'no amount'
  const amountMinor = valueToMinor(amount.value)
  if (amountMinor === null) return 'bad amount.value'
  if (typeof amount.currency !== 'string' || !CURRENCY.test(amount.currency)) return 'bad amount.currency'

  let confirmationUrl: string | null = null
  if (confirmation !== undefined && confirmation !== null) {
    if (!isObject(confirmation)) return 'bad confirmation'
    const url = confirmation.confirmation_url
    if (url !== undefined && url !== null) {
      // The payer is sent there: only a real http(s) URL will do.
      if (typeof url !== 'string' || !URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) return 'bad confirmation_url'
      confirmationUrl = url
    }
  }

  const meta: Record<string, string> = {}
  if (metadata !== undefined && metadata !== null) {
    if (!isObject(metadata)) return 'bad metadata'
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') return 'bad metadata value'
      Object.defineProperty(meta, key, { value, enumerable: true, writable: true, configurable: true })
    }
  }

  return { id, status: status as ProviderStatus, amountMinor, currency: amount.currency, confirmationUrl, metadata: meta }
}

/** YooKassa's error body: `{"type": "error", "id", "code", "description"?, "parameter"?}`. */
function readError(body: unknown): { code: string; description: string | null } | null {
  if (!isObject(body) || body.type !== 'error' || typeof body.code !== 'string' || !ERROR_CODE.test(body.code)) return null
  return { code: body.code, description: typeof body.description === 'string' ? body.description : null }
}

/** What a failed fetch was, without its message (which we don't control). */
function describeFailure(err: unknown, timeoutMs: number): string {
  const name = err instanceof Error || (typeof err === 'object' && err !== null) ? String((err as { name?: unknown }).name) : ''
  if (name === 'TimeoutError') return `no answer within ${timeoutMs} ms`
  if (name === 'AbortError') return 'aborted'
  const code = (err as { cause?: { code?: unknown } } | null)?.cause?.code
  return typeof code === 'string' && /^[A-Z_]{1,40}$/.test(code) ? `network error (${code})` : 'network error'
}

const UNREADABLE = Symbol('unreadable')

export function createYooKassaProvider(opts: YooKassaOptions): PaymentProvider {
  if (typeof opts.shopId !== 'string' || opts.shopId === '') throw new TypeError('YooKassa shopId is required')
  if (typeof opts.secretKey !== 'string' || opts.secretKey === '') throw new TypeError('YooKassa secretKey is required')
  const apiUrl = (opts.apiUrl ?? YOOKASSA_API_URL).replace(/\/+$/, '')
  if (!URL.canParse(apiUrl) || !/^https?:$/.test(new URL(apiUrl).protocol)) throw new TypeError('YooKassa apiUrl must be an http(s) URL')
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('YooKassa timeoutMs must be a positive integer')
  // Called through a wrapper: Workers' fetch throws "Illegal invocation" when detached from globalThis.
  const doFetch: typeof fetch = opts.fetch ?? ((input, init) => fetch(input, init))

  const credentials = base64(`${opts.shopId}:${opts.secretKey}`)
  const authorization = `Basic ${credentials}`
  // YooKassa's own text goes into messages; make sure it can't carry our credentials along.
  const redact = (text: string) => [opts.secretKey, credentials].reduce((t, secret) => t.split(secret).join('[redacted]'), text)
  // Redacted before clipping, so a secret cut in half at the end can't slip through.
  const clip = (text: string) =>
    Array.from(redact(text), (c) => (c < ' ' || c === '\u007f' ? ' ' : c))
      .join('')
      .slice(0, 300)

  async function call(method: 'GET' | 'POST', path: string, body?: string, idempotenceKey?: string) {
    const what = `${method} ${path}`
    const headers: Record<string, string> = { Authorization: authorization, Accept: 'application/json' }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (idempotenceKey !== undefined) headers['Idempotence-Key'] = idempotenceKey
    let status: number
    let text: string
    try {
      // A redirect is not an answer, and following one would resend the credentials.
      const res = await doFetch(`${apiUrl}${path}`, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) })
      status = res.status
      text = await res.text()
    } catch (err) {
      throw new ProviderUnavailable(`YooKassa ${what}: ${describeFailure(err, timeoutMs)}`)
    }
    let json: unknown = UNREADABLE
    try {
      json = JSON.parse(text)
    } catch {
      // Left UNREADABLE: a 200 without JSON is unavailable, an error status is judged by its code alone.
    }
    return { what, status, json }
  }

  function failure({ what, status, json }: { what: string; status: number; json: unknown }): Error {
    const error = readError(json)
    const detail = error ? ` ${error.code}${error.description ? `: ${clip(error.description)}` : ''}` : ''
    if (status >= 500 || status === 429) return new ProviderUnavailable(`YooKassa ${what}: HTTP ${status}${detail}`)
    if (status >= 400) return new ProviderRejected(`YooKassa refused ${what}: HTTP ${status}${detail}`, status)
    return new ProviderUnavailable(`YooKassa ${what}: unexpected HTTP ${status}`)
  }

  function payment(answer: { what: string; status: number; json: unknown }): ProviderPayment {
    if (answer.status !== 200) throw failure(answer)
    const read = answer.json === UNREADABLE ? 'not JSON' : readPayment(answer.json)
    if (typeof read === 'string') throw new ProviderUnavailable(`YooKassa ${answer.what}: unreadable payment (${read})`)
    return read
  }

  return {
    name: 'yookassa',

    async create(request: CreatePayment) {
      if (typeof request.currency !== 'string' || !CURRENCY.test(request.currency)) throw new RangeError('currency must be an ISO 4217 code')
      const description = truncate(request.description, DESCRIPTION_MAX_LENGTH)
      const body = JSON.stringify({
        amount: { value: minorToValue(request.amountMinor), currency: request.currency },
        capture: true,
        confirmation: { type: 'redirect', return_url: request.returnUrl },
        // YooKassa's description is optional; an empty one is left out rather than sent.
        description: description === '' ? undefined : description,
        metadata: request.metadata,
      })
      return payment(await call('POST', '/payments', body, request.idempotenceKey))
    },

    async get(id: string) {
      // An empty id would ask for the list of payments instead.
      if (id === '') throw new RangeError('payment id must not be empty')
      const answer = await call('GET', `/payments/${encodeURIComponent(id)}`)
      // Only YooKassa's own not_found means "no such payment"; a bare 404 (a wrong apiUrl, a proxy) decides nothing.
      if (answer.status === 404) {
        if (readError(answer.json)?.code === 'not_found') return null
        throw new ProviderUnavailable(`YooKassa ${answer.what}: HTTP 404 without YooKassa's not_found`)
      }
      const found = payment(answer)
      if (found.id !== id) throw new ProviderUnavailable(`YooKassa ${answer.what}: answered with another payment`)
      return found
    },
  }
}
