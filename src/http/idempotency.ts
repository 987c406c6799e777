import type { Context } from 'hono'
import { DomainError } from '../services/errors'
import { type KeyScope, keyFromHeader, type Replayable, requestHash } from '../services/idempotency'
import type { AppEnv } from './router'

/**
 * The caller's Idempotency-Key for this route and input, or null when none was sent
 * (`required` makes that a 400: admin money calls). The request is its route and its
 * validated body, so a retry with the same fields in another order is the same request.
 */
export async function idempotencyScope(c: Context<AppEnv>, route: string, input: unknown, opts: { required?: boolean } = {}): Promise<KeyScope | null> {
  const key = keyFromHeader(c.req.header('idempotency-key'))
  if (key === null) {
    if (opts.required) throw new DomainError('idempotency_key_required')
    return null
  }
  return { userId: c.get('user').id, key, requestHash: await requestHash(route, canonicalJson(input)) }
}

/** The answer byte for byte as first given; a replay says so. */
export function sendAnswer(c: Context<AppEnv>, answer: Replayable): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (answer.replayed) headers['Idempotent-Replayed'] = 'true'
  return c.body(answer.body, answer.status as 200, headers)
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}
