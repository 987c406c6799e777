// /docs and /redoc use only files the gateway serves itself, from exact-pinned npm packages,
// under a Content-Security-Policy without inline scripts.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { DOC_ASSETS_PREFIX, PACKAGED_ASSETS } from '../../src/routes/docs-assets'
import { appFixture } from '../support/harness'

const f = appFixture()
const require = createRequire(import.meta.url)
const packageFile = (pkg: string, file: string) => readFileSync(require.resolve(`${pkg}/${file}`), 'utf8')

/** A CSP header as directive → sources. */
function parseCsp(header: string | null): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const part of (header ?? '').split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/)
    if (name) out.set(name, sources)
  }
  return out
}

/** Every <script> and <link> of a page, and whether each script has a src. */
function resources(html: string) {
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].map((m) => ({ attrs: m[1]!, body: m[2]! }))
  const urls = [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!)
  return { scripts, urls }
}

describe('the docs pages', () => {
  it('/docs: Swagger UI from /docs/assets only, no inline script, CSP allowing nothing but this origin', async () => {
    const res = await f.t.request('/docs')
    expect(res.status).toBe(200)
    const html = await res.text()
    const { scripts, urls } = resources(html)
    expect(scripts.length).toBeGreaterThan(0)
    for (const s of scripts) {
      expect(s.attrs).toMatch(/\ssrc="\/docs\/assets\/[\w.-]+"/)
      expect(s.body).toBe('')
    }
    expect(urls.every((u) => u.startsWith(DOC_ASSETS_PREFIX))).toBe(true)
    expect(html).not.toMatch(/https?:\/\//)
    expect(html).toContain('data-spec-url="/openapi.json"')
    const csp = parseCsp(res.headers.get('content-security-policy'))
    expect(csp.get('default-src')).toEqual(["'none'"])
    expect(csp.get('script-src')).toEqual(["'self'"])
    expect(csp.get('style-src')).toEqual(["'self'"])
    expect(csp.get('connect-src')).toEqual(["'self'"])
    expect(csp.get('frame-ancestors')).toEqual(["'none'"])
    expect(csp.get('base-uri')).toEqual(["'none'"])
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
  })

  it('/redoc: ReDoc from /docs/assets only; styles by a fresh nonce (and two fixed hashes), scripts by origin only', async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 2; i++) {
      const res = await f.t.request('/redoc')
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('no-store')
      const html = await res.text()
      const { scripts, urls } = resources(html)
      for (const s of scripts) {
        expect(s.attrs).toMatch(/\ssrc="\/docs\/assets\/[\w.-]+"/)
        expect(s.body).toBe('')
      }
      expect(urls.every((u) => u.startsWith(DOC_ASSETS_PREFIX))).toBe(true)
      expect(html).not.toMatch(/https?:\/\//)
      expect(html).toContain('data-spec-url="/openapi.json"')
      const nonce = /nonce="([^"]+)"/.exec(html)![1]!
      expect(nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/)
      seen.add(nonce)
      const csp = parseCsp(res.headers.get('content-security-policy'))
      expect(csp.get('script-src')).toEqual(["'self'"])
      expect(csp.get('style-src')).toEqual(["'self'", `'nonce-${nonce}'`, expect.stringMatching(/^'sha256-/), expect.stringMatching(/^'sha256-/)])
      expect(csp.get('worker-src')).toEqual(['blob:'])
      expect(csp.get('img-src')).toEqual(["'self'", 'data:'])
      expect(csp.get('frame-ancestors')).toEqual(["'none'"])
    }
    expect(seen.size).toBe(2)
  })
})

describe('/docs/assets', () => {
  it('serves each packaged file byte for byte as the pinned package ships it, with its type and an ETag', async () => {
    for (const a of PACKAGED_ASSETS) {
      const res = await f.t.request(`${DOC_ASSETS_PREFIX}${a.name}`)
      expect(res.status, a.name).toBe(200)
      expect(res.headers.get('content-type')).toBe(a.type)
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('cache-control')).toBe('no-cache')
      expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]{24}"$/)
      expect(await res.text()).toBe(packageFile(a.package, a.file))
    }
  })

  it('answers 304 to a matching If-None-Match, and serves its own start scripts', async () => {
    const first = await f.t.request(`${DOC_ASSETS_PREFIX}swagger-ui-bundle.js`)
    const etag = first.headers.get('etag')!
    const again = await f.t.request(`${DOC_ASSETS_PREFIX}swagger-ui-bundle.js`, { headers: { 'if-none-match': `"other", W/${etag}` } })
    expect(again.status).toBe(304)
    expect(await again.text()).toBe('')
    for (const [name, needle] of [
      ['swagger-init.js', 'SwaggerUIBundle('],
      ['redoc-init.js', 'Redoc.init('],
      ['docs.css', 'margin: 0'],
    ] as const) {
      const res = await f.t.request(`${DOC_ASSETS_PREFIX}${name}`)
      expect(res.status, name).toBe(200)
      expect(await res.text()).toContain(needle)
    }
    // The online validator would send our document to a third party.
    expect(await (await f.t.request(`${DOC_ASSETS_PREFIX}swagger-init.js`)).text()).toContain('validatorUrl: null')
  })

  it('serves nothing else: unknown names and other package files are a JSON 404', async () => {
    for (const path of ['nope.js', 'index.html', '..%2Fpackage.json', 'swagger-ui-bundle.js.map', 'swagger-initializer.js']) {
      const res = await f.t.request(`${DOC_ASSETS_PREFIX}${path}`)
      expect(res.status, path).toBe(404)
      expect(await res.json()).toEqual({ detail: 'Not Found' })
    }
  })

  it('the packages are pinned exactly in package.json, and installed at those versions', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
    for (const name of new Set(PACKAGED_ASSETS.map((a) => a.package))) {
      const wanted = pkg.dependencies[name]
      expect(wanted, name).toMatch(/^\d+\.\d+\.\d+$/)
      expect(JSON.parse(packageFile(name, 'package.json')).version).toBe(wanted)
    }
  })
})
