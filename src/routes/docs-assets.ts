// The documentation pages' scripts and styles, served by the gateway itself from exact-pinned npm
// packages (swagger-ui-dist, redoc), so /docs and /redoc work offline and no third-party script
// runs on the origin that also serves the proxied Zenzefi app.
//
// Where the files come from depends on the runtime, through package.json "imports":
//   #docs-assets → src/runtime/node/docs-assets.ts on Node (read from node_modules),
//                  dist/docs-assets/assets.js in the Workers bundle (written by scripts/docs-assets.ts,
//                  wrangler.toml's [build] command, so the text is inlined into the bundle).

import type { OpenAPIHono } from '@hono/zod-openapi'
import { loadDocAsset } from '#docs-assets'
import type { AppEnv } from '../http/router'

export const DOC_ASSETS_PREFIX = '/docs/assets/'

export interface PackagedAsset {
  /** Served at DOC_ASSETS_PREFIX + name. */
  name: string
  package: string
  /** Path inside the package. */
  file: string
  type: string
}

const JS = 'text/javascript; charset=utf-8'
const CSS = 'text/css; charset=utf-8'

/** The files taken from npm packages (the Workers bundle carries exactly these). */
export const PACKAGED_ASSETS: readonly PackagedAsset[] = [
  { name: 'swagger-ui.css', package: 'swagger-ui-dist', file: 'swagger-ui.css', type: CSS },
  { name: 'swagger-ui-bundle.js', package: 'swagger-ui-dist', file: 'swagger-ui-bundle.js', type: JS },
  { name: 'redoc.standalone.js', package: 'redoc', file: 'bundles/redoc.standalone.js', type: JS },
]

// Our own small files: the two start scripts (scripts are 'self' only: no inline script) and the
// pages' margin (ReDoc's own example sets it in an inline <style>).
const SWAGGER_INIT = `// Starts Swagger UI on the element that names the document (no inline script: CSP script-src 'self').
(function () {
  var el = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: el.getAttribute('data-spec-url'),
    dom_id: '#swagger-ui',
    deepLinking: true,
    // The online validator would send the document to a third party.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
})();
`
const REDOC_INIT = `// Starts ReDoc with the page's style nonce: ReDoc writes its CSS into <style> elements at run time,
// and CSP lets only those carrying the nonce apply. The nonce comes from this script's own element
// (browsers hide nonce attributes from the DOM and from CSS, not from the element's property).
(function () {
  var script = document.currentScript;
  var el = document.getElementById('redoc');
  Redoc.init(el.getAttribute('data-spec-url'), { nonce: script ? script.nonce : undefined }, el);
})();
`
const PAGE_CSS = 'body { margin: 0; padding: 0; }\n'

const OWN_ASSETS: Record<string, { type: string; body: string }> = {
  'swagger-init.js': { type: JS, body: SWAGGER_INIT },
  'redoc-init.js': { type: JS, body: REDOC_INIT },
  'docs.css': { type: CSS, body: PAGE_CSS },
}

interface Loaded {
  type: string
  body: string
  etag: string
}

// Loaded on first request and kept (per process or isolate): the bundles are a few MB at most.
const loaded = new Map<string, Promise<Loaded>>()

async function etagOf(body: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body)))
  return `"${[...digest.slice(0, 12)].map((b) => b.toString(16).padStart(2, '0')).join('')}"`
}

function load(name: string): Promise<Loaded> | null {
  const known = loaded.get(name)
  if (known) return known
  const own = OWN_ASSETS[name]
  const packaged = PACKAGED_ASSETS.find((a) => a.name === name)
  if (!own && !packaged) return null
  const pending = (async () => {
    const body = own ? own.body : await loadDocAsset(packaged!.package, packaged!.file)
    return { type: own ? own.type : packaged!.type, body, etag: await etagOf(body) }
  })()
  // A failed read is not remembered: the next request tries again.
  pending.catch(() => loaded.delete(name))
  loaded.set(name, pending)
  return pending
}

/** GET/HEAD /docs/assets/<name>, with an ETag (revalidated on every use, so an upgrade shows at once). */
export function mountDocAssets(app: OpenAPIHono<AppEnv>) {
  app.get(`${DOC_ASSETS_PREFIX}:name`, async (c) => {
    const asset = await load(c.req.param('name'))
    if (!asset) return c.json({ detail: 'Not Found' }, 404)
    const headers = {
      'content-type': asset.type,
      'cache-control': 'no-cache',
      etag: asset.etag,
      'x-content-type-options': 'nosniff',
    }
    const match = c.req.header('if-none-match')
    if (match?.split(',').some((t) => t.trim().replace(/^W\//, '') === asset.etag)) return c.body(null, 304, headers)
    return c.body(asset.body, 200, headers)
  })
}
