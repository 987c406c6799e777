// Reading the account page's urlencoded forms: strings only (a file field or a repeated field is
// treated as absent), so a handler never meets an unexpected shape.
import type { Context } from 'hono'
import type { AppEnv } from '../http/router'

export async function formOf(c: Context<AppEnv>): Promise<Record<string, string>> {
  const type = c.req.header('content-type') ?? ''
  if (!type.startsWith('application/x-www-form-urlencoded') && !type.startsWith('multipart/form-data')) return {}
  const body = await c.req.parseBody({ all: true })
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v
  return out
}

/** A fresh key for a money form (Idempotency-Key): the same submit twice moves the money once. */
export const formKey = () => crypto.randomUUID()

/** The form's key back, or a fresh one for a form that lost it (a client without the hidden field). */
export const keyOf = (form: Record<string, string>) => (/^[0-9a-f-]{36}$/.test(form.key ?? '') ? form.key! : formKey())
