import { createRoute, z } from '@hono/zod-openapi'
import type { TokenGrant } from '../cache/interface'
import type { Config } from '../config'
import { AUTH_REQUIRED, INVALID_TOKEN } from '../gateway/answers'
import { accessCookie, clearedCookie } from '../gateway/cookie'
import { tokenFromRequest } from '../gateway/token-source'
import { ApiError } from '../http/errors'
import { newRouter } from '../http/router'
import type { Clock } from '../services/clock'
import type { TokenService } from '../services/tokens'
import { ErrorOut, jsonResponse, Timestamp } from './schemas'

// The cookie endpoints of /api/v1/proxy. Everything else under the prefix is forwarded (src/gateway).

const AuthenticateIn = z
  .object({ token: z.string().optional().openapi({ description: 'An access token (64 characters)' }) })
  .openapi('ProxyAuthenticateRequest')

const AuthenticateOut = z
  .object({
    authenticated: z.literal(true),
    user_id: z.uuid(),
    token_id: z.uuid(),
    is_activated: z.boolean(),
    expires_at: Timestamp.nullable(),
    cookie_set: z.literal(true),
    cookie_max_age: z.number().int(),
    time_remaining_seconds: z.number().int().nullable(),
  })
  .openapi('ProxyAuthenticateResponse')

const StatusOut = z
  .object({
    connected: z.literal(true),
    authenticated_via: z.enum(['cookie', 'header']),
    user_id: z.uuid(),
    token_id: z.uuid(),
    is_activated: z.boolean(),
    expires_at: Timestamp.nullable(),
    duration_hours: z.number().int(),
    time_remaining_seconds: z.number().int().nullable(),
    status: z.enum(['active', 'ready']).openapi({ description: '"ready" until the first proxied request starts the clock' }),
  })
  .openapi('ProxyStatusResponse')

const LogoutOut = z.object({ logged_out: z.literal(true), message: z.string() }).openapi('ProxyLogoutResponse')

const authenticate = createRoute({
  method: 'post',
  path: '/authenticate',
  tags: ['proxy'],
  summary: 'Exchange an access token for the proxy cookie (does not start the token’s clock)',
  request: { body: { content: { 'application/json': { schema: AuthenticateIn } }, required: false } },
  responses: {
    200: {
      ...jsonResponse(AuthenticateOut, 'Cookie set'),
      headers: { 'Set-Cookie': { schema: { type: 'string' }, description: 'zenzefi_access_token=…; HttpOnly; Path=/; Max-Age=…; SameSite=…' } },
    },
    400: jsonResponse(ErrorOut, 'No token in the body'),
    401: jsonResponse(ErrorOut, 'Invalid or expired access token'),
  },
})

const status = createRoute({
  method: 'get',
  path: '/status',
  tags: ['proxy'],
  summary: 'The presented token’s state (cookie first, then X-Access-Token); does not start its clock',
  responses: { 200: jsonResponse(StatusOut, 'Token state'), 401: jsonResponse(ErrorOut, 'No token, or an invalid one') },
})

const logout = createRoute({
  method: 'delete',
  path: '/logout',
  tags: ['proxy'],
  summary: 'Delete the proxy cookie',
  responses: { 200: jsonResponse(LogoutOut, 'Cookie deleted') },
})

export function proxyCookieRoutes(deps: { tokens: TokenService; config: Config; clock: Clock }) {
  const { tokens, config, clock } = deps
  const remaining = (g: TokenGrant) => (g.expiresAt === null ? null : Math.max(0, Math.floor((g.expiresAt - clock.now().getTime()) / 1000)))
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

  return newRouter()
    .openapi(authenticate, async (c) => {
      let token: unknown
      try {
        token = ((await c.req.json()) as { token?: unknown } | null)?.token
      } catch {
        token = undefined
      }
      if (typeof token !== 'string' || token.trim() === '') throw new ApiError(400, 'Token is required in request body')
      const grant = await tokens.checkStatus(token.trim())
      if (!grant) throw new ApiError(401, INVALID_TOKEN)
      const left = remaining(grant)
      const maxAge = left ?? grant.durationHours * 3600
      c.header('Set-Cookie', accessCookie(token.trim(), maxAge, config))
      return c.json(
        {
          authenticated: true as const,
          user_id: grant.userId,
          token_id: grant.tokenId,
          is_activated: grant.activatedAt !== null,
          expires_at: iso(grant.expiresAt),
          cookie_set: true as const,
          cookie_max_age: maxAge,
          time_remaining_seconds: left,
        },
        200,
      )
    })
    .openapi(status, async (c) => {
      const presented = tokenFromRequest((n) => c.req.header(n))
      if (!presented) throw new ApiError(401, AUTH_REQUIRED)
      const grant = await tokens.checkStatus(presented.token)
      if (!grant) throw new ApiError(401, INVALID_TOKEN)
      return c.json(
        {
          connected: true as const,
          authenticated_via: presented.source === 'cookie' ? ('cookie' as const) : ('header' as const),
          user_id: grant.userId,
          token_id: grant.tokenId,
          is_activated: grant.activatedAt !== null,
          expires_at: iso(grant.expiresAt),
          duration_hours: grant.durationHours,
          time_remaining_seconds: remaining(grant),
          status: grant.activatedAt === null ? ('ready' as const) : ('active' as const),
        },
        200,
      )
    })
    .openapi(logout, (c) => {
      c.header('Set-Cookie', clearedCookie(config))
      return c.json({ logged_out: true as const, message: 'Cookie deleted successfully' }, 200)
    })
}
