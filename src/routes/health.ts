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

export function healthRoutes(health: Health) {
  return newRouter()
    .openapi(summary, async (c) => c.json(await health.summary(), 200))
    .openapi(detailed, async (c) => {
      const report = await health.detailed()
      return report.status === 'unhealthy' ? c.json(report, 503) : c.json(report, 200)
    })
}
