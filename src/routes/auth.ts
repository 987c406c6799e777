import { createRoute, z } from '@hono/zod-openapi'
import type { JwtIssuer } from '../crypto/jwt'
import { auditContext, requestFacts } from '../http/audit-context'
import { newRouter } from '../http/router'
import type { Accounts } from '../services/accounts'
import type { Clock } from '../services/clock'
import type { RateLimits } from '../services/rate-limits'
import type { SignIn } from '../services/sign-in'
import { ErrorOut, errors, FullName, jsonBody, jsonResponse, LimitErrorOut, Password, plainText, UserOut, userOut } from './schemas'

export const RegisterIn = z
  .object({
    email: plainText(z.email().max(255)).openapi({ example: 'ada@example.com' }),
    username: plainText(z.string()).trim().min(3).max(50).openapi({ example: 'ada' }),
    password: Password,
    full_name: FullName,
  })
  .openapi('RegisterRequest')

export const LoginIn = z
  .object({
    email: plainText(z.string().min(1).max(255)).openapi({ example: 'ada@example.com' }),
    password: plainText(z.string().min(1).max(1024), 'password').openapi({ example: 'correct horse battery' }),
  })
  .openapi('LoginRequest')

const LoginOut = z.object({ access_token: z.string(), token_type: z.literal('bearer'), expires_in: z.number().int() }).openapi('LoginResponse')

const register = createRoute({
  method: 'post',
  path: '/register',
  tags: ['auth'],
  summary: 'Create an account',
  request: { body: jsonBody(RegisterIn) },
  responses: {
    201: jsonResponse(UserOut, 'The new user'),
    400: jsonResponse(ErrorOut, '"Email already registered" (checked first) or "Username already taken"'),
    422: errors[422],
    429: errors[429],
  },
})

const login = createRoute({
  method: 'post',
  path: '/login',
  tags: ['auth'],
  summary: 'Exchange email and password for a Bearer JWT',
  request: { body: jsonBody(LoginIn) },
  responses: {
    200: jsonResponse(LoginOut, 'A JWT valid for ACCESS_TOKEN_EXPIRE_MINUTES'),
    401: jsonResponse(ErrorOut, '"Incorrect email or password" for unknown email, wrong password or inactive user alike'),
    422: errors[422],
    429: jsonResponse(
      LimitErrorOut,
      '"Too many failed login attempts. Try again in N seconds." — the same for every email; the password was not checked. Or too many attempts from this address.',
    ),
  },
})

export function authRoutes(deps: { accounts: Accounts; jwt: JwtIssuer; clock: Clock; expiresIn: number; signIn: SignIn; limits: RateLimits }) {
  const { accounts, jwt, clock, expiresIn, signIn, limits } = deps
  return newRouter()
    .openapi(register, async (c) => {
      const body = c.req.valid('json')
      await limits.register(c.get('clientIp') ?? '')
      const user = await accounts.register({ ...body, fullName: body.full_name }, { ctx: auditContext(c, 'anonymous', null) })
      return c.json(userOut(user), 201)
    })
    .openapi(login, async (c) => {
      const { email, password } = c.req.valid('json')
      const user = await signIn.attempt(email, password, requestFacts(c))
      const access_token = await jwt.sign({ sub: user.id, username: user.username }, clock.now())
      return c.json({ access_token, token_type: 'bearer' as const, expires_in: expiresIn }, 200)
    })
}
