import { createRoute, z } from '@hono/zod-openapi'
import { newRouter } from '../http/router'
import { jsonResponse } from './schemas'

const Welcome = z.object({ message: z.string(), version: z.string(), docs: z.string() }).openapi('Welcome')

const root = createRoute({
  method: 'get',
  path: '/',
  tags: ['root'],
  summary: 'Service name and version',
  responses: { 200: jsonResponse(Welcome, 'Welcome') },
})

export function rootRoutes(version: string) {
  return newRouter().openapi(root, (c) => c.json({ message: 'Welcome to Zenzefi Backend', version, docs: '/docs' }, 200))
}
