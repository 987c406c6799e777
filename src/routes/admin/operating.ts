import type { MiddlewareHandler } from 'hono'
import { requireSuperuser } from '../../http/bearer'
import { type AppEnv, newRouter } from '../../http/router'
import type { AdminTokens } from '../../services/admin-tokens'
import type { AdminUsers } from '../../services/admin-users'
import type { Locks } from '../../services/locks'
import { adminLockRoutes } from './locks'
import { adminTokenRoutes } from './tokens'
import { adminUserRoutes } from './users'

/** Users, tokens and locks under /api/v1/admin: one superuser check for the three. */
export function adminOperatingRoutes(deps: { adminUsers: AdminUsers; adminTokens: AdminTokens; locks: Locks; auth: MiddlewareHandler<AppEnv> }) {
  const router = newRouter()
  // `/users/*` also matches `/users` itself.
  router.use('/users/*', deps.auth, requireSuperuser)
  router.use('/tokens/*', deps.auth, requireSuperuser)
  router.route('/', adminUserRoutes(deps))
  router.route('/', adminTokenRoutes(deps))
  router.route('/', adminLockRoutes(deps))
  return router
}
