import type { OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from '../http/router'
import { DOC_ASSETS_PREFIX, mountDocAssets } from './docs-assets'

const A = DOC_ASSETS_PREFIX

// Both pages run only the gateway's own files (src/routes/docs-assets.ts): no CDN, no inline script.
const SWAGGER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Zenzefi Backend - Swagger UI</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${A}swagger-ui.css"><link rel="stylesheet" href="${A}docs.css"></head>
<body><div id="swagger-ui" data-spec-url="/openapi.json"></div>
<script src="${A}swagger-ui-bundle.js"></script>
<script src="${A}swagger-init.js"></script></body></html>`

const redocPage = (nonce: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Zenzefi Backend - ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${A}docs.css"></head>
<body><div id="redoc" data-spec-url="/openapi.json"></div>
<script src="${A}redoc.standalone.js"></script>
<script src="${A}redoc-init.js" nonce="${nonce}"></script></body></html>`

// Content-Security-Policy for both pages: scripts, styles, the document, images and fonts from
// this origin only (data: images and fonts are Swagger UI's icons), no inline script, no frames
// around them, no forms. Swagger UI needs nothing more.
const policy = (...extra: string[]) =>
  [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self'${extra.length ? ` ${extra.join(' ')}` : ''}`,
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')

export const DOCS_CSP = policy()

// ReDoc writes its CSS into <style> elements at run time (styled-components). Those it makes after
// start carry the page's nonce (redoc-init.js hands it over); two are made while its bundle loads,
// before any option is read, and are allowed by hash: perfect-scrollbar's stylesheet, and an empty
// <style> (the empty string's hash: it can hold no rule). Both hashes belong to redoc 2.5.4;
// test/routes/docs-browser.test.ts fails on any violation if an upgrade changes them. Its search
// index runs in a Worker made from a blob: URL. Its "API docs by Redocly" logo is an image from
// Redocly's CDN, which img-src refuses (the element hides itself): the one refusal on the page.
const REDOC_STYLE_HASHES = ["'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='", "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"]
export const redocCsp = (nonce: string) => `${policy(`'nonce-${nonce}'`, ...REDOC_STYLE_HASHES)}; worker-src blob:`

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

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
  app.get('/docs', (c) => c.body(SWAGGER_PAGE, 200, { ...HEADERS, 'content-security-policy': DOCS_CSP, 'cache-control': 'no-cache' }))
  app.get('/redoc', (c) => {
    // A fresh nonce per answer, so the page is never stored.
    const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))))
    return c.body(redocPage(nonce), 200, { ...HEADERS, 'content-security-policy': redocCsp(nonce), 'cache-control': 'no-store' })
  })
  mountDocAssets(app)
}
