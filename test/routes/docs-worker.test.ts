// The Workers bundle carries the docs pages' files itself (inlined by wrangler.toml's [build]
// command, scripts/docs-assets.ts): the built worker serves them in Miniflare, byte for byte as
// Node does, with no PostgreSQL needed for it (the docs never touch the database).
import { readFileSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DOCS_CSP } from '../../src/routes/docs'
import { DOC_ASSETS_PREFIX, PACKAGED_ASSETS } from '../../src/routes/docs-assets'
import { buildWorker, type RunningWorker, startWorker } from '../support/worker'

const require = createRequire(import.meta.url)
// Under the repository: workerd refuses module paths that climb out of the working directory.
const outdir = join('dist', `worker-docs-test-${process.pid}`)
let bundle = ''
let worker: RunningWorker

beforeAll(async () => {
  bundle = buildWorker(outdir)
  // A database URL is required to start; nothing here connects to it.
  worker = await startWorker({ DATABASE_URL: 'postgres://nobody@127.0.0.1:9/unused', SECRET_KEY: 'docs-worker-test-'.repeat(3) }, { bundle })
}, 120_000)

afterAll(async () => {
  await worker?.close()
  rmSync(outdir, { recursive: true, force: true })
})

describe('the worker bundle serves the docs', () => {
  it('inlines the packaged files in the bundle (one module, no Text modules beside it) and stays a reasonable size', () => {
    const source = readFileSync(bundle, 'utf8')
    expect(source).toContain('// dist/docs-assets/assets.js')
    expect(source).not.toMatch(/\/\/ src\/runtime\/node\//)
    const size = statSync(bundle).size
    const packaged = PACKAGED_ASSETS.reduce((n, a) => n + statSync(require.resolve(`${a.package}/${a.file}`)).size, 0)
    // The app itself was ~1.7 MB; the docs add the packages' own ~3 MB (well under Workers' 10 MB, ~1.1 MB gzipped).
    expect(size).toBeGreaterThan(packaged)
    expect(size).toBeLessThan(packaged + 2.5 * 1024 * 1024)
  })

  it('/docs and /redoc carry their CSP, and every packaged file comes back as the package ships it', async () => {
    const docs = await fetch(`${worker.url}/docs`)
    expect(docs.status).toBe(200)
    expect(docs.headers.get('content-security-policy')).toBe(DOCS_CSP)
    const redoc = await fetch(`${worker.url}/redoc`)
    expect(redoc.status).toBe(200)
    expect(redoc.headers.get('content-security-policy')).toMatch(/style-src 'self' 'nonce-[^']+' 'sha256-/)
    await redoc.text()
    for (const a of PACKAGED_ASSETS) {
      const res = await fetch(`${worker.url}${DOC_ASSETS_PREFIX}${a.name}`)
      expect(res.status, a.name).toBe(200)
      expect(res.headers.get('content-type')).toBe(a.type)
      expect(await res.text()).toBe(readFileSync(require.resolve(`${a.package}/${a.file}`), 'utf8'))
    }
    const init = await fetch(`${worker.url}${DOC_ASSETS_PREFIX}swagger-init.js`)
    expect(await init.text()).toContain('SwaggerUIBundle(')
  })
})
