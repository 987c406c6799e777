import { z } from '@hono/zod-openapi'
import { MAX_PASSWORD_BYTES, passwordBytes } from '../crypto/password'
import type { UserRow } from '../db/schema'
import { formatMinor, parseMinor } from '../money/znc'

export const ErrorOut = z.object({ detail: z.string() }).openapi('Error')

export const ValidationErrorOut = z
  .object({
    detail: z.array(z.object({ loc: z.array(z.union([z.string(), z.number()])), msg: z.string(), type: z.string() })),
  })
  .openapi('ValidationError')

/** Over a limit (429, with Retry-After): which limit, over how many seconds (0: requests at once), and when to retry. */
export const LimitErrorOut = z
  .object({ detail: z.string(), limit: z.number().int(), window: z.number().int(), retry_after: z.number().int() })
  .openapi('LimitError')

const isControl = (code: number) => code <= 0x1f || code === 0x7f

/**
 * Every text field a client sends goes through this. Emails, usernames and names
 * refuse the C0 controls U+0000–U+001F and DEL (U+007F); a password refuses only
 * U+0000 (a tab is a fair password character; NUL is not: PostgreSQL cannot store
 * it in text, and C bcrypt, like the earlier backend's, stops reading at it).
 * Checked on the value as sent, before any trimming: a 422, never a 500.
 */
export function plainText<T extends z.ZodType<string>>(schema: T, kind: 'text' | 'password' = 'text'): T {
  const password = kind === 'password'
  const refused = password ? (code: number) => code === 0 : isControl
  const message = password ? 'Must not contain the NUL character (U+0000)' : 'Must not contain control characters (U+0000–U+001F, U+007F)'
  return schema
    .refine((value) => {
      for (let i = 0; i < value.length; i++) if (refused(value.charCodeAt(i))) return false
      return true
    }, message)
    .openapi({ description: password ? 'Any characters but NUL (U+0000)' : 'No control characters (U+0000–U+001F, U+007F)' })
}

export const Password = plainText(
  z
    .string()
    .min(8, 'Password must be at least 8 characters')
    .refine((p) => passwordBytes(p) <= MAX_PASSWORD_BYTES, `Password must be at most ${MAX_PASSWORD_BYTES} bytes in UTF-8`),
  'password',
).openapi({
  description: `At least 8 characters and at most ${MAX_PASSWORD_BYTES} bytes in UTF-8; any characters but NUL (U+0000)`,
  example: 'correct horse battery',
})

export const FullName = plainText(z.string().max(255)).nullable().optional().openapi({ example: 'Ada Lovelace' })

const Timestamp = z.string().openapi({ format: 'date-time', example: '2026-11-29T14:00:00.000Z' })

export const UserOut = z
  .object({
    id: z.uuid(),
    email: z.string(),
    username: z.string(),
    full_name: z.string().nullable(),
    is_active: z.boolean(),
    is_superuser: z.boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi('User')

/** The only way a user leaves the process: no password hash, ever. */
export const userOut = (u: UserRow): z.infer<typeof UserOut> => ({
  id: u.id,
  email: u.email,
  username: u.username,
  full_name: u.fullName,
  is_active: u.isActive,
  is_superuser: u.isSuperuser,
  created_at: u.createdAt.toISOString(),
  updated_at: u.updatedAt.toISOString(),
})

export const iso = (d: Date | null) => (d ? d.toISOString() : null)
export { Timestamp }

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  content: { 'application/json': { schema } },
  required: true,
})

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
})

export const errors = {
  401: jsonResponse(ErrorOut, 'Missing, invalid or expired credentials'),
  403: jsonResponse(ErrorOut, 'Not authenticated, or inactive user'),
  422: jsonResponse(ValidationErrorOut, 'Request failed validation'),
  429: jsonResponse(LimitErrorOut, '"Too many requests. Try again in N seconds." (with Retry-After)'),
} as const

/** An amount of ZNC on the wire: a string with exactly two decimals. */
export const Znc = z
  .string()
  .regex(/^-?\d+\.\d{2}$/)
  .openapi({ example: '18.00' })

/**
 * An amount of ZNC in a request: a string or number with at most two decimals, in minor units
 * once validated. Anything else, zero, or outside the bounds is a 422 — never rounded.
 */
export const zncAmountIn = (opts: { min?: () => number; max?: () => number; negative?: boolean; description?: string } = {}) =>
  z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const minor = parseMinor(v, { negative: opts.negative })
      if (minor === null) {
        ctx.addIssue({ code: 'custom', message: 'Must be an amount of ZNC with at most two decimals, such as "18.00"' })
        return z.NEVER
      }
      if (minor === 0) {
        ctx.addIssue({ code: 'custom', message: 'Must not be zero' })
        return z.NEVER
      }
      const min = opts.min?.()
      const max = opts.max?.()
      if ((min !== undefined && minor < min) || (max !== undefined && minor > max)) {
        const bounds = [min !== undefined ? `at least ${formatMinor(min)}` : '', max !== undefined ? `at most ${formatMinor(max)}` : ''].filter(Boolean)
        ctx.addIssue({ code: 'custom', message: `Must be ${bounds.join(' and ')} ZNC` })
        return z.NEVER
      }
      return minor
    })
    .openapi({ type: 'string', example: '100.00', description: opts.description })
