import { createRoute, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../http/router'
import { newRouter } from '../http/router'
import type { Accounts } from '../services/accounts'
import { errors, FullName, jsonBody, jsonResponse, Password, UserOut, userOut } from './schemas'

const UserUpdateIn = z.object({ full_name: FullName, password: Password.optional() }).openapi('UserUpdate')

const getMe = createRoute({
  method: 'get',
  path: '/me',
  tags: ['users'],
  summary: 'The signed-in user',
  security: [{ Bearer: [] }],
  responses: { 200: jsonResponse(UserOut, 'The user'), 401: errors[401], 403: errors[403] },
})

const patchMe = createRoute({
  method: 'patch',
  path: '/me',
  tags: ['users'],
  summary: 'Change your full name or password',
  security: [{ Bearer: [] }],
  request: { body: jsonBody(UserUpdateIn) },
  responses: { 200: jsonResponse(UserOut, 'The updated user'), 401: errors[401], 403: errors[403], 422: errors[422] },
})

export function userRoutes(deps: { accounts: Accounts; auth: MiddlewareHandler<AppEnv> }) {
  const { accounts, auth } = deps
  const router = newRouter()
  router.use('*', auth)
  return router
    .openapi(getMe, (c) => c.json(userOut(c.get('user')), 200))
    .openapi(patchMe, async (c) => {
      const body = c.req.valid('json')
      const user = await accounts.update(c.get('user').id, { fullName: body.full_name, password: body.password })
      return c.json(userOut(user), 200)
    })
}
