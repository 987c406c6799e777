// Debian's Chromium through playwright-core (the flags this machine's closed network needs), and pages
// with the outside world cut off: every request to a host other than loopback is aborted and recorded, and
// every Content-Security-Policy violation the page reports is recorded too.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
export const hasChromium = existsSync(CHROMIUM)

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core')
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

export const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

export interface OfflinePage {
  context: BrowserContext
  page: Page
  /** Requests to anywhere but loopback (all aborted). */
  outside: string[]
  /** CSP violations the page reported: "directive blockedURI". */
  violations: string[]
  /** URLs of the WebSockets the page opened (route() does not see them: check they are loopback). */
  sockets: string[]
}

/** A page in a fresh context that can reach loopback only. */
export async function offlinePage(browser: Browser, viewport = { width: 1280, height: 860 }): Promise<OfflinePage> {
  const context = await browser.newContext({ viewport })
  const outside: string[] = []
  const violations: string[] = []
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url())
    if ((url.protocol === 'http:' || url.protocol === 'https:' || url.protocol === 'ws:' || url.protocol === 'wss:') && !LOOPBACK.has(url.hostname)) {
      outside.push(url.href)
      return route.abort('internetdisconnected')
    }
    return route.continue()
  })
  await context.exposeBinding('__cspViolation', (_source, line: string) => void violations.push(line))
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      ;(window as unknown as { __cspViolation(s: string): void }).__cspViolation(`${e.effectiveDirective} ${e.blockedURI}`)
    })
  })
  const page = await context.newPage()
  const sockets: string[] = []
  page.on('websocket', (ws) => void sockets.push(ws.url()))
  return { context, page, outside, violations, sockets }
}

/**
 * Saves a screenshot to test-results/<name>, and to docs/images/<name> (the README's pictures)
 * when that file is missing or UPDATE_SCREENSHOTS=1, so an ordinary test run leaves the tree alone.
 */
export async function saveScreenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<string[]> {
  const results = join('test-results', name)
  mkdirSync(dirname(results), { recursive: true })
  await page.screenshot({ path: results, fullPage: opts.fullPage ?? false })
  const saved = [results]
  const docs = join('docs', 'images', name)
  if (process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(docs)) {
    mkdirSync(dirname(docs), { recursive: true })
    copyFileSync(results, docs)
    saved.push(docs)
  }
  return saved
}
