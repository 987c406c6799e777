// /docs and /redoc in Debian's Chromium with the outside network cut off: the gateway serves
// everything they need itself (pinned swagger-ui-dist and redoc), under its Content-Security-Policy.
// (The README's picture of /docs is taken from the demo's gateway: test/demo/demo.test.ts.)
import { describe, expect, it } from 'vitest'
import { hasChromium, launchChromium, offlinePage } from '../support/chromium'
import { gatewayFixture } from '../support/gateway'

if (!hasChromium) console.log('[zenzefi tests] skipped: /docs and /redoc in a browser (no /usr/bin/chromium; apt-get install chromium)')

const f = gatewayFixture()

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

/** Operations (path × method) in the served OpenAPI document. */
async function operationCount(): Promise<number> {
  const doc = (await (await fetch(`${f.gw.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> }
  return Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).filter((m) => METHODS.has(m)).length, 0)
}

describe.skipIf(!hasChromium)('API docs in a browser, offline', () => {
  it('/docs: Swagger UI lists every operation, runs one with "Try it out", asks nothing of the outside world and breaks no CSP rule', async () => {
    const expected = await operationCount()
    expect(expected).toBeGreaterThanOrEqual(13)
    const browser = await launchChromium()
    try {
      const { page, outside, violations } = await offlinePage(browser, { width: 1280, height: 900 })
      const res = await page.goto(`${f.gw.url}/docs`)
      expect(res!.headers()['content-security-policy']).toContain("script-src 'self';")
      await page.waitForFunction((n) => document.querySelectorAll('.opblock').length === n, expected, { timeout: 20_000 })
      expect(await page.locator('.opblock').count()).toBe(expected)
      expect(await page.locator('.info .title').first().textContent()).toContain('Zenzefi Backend')
      // "Try it out" on GET /health: a same-origin fetch that connect-src 'self' allows.
      const health = page.locator('.opblock-get', { has: page.locator('[data-path="/health"]') }).first()
      await health.locator('.opblock-summary').click()
      await health.locator('button.try-out__btn').click()
      await health.locator('button.execute').click()
      await health.locator('.live-responses-table tr.response .response-col_status').first().waitFor({ timeout: 10_000 })
      expect((await health.locator('.live-responses-table tr.response .response-col_status').first().textContent())?.trim()).toBe('200')
      expect(outside).toEqual([])
      expect(violations).toEqual([])
    } finally {
      await browser.close()
    }
  }, 60_000)

  it('/redoc: ReDoc renders every operation; the only refusal is its Redocly logo from a CDN, blocked by img-src', async () => {
    const expected = await operationCount()
    const browser = await launchChromium()
    try {
      const { page, outside, violations } = await offlinePage(browser)
      await page.goto(`${f.gw.url}/redoc`)
      await page.waitForFunction((n) => document.querySelectorAll('[data-section-id*="/paths/"]').length === n, expected, { timeout: 20_000 })
      expect(await page.locator('[data-section-id*="/paths/"]').count()).toBe(expected)
      expect(await page.locator('h1').first().textContent()).toContain('Zenzefi Backend')
      // Its search index is built in a blob: worker (worker-src blob:).
      await page.locator('input[placeholder^="Search"]').fill('purchase')
      await page.locator('[data-role="search:results"] li[data-item-id*="purchase"]').first().waitFor({ timeout: 10_000 })
      // CSP refuses the image before any request is made: nothing reached the network.
      expect(outside).toEqual([])
      expect(violations).toEqual(['img-src https://cdn.redoc.ly/redoc/logo-mini.svg'])
    } finally {
      await browser.close()
    }
  }, 60_000)
})
