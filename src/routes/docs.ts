import { swaggerUI } from '@hono/swagger-ui'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from '../http/router'

const REDOC_PAGE = `<!doctype html>
<html><head><title>Zenzefi Backend - ReDoc</title><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"></script></body></html>`

/** /openapi.json is generated from the same zod schemas that validate requests. */
export function mountDocs(app: OpenAPIHono<AppEnv>, version: string) {
  app.openAPIRegistry.registerComponent('securitySchemes', 'Bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Zenzefi Backend',
      version,
      description: 'Accounts, time-limited access tokens and the authenticated gateway to a Zenzefi host.',
    },
  })
  app.get('/docs', swaggerUI({ url: '/openapi.json', title: 'Zenzefi Backend - Swagger UI' }))
  app.get('/redoc', (c) => c.html(REDOC_PAGE))
}
