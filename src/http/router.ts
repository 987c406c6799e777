import { OpenAPIHono } from '@hono/zod-openapi'
import type { UserRow } from '../db/schema'

export type AppEnv = {
  Variables: {
    user: UserRow
    /** The client's address as the front door decided it (never a header the client chose). */
    clientIp: string
    /** This request's id (X-Request-Id): in every log line and 5xx body. */
    requestId: string
    /** The account page's sign-in this request came with (src/account/signed-in.ts). */
    accountSessionId: string
  }
}

/**
 * Every router validates the same way: a failed schema is a 422 whose detail
 * lists {loc, msg, type} per problem, as the earlier backend's clients expect.
 */
export function newRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return
      const detail = result.error.issues.map((issue) => ({
        loc: [result.target === 'json' ? 'body' : result.target, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))],
        msg: issue.message,
        type: issue.code,
      }))
      return c.json({ detail }, 422)
    },
  })
}
