import { createRoute, z } from '@hono/zod-openapi'
import { newRouter } from '../http/router'
import type { Health } from '../services/health'
import { jsonResponse, Timestamp } from './schemas'

const Status = z.enum(['healthy', 'degraded', 'unhealthy'])
const Check = z.object({ status: z.enum(['up', 'down']), latency_ms: z.number(), error: z.string().nullable(), url: z.string() }).openapi('HealthCheck')
const Detailed = z
  .object({
    status: Status,
    timestamp: Timestamp,
    checks: z.object({ database: Check, redis: Check, zenzefi: Check }),
    overall: z.object({ healthy_count: z.number().int(), total_count: z.number().int() }),
  })
  .openapi('HealthReport')

const summary = createRoute({
  method: 'get',
  path: '/health',
  tags: ['health'],
  summary: 'Overall status, answered from a report at most 10 s old',
  responses: { 200: jsonResponse(z.object({ status: Status, timestamp: Timestamp }), 'Status') },
})

const detailed = createRoute({
  method: 'get',
  path: '/health/detailed',
  tags: ['health'],
  summary: 'Checks the database, the token cache and the Zenzefi host now',
  responses: {
    200: jsonResponse(Detailed, 'Healthy, or degraded (only Zenzefi unreachable)'),
    503: jsonResponse(Detailed, 'Unhealthy: the database or the token cache is down'),
  },
})

const ready = createRoute({
  method: 'get',
  path: '/health/ready',
  tags: ['health'],
  summary: 'Readiness for a load balancer: 503 from the moment the server starts shutting down (SIGTERM)',
  description:
    'No checks are run: it only says whether this instance still wants new traffic. From SIGTERM on it answers 503 ' +
    '`{"status": "draining"}` while the server keeps accepting for `SHUTDOWN_DRAIN_SECONDS`, then stops accepting; ' +
    'in-flight requests and downloads get `SHUTDOWN_TIMEOUT_SECONDS` to finish.',
  responses: {
    200: jsonResponse(z.object({ status: z.literal('ready') }).openapi('Ready'), 'Serving: send traffic'),
    503: jsonResponse(z.object({ status: z.literal('draining') }).openapi('Draining'), 'Shutting down: send no new traffic'),
  },
})

export function healthRoutes(health: Health) {
  return newRouter()
    .openapi(summary, async (c) => c.json(await health.summary(), 200))
    .openapi(ready, (c) => {
      c.header('Cache-Control', 'no-store')
      return health.readiness().status === 'draining' ? c.json({ status: 'draining' as const }, 503) : c.json({ status: 'ready' as const }, 200)
    })
    .openapi(detailed, async (c) => {
      const report = await health.detailed()
      return report.status === 'unhealthy' ? c.json(report, 503) : c.json(report, 200)
    })
}
