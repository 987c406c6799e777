// What every request to one of our Hono apps (the JSON API, the account page) goes through
// first and last: the front door's decisions read from the env, X-Request-Id on the answer and
// in every 5xx body, the route-template metrics, and the one access line. Errors are turned
// into `{"detail"}` answers by one table (src/http/errors.ts).

import type { Context, MiddlewareHandler } from 'hono'
import { matchedRoutes } from 'hono/route'
import type { UserRow } from '../db/schema'
import { type AccessMode, accessFields, contentLengthOf } from '../gateway/access-log'
import { withRequestIdField } from '../gateway/answers'
import { type RequestMeta, requestIdOf } from '../gateway/request-id'
import type { Logger } from '../logger'
import { type GatewayMetrics, routeTemplate, statusClassIndex, UNMATCHED_ROUTE } from '../metrics/gateway'
import { toHttpError } from './errors'
import type { AppEnv } from './router'

export function requestFrame(deps: { log: Logger; metrics: GatewayMetrics; mode: AccessMode }): MiddlewareHandler<AppEnv> {
  const { log, metrics, mode } = deps
  // Series per (route template, method), bound the first time each is seen: routes are a fixed set,
  // and every path no route matched shares the `unmatched` series.
  const series = new Map<string, Map<string, ReturnType<typeof metrics.api>>>()
  const seriesOf = (c: Context<AppEnv>) => {
    const routes = matchedRoutes(c)
    const last = routes[routes.length - 1]
    // A middleware (method ALL) last means no handler matched: a 404, or a refusal before one.
    const pattern = last && last.method !== 'ALL' ? last.path : UNMATCHED_ROUTE
    let byMethod = series.get(pattern)
    if (!byMethod) series.set(pattern, (byMethod = new Map()))
    let one = byMethod.get(c.req.method)
    if (!one) byMethod.set(c.req.method, (one = metrics.api(pattern === UNMATCHED_ROUTE ? pattern : routeTemplate(pattern), c.req.method)))
    return one
  }

  return async (c, next) => {
    const started = performance.now()
    // The runtime's front door decided both (Node: server.ts, Workers: main.ts); a bare app.request() decides here.
    const meta = requestMetaOf(c.env, c.req.header('x-request-id'))
    c.set('clientIp', meta.clientIp)
    c.set('requestId', meta.requestId)
    await next()
    if (c.res.status >= 500) await withRequestIdInBody(c, meta.requestId)
    try {
      c.res.headers.set('X-Request-Id', meta.requestId)
    } catch {
      c.header('X-Request-Id', meta.requestId) // immutable headers: Hono copies the response
    }
    const one = seriesOf(c)
    one.requests[statusClassIndex(c.res.status)]!.inc()
    one.duration.observe((performance.now() - started) / 1000)
    // Path only: query strings may carry tokens.
    log.info(
      'request',
      accessFields({
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        started,
        meta,
        mode,
        bytesIn: contentLengthOf(c.req.header('content-length')),
        bytesOut: contentLengthOf(c.res.headers.get('content-length')),
        userId: (c.var.user as UserRow | undefined)?.id,
      }),
    )
  }
}

/** onError for our apps: domain refusals, route refusals and Hono's own 4xx (malformed JSON…) through one table, else a 500 with the request id. */
export function errorAnswer(log: Logger) {
  return (err: Error, c: Context<AppEnv>) => {
    const known = toHttpError(err)
    if (known) return c.json({ detail: known.detail, ...known.fields }, known.status, known.headers)
    // The logger reduces the error to name, SQLSTATE, query text and stack frames: no message with values in it.
    log.error('unhandled error', { method: c.req.method, path: c.req.path, request_id: c.get('requestId'), error: err })
    return c.json({ detail: 'Internal Server Error', request_id: c.get('requestId') }, 500)
  }
}

/**
 * What the runtime handed the app for this request (`{clientIp, requestId}` in its env), or,
 * for an app called without one (tests' app.request), an id decided from the header and no address.
 */
function requestMetaOf(env: unknown, requestIdHeader: string | undefined): RequestMeta {
  const given = (env ?? {}) as Partial<Record<keyof RequestMeta, unknown>>
  return {
    clientIp: typeof given.clientIp === 'string' ? given.clientIp : '',
    requestId: typeof given.requestId === 'string' ? given.requestId : requestIdOf(requestIdHeader),
    proto: given.proto === 'https' ? 'https' : 'http',
  }
}

/** Every 5xx JSON body carries `request_id` (onError's already does; a route's own 5xx gets it here). */
async function withRequestIdInBody(c: Context<AppEnv>, requestId: string): Promise<void> {
  if (!(c.res.headers.get('content-type') ?? '').includes('application/json')) return
  const text = await c.res.clone().text()
  const body = withRequestIdField(text, requestId)
  if (body === text) return
  const { status } = c.res
  const headers = new Headers(c.res.headers)
  headers.delete('content-length')
  // Unset first: assigning over a response merges the old one's headers (Content-Length included) into the new.
  c.res = undefined
  c.res = new Response(body, { status, headers })
}
