// The account page in a real browser (Debian Chromium through playwright-core), against the real
// Node server on both origins (ACCOUNT_URL http://127.0.0.1:P, BACKEND_URL http://localhost:P: the
// development default, two origins and two sites) with priced tokens and the fake payment provider:
// the whole customer flow with the script, the same without JavaScript, and a hostile Zenzefi page
// that tries to reach the account page from the backend origin while the browser is signed in.
// Screenshots of each step go to test-results/account/.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import type { Browser, BrowserContext, BrowserContextOptions, Page, Request } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AccountGateway, registerOnPage, startAccountGateway } from '../support/account'
import { hasChromium, LOOPBACK, launchChromium } from '../support/chromium'
import { startUpstream, type Upstream } from '../support/gateway'
import { newAccount, type TestDatabase, testDatabase } from '../support/harness'
import { recordSecret } from '../support/log-scan'
import { giveCredits, PRICED } from '../support/money'

if (!hasChromium) console.log('[zenzefi tests] skipped: account page browser test (no /usr/bin/chromium; apt-get install chromium)')

const SHOTS = 'test-results/account'
const DOCS_SHOT = 'docs/images/account-page.png'

let db: TestDatabase
let up: Upstream
let gw: AccountGateway
let browser: Browser
let ticker: ReturnType<typeof setInterval> | undefined
/** What the hostile page attacks (set by the isolation test before it opens the page). */
const target = { account: '', tokenIds: [] as string[] }

// A Zenzefi stand-in page.
const ZENZEFI_PAGE = `<!doctype html><html><head><title>Zenzefi</title>
<style>body{font:16px system-ui,sans-serif;margin:2rem}h1{color:#1f5fbf}</style></head>
<body><h1 id="title">Zenzefi stand-in: Certificates</h1><p id="script">no script</p>
<script>document.getElementById('script').textContent = 'script ran on ' + location.origin</script></body></html>`

// A Zenzefi page turned hostile: its own script tries to reach the account page on ACCOUNT_URL and
// writes each outcome into the DOM, one attack per button so the test can tell the server's lines apart.
function attackPage(account: string, tokenIds: string[]) {
  return `<!doctype html><html><head><title>Zenzefi (hostile)</title>
<style>body{font:15px system-ui,sans-serif;margin:1.5rem;max-width:70rem}li{margin:.35rem 0}code{word-break:break-all}
iframe{width:32rem;height:9rem;border:2px dashed #b42318;display:block;margin-top:.5rem}</style></head>
<body><h1>A proxied Zenzefi page that attacks the account page</h1>
<p>This page: <code id="origin"></code>, secure context: <code id="secure"></code>. Target: <code id="target"></code></p>
<p>Each attack runs on its button (a user's click, as a lured user would give).</p>
<ol>
<li><button id="run-a">a</button> fetch(/state, credentials: include): <code id="a">pending</code></li>
<li><button id="run-b1">b1</button> no-cors POST /tokens/&lt;id&gt;/revoke: <code id="b1">pending</code></li>
<li><button id="run-b2">b2</button> auto-submitted &lt;form method=post&gt; /tokens/&lt;id&gt;/revoke: <code id="b2">pending</code></li>
<li><button id="run-c">c</button> window.open(account) and its DOM: <code id="c">pending</code></li>
<li><button id="run-d">d</button> &lt;iframe src=account&gt;: <code id="d">pending</code></li>
<li><button id="run-e">e</button> service worker under the proxy: <code id="e">pending</code></li>
</ol>
<div id="frames"></div>
<script>
const ACCOUNT = ${JSON.stringify(account)}
const IDS = ${JSON.stringify(tokenIds)}
const out = (id, text) => { document.getElementById(id).textContent = text }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const why = (e) => (e && e.name) + ': ' + (e && e.message)
out('origin', location.origin); out('secure', String(window.isSecureContext)); out('target', ACCOUNT + ' ' + IDS.join(' '))

async function a() {
  try {
    const res = await fetch(ACCOUNT + '/state', { credentials: 'include' })
    let body = ''
    try { body = await res.text() } catch (e) {}
    out('a', 'LEAKED status ' + res.status + ' ' + body.slice(0, 200))
  } catch (e) { out('a', 'BLOCKED ' + why(e)) }
}
async function b1() {
  try {
    const res = await fetch(ACCOUNT + '/tokens/' + IDS[0] + '/revoke', {
      method: 'POST', mode: 'no-cors', credentials: 'include', body: new URLSearchParams({ key: crypto.randomUUID() }),
    })
    out('b1', 'SENT (opaque answer: type=' + res.type + ', status=' + res.status + ')')
  } catch (e) { out('b1', 'BLOCKED ' + why(e)) }
}
async function b2() {
  const form = document.createElement('form')
  form.method = 'post'
  form.action = ACCOUNT + '/tokens/' + IDS[1] + '/revoke'
  form.target = '_blank'
  const key = document.createElement('input')
  key.type = 'hidden'; key.name = 'key'; key.value = crypto.randomUUID()
  form.append(key)
  document.body.append(form)
  form.submit()
  out('b2', 'SUBMITTED (top-level, new tab)')
}
async function c() {
  const w = window.open(ACCOUNT + '/', 'account-tab')
  if (!w) return out('c', 'BLOCKED window.open returned null')
  let verdict = null
  let crossOrigin = null
  // The handle is first cross-origin, then severed once the COOP page commits: wait for the second.
  for (let i = 0; i < 60 && !verdict; i++) {
    await sleep(100)
    if (w.closed) { verdict = 'BLOCKED w.closed=true'; break }
    try {
      const body = w.document.body
      if (String(w.location.href).startsWith(ACCOUNT)) verdict = 'LEAKED ' + (body ? body.innerText.slice(0, 120) : 'document')
    } catch (e) { crossOrigin = 'BLOCKED (cross-origin, not closed) ' + why(e) }
  }
  if (!verdict && crossOrigin) verdict = crossOrigin
  let touch
  try { const body = w.document && w.document.body; touch = 'w.document.body=' + (body ? 'element' : String(body)) } catch (e) { touch = 'w.document threw ' + why(e) }
  out('c', (verdict || 'UNDECIDED still about:blank') + '; ' + touch + '; w.closed=' + w.closed)
}
async function d() {
  const frame = document.createElement('iframe')
  frame.name = 'account-frame'
  frame.src = ACCOUNT + '/'
  await new Promise((r) => { frame.onload = r; document.getElementById('frames').append(frame); setTimeout(r, 4000) })
  let doc
  try { doc = frame.contentDocument } catch (e) { doc = 'threw ' + why(e) }
  let inner
  try { inner = frame.contentWindow.document.body.innerText.slice(0, 80) } catch (e) { inner = 'threw ' + e.name }
  out('d', (doc ? 'LEAKED contentDocument' : 'BLOCKED contentDocument=' + String(doc)) + '; contentWindow.document: ' + inner)
}
async function e() {
  try {
    const reg = await navigator.serviceWorker.register('/api/v1/proxy/sw.js', { scope: '/api/v1/proxy/' })
    out('e', 'LEAKED registered, scope ' + reg.scope)
  } catch (err) {
    const regs = await navigator.serviceWorker.getRegistrations()
    out('e', 'BLOCKED ' + why(err) + '; registrations=' + regs.length)
  }
}
for (const [id, step] of Object.entries({ a, b1, b2, c, d, e }))
  document.getElementById('run-' + id).addEventListener('click', async () => {
    try { await step() } catch (err) { out(id, 'ERROR ' + why(err)) }
    document.getElementById(id).dataset.done = '1'
  })
</script></body></html>`
}

beforeAll(async () => {
  if (!hasChromium) return
  db = await testDatabase()
  up = await startUpstream()
  up.on((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/' || path === '/index.html') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(ZENZEFI_PAGE)
    else if (path === '/attack') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(attackPage(target.account, target.tokenIds))
    // Served if asked: only the gateway stands between the page and a registered worker.
    else if (path === '/sw.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end("self.addEventListener('fetch', () => {})")
    else res.writeHead(404).end()
  })
  gw = await startAccountGateway({ database: db, upstream: up, env: PRICED })
  // The harness's clock stands still; this one keeps the server's time with the wall clock, as in
  // production, so the page's countdown (counted against server time) can be measured.
  gw.t.clock.set(Date.now())
  ticker = setInterval(() => gw.t.clock.set(Date.now()), 20)
  browser = await launchChromium()
})

afterAll(async () => {
  if (ticker) clearInterval(ticker)
  await browser?.close()
  await gw?.close()
  await up?.close()
  await db?.drop()
})

interface Watched {
  context: BrowserContext
  /** CSP violations: "document-url directive blocked-uri". */
  violations: string[]
  /** Requests to anywhere but loopback (aborted). */
  outside: string[]
  /** Uncaught script errors: "url message". */
  errors: string[]
  /** Account pages laid out in quirks mode. */
  quirks: string[]
  /** Every navigation request, in order (redirectedFrom() leads back to the one before). */
  navigations: Request[]
}

/** A context that reaches loopback only and records CSP violations and script errors on every page. */
async function watchedContext(options: BrowserContextOptions = {}): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, ...options })
  const w: Watched = { context, violations: [], outside: [], errors: [], navigations: [], quirks: [] }
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url())
    if (/^(https?|wss?):$/.test(url.protocol) && !LOOPBACK.has(url.hostname)) {
      w.outside.push(url.href)
      return route.abort('internetdisconnected')
    }
    return route.continue()
  })
  await context.exposeBinding('__cspViolation', (_source, line: string) => void w.violations.push(line))
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      ;(window as unknown as { __cspViolation(s: string): void }).__cspViolation(`${location.href} ${e.effectiveDirective} ${e.blockedURI}`)
    })
  })
  context.on('request', (r) => {
    // Not r.frame(): a new tab's first request comes before its frame exists.
    if (r.isNavigationRequest()) w.navigations.push(r)
  })
  context.on('page', (p) => {
    p.on('pageerror', (err) => void w.errors.push(`${p.url()} ${err.message}`))
    // Every account page in standards mode (a missing doctype lays it out in quirks mode).
    p.on('load', () => {
      if (!p.url().startsWith(gw.accountUrl)) return
      p.evaluate(() => document.compatMode)
        .then((mode) => void (mode === 'CSS1Compat' || w.quirks.push(p.url())))
        .catch(() => {})
    })
    p.on('dialog', (d) => void d.accept())
  })
  return w
}

async function shot(page: Page, name: string, fullPage = false) {
  mkdirSync(SHOTS, { recursive: true })
  const path = `${SHOTS}/${name}`
  await page.screenshot({ path, fullPage })
  return path
}

const userIdOf = async (email: string) => (await gw.t.services.accounts.findByEmail(email))!.id
const tokensOf = (userId: string) => gw.t.services.tokens.listForUser(userId, false)
const onAccount = (path: string) => (url: URL) => url.origin === gw.accountUrl && url.pathname === path
const balanceText = (page: Page) => page.locator('#balance').textContent()

/** Access lines the server wrote since `mark`, for one path. */
function accessLines(mark: number, path: string | RegExp): Array<{ method: string; path: string; status: number; mode?: string }> {
  return gw.t.logs
    .slice(mark)
    .map((line) => {
      try {
        return JSON.parse(line) as { method?: string; path?: string; status?: number; mode?: string }
      } catch {
        return {}
      }
    })
    .filter((f) => typeof f.path === 'string' && typeof f.status === 'number' && (typeof path === 'string' ? f.path === path : path.test(f.path)))
    .map((f) => ({ method: f.method!, path: f.path!, status: f.status!, mode: f.mode }))
}

async function logIn(page: Page, account: { email: string; password: string }) {
  await page.goto(`${gw.accountUrl}/login`)
  await page.fill('input[name=email]', account.email)
  await page.fill('input[name=password]', account.password)
  await Promise.all([page.waitForURL(onAccount('/')), page.click('form[action="/login"] button[type=submit]')])
}

/** Buys through the page's form; returns the new token's id (from the redirect's #token-<id>). */
async function buy(page: Page, hours: string): Promise<string> {
  await page.selectOption('form[action="/tokens"] select[name=duration_hours]', hours)
  await Promise.all([page.waitForURL((u) => u.searchParams.get('notice') === 'bought'), page.click('form[action="/tokens"] button[type=submit]')])
  const id = new URL(page.url()).hash.replace('#token-', '')
  expect(id).toMatch(/^[0-9a-f-]{36}$/)
  return id
}

describe.skipIf(!hasChromium)('the account page in a real browser', () => {
  it('with JavaScript: register, log in, top up through the checkout, buy, open Zenzefi, watch the countdown, copy', async () => {
    const w = await watchedContext()
    await w.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gw.accountUrl })
    const page = await w.context.newPage()
    // Every account document the browser received, as sent: none may carry the token.
    const accountDocuments: Array<Promise<string>> = []
    w.context.on('response', (r) => {
      if (r.request().resourceType() === 'document' && r.url().startsWith(gw.accountUrl) && r.status() === 200) accountDocuments.push(r.text().catch(() => ''))
    })
    const account = { email: 'ada@example.com', username: 'ada_lovelace', full_name: 'Ada Lovelace', password: 'correct horse battery' }
    recordSecret(account.password, 'password')

    // Register.
    await page.goto(`${gw.accountUrl}/register`)
    await page.fill('input[name=email]', account.email)
    await page.fill('input[name=username]', account.username)
    await page.fill('input[name=full_name]', account.full_name)
    await page.fill('input[name=password]', account.password)
    await shot(page, '01-register.png')
    await Promise.all([page.waitForURL(onAccount('/')), page.click('form[action="/register"] button[type=submit]')])
    expect(await balanceText(page)).toBe('0.00')
    const cookie = (await w.context.cookies(gw.accountUrl)).find((c) => c.name === '__Host-zz_session')
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' })
    const userId = await userIdOf(account.email)

    // Log out, then log in through the form.
    await Promise.all([page.waitForURL(onAccount('/login')), page.click('header form[action="/logout"] button')])
    await expect.poll(() => page.locator('.notice').textContent()).toBe('You are logged out.')
    await logIn(page, account)
    expect(await page.locator('header .who').textContent()).toBe(account.username)

    // Top up 100 ZNC through the fake checkout on BACKEND_URL.
    await page.fill('form[action="/topup"] input[name=amount_znc]', '100')
    await shot(page, '02-topup.png')
    await Promise.all([
      page.waitForURL((u) => u.origin === gw.backendUrl && u.pathname.startsWith('/fake-checkout/')),
      page.click('form[action="/topup"] button[type=submit]'),
    ])
    await shot(page, '03-checkout.png')
    // The Pay button credits, then 303s to ACCOUNT_URL/?notice=paid (the checkout's form-action must allow that redirect).
    await page.click('button[type=submit]')
    // The page's script drops ?notice= from the address once shown: wait for the page and its notice.
    await page.waitForURL(onAccount('/'), { timeout: 5_000 }).catch(async (err: Error) => {
      throw new Error(
        `Pay did not bring the browser back to ${gw.accountUrl}/?notice=paid; CSP violations: ${w.violations.join('; ') || 'none'} (${err.message.split('\n')[0]})`,
      )
    })
    expect(await page.textContent('.notice')).toContain('Thank you. Your balance grows')
    expect(new URL(page.url()).search).toBe('')
    expect(await balanceText(page)).toBe('100.00')

    // Buy a 1-hour token (1.00 ZNC).
    const tokenId = await buy(page, '1')
    expect(await balanceText(page)).toBe('99.00')
    const row = page.locator(`#token-${tokenId}`)
    expect(await row.locator('[data-state]').textContent()).toBe('not used yet')
    const [bought] = await gw.t.services.tokens.listForUser(userId, true)
    const token = bought!.token!
    recordSecret(token, 'access token')
    expect(bought!.id).toBe(tokenId)
    expect(bought!.activatedAt).toBeNull()
    await shot(page, '04-bought.png', true)

    // Open Zenzefi: a new tab, POST /tokens/<id>/launch → 303 ?launch=<code> → 303 /api/v1/proxy/.
    const tabOpened = w.context.waitForEvent('page')
    const launchedAt = Date.now()
    await page.click(`#token-${tokenId} button[data-launch]`)
    const zz = await tabOpened
    await zz.waitForURL(`${gw.backendUrl}/api/v1/proxy/`)
    await expect.poll(() => zz.locator('#title').textContent()).toBe('Zenzefi stand-in: Certificates')
    expect(await zz.locator('#script').textContent()).toBe(`script ran on ${gw.backendUrl}`)
    // No way back from Zenzefi's tab into the account tab (rel=noopener, and COOP on the account page).
    expect(await zz.evaluate(() => window.opener === null)).toBe(true)
    await shot(zz, '05-zenzefi.png')
    // The tab's navigation, first request first (Playwright links each redirect to the one before).
    const chain: string[] = []
    let last: Request | null = w.navigations.findLast((r) => r.url() === zz.url()) ?? null
    while (last) {
      chain.unshift(`${last.method()} ${last.url()}`)
      last = last.redirectedFrom()
    }
    expect(chain.map((c) => c.replace(/launch=[^&]+/, 'launch=…'))).toEqual([
      `POST ${gw.accountUrl}/tokens/${tokenId}/launch`,
      `GET ${gw.backendUrl}/api/v1/proxy/?launch=…`,
      `GET ${gw.backendUrl}/api/v1/proxy/`,
    ])
    const code = new URL(chain[1]!.slice(4)).searchParams.get('launch')!
    recordSecret(code, 'launch code')
    expect(code).toMatch(/\S{16,}/)
    expect(code === token).toBe(false)
    expect(chain.some((c) => c.includes(token))).toBe(false)
    expect(gw.t.logs.some((line) => line.includes(code))).toBe(false)
    // The token started on that page.
    await expect.poll(async () => (await tokensOf(userId))[0]!.activatedAt).not.toBeNull()
    const started = (await tokensOf(userId))[0]!
    expect(started.expiresAt!.getTime() - started.activatedAt!.getTime()).toBe(3_600_000)

    // Back on the account tab: the script looks again after the launch (1.5 s, 4 s) and the countdown appears.
    await page.bringToFront()
    const countdown = page.locator(`#token-${tokenId} .countdown[data-remaining-ms]`)
    await countdown.waitFor({ timeout: 10_000 })
    expect(await page.locator(`#token-${tokenId} [data-state]`).textContent()).toBe('active')
    // Past the launch's second look, so that no reload falls inside the measurement.
    await page.waitForTimeout(Math.max(0, launchedAt + 4_500 - Date.now()))
    const remaining = () => countdown.evaluate((el) => Number((el as HTMLElement).dataset.remainingMs))
    const t0 = Date.now()
    const before = await remaining()
    await page.waitForTimeout(3_000)
    const after = await remaining()
    const wall = Date.now() - t0
    expect(Math.abs(before - (started.expiresAt!.getTime() - t0))).toBeLessThan(1_000)
    expect(wall).toBeGreaterThanOrEqual(3_000)
    expect(Math.abs(before - after - 3_000)).toBeLessThanOrEqual(300)
    expect(Math.abs(before - after - wall)).toBeLessThanOrEqual(300)
    expect(await countdown.textContent()).toMatch(/^00:59:[0-5]\d$/)

    // Copy token: fetched when pressed, onto the clipboard; the page never holds it.
    const copy = page.locator(`#token-${tokenId} form[data-copy] button`)
    await copy.click()
    await expect.poll(() => copy.textContent()).toBe('Copied')
    const clipboard = await page.evaluate(() => navigator.clipboard.readText())
    expect(clipboard === token).toBe(true)
    expect((await page.content()).includes(token)).toBe(false)
    const home = await page.goto(`${gw.accountUrl}/`)
    const raw = await home!.text()
    expect(raw).toContain('id="account"')
    expect(raw.includes(token)).toBe(false)
    // The picture for the README: the page at its plain address, the token counting down.
    await page.locator(`#token-${tokenId} .countdown[data-remaining-ms]`).waitFor()
    await shot(page, '06-countdown.png', true)
    if (process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(DOCS_SHOT)) copyFileSync(`${SHOTS}/06-countdown.png`, DOCS_SHOT)
    const documents = await Promise.all(accountDocuments)
    expect(documents.length).toBeGreaterThanOrEqual(6)
    expect(documents.filter((body) => body.includes(token))).toEqual([])

    expect(w.violations).toEqual([])
    expect(w.errors).toEqual([])
    expect(w.quirks).toEqual([])
    expect(w.outside).toEqual([])
    await w.context.close()
  }, 60_000)

  it('without JavaScript: log in, buy, copy on a page of its own, revoke with the refund', async () => {
    const account = newAccount()
    await registerOnPage(gw, account)
    const userId = await userIdOf(account.email)
    await giveCredits(gw.t, userId, 10_000)
    const w = await watchedContext({ javaScriptEnabled: false })
    const page = await w.context.newPage()

    await logIn(page, account)
    expect(await balanceText(page)).toBe('100.00')
    const tokenId = await buy(page, '24')
    expect(await page.locator('.notice').textContent()).toContain('Token bought.')
    expect(await balanceText(page)).toBe('82.00')
    const row = page.locator(`#token-${tokenId}`)
    expect(await row.locator('[data-state]').textContent()).toBe('not used yet')
    const [bought] = await gw.t.services.tokens.listForUser(userId, true)
    recordSecret(bought!.token, 'access token')

    // Copy without a script: the token on a page of its own, because the user asked.
    await Promise.all([page.waitForURL(onAccount(`/tokens/${tokenId}/reveal`)), row.locator('form[data-copy] button').click()])
    expect((await page.locator('code.secret').textContent()) === bought!.token).toBe(true)
    await Promise.all([page.waitForURL(onAccount('/')), page.click('main a[href="/"]')])

    // Revoke: no confirm() without a script; the form alone does it, with the refund.
    const revoke = page.locator(`#token-${tokenId} form[action$="/revoke"] button`)
    expect(await revoke.textContent()).toBe('Revoke (refund 18.00 ZNC)')
    await Promise.all([page.waitForURL((u) => u.searchParams.get('notice') === 'revoked'), revoke.click()])
    expect(await page.locator('.notice').textContent()).toBe('Token revoked.')
    expect(await balanceText(page)).toBe('100.00')
    await page.click('details summary')
    expect(await page.locator(`#token-${tokenId} [data-state]`).textContent()).toBe('revoked')
    expect((await tokensOf(userId))[0]!.isActive).toBe(false)
    await shot(page, '07-nojs.png', true)
    expect(w.quirks).toEqual([])
    expect(w.outside).toEqual([])
    await w.context.close()
  }, 30_000)

  it('a Zenzefi page on BACKEND_URL cannot read, act on, open, frame or take over the signed-in account page', async () => {
    const account = newAccount()
    await registerOnPage(gw, account)
    const userId = await userIdOf(account.email)
    await giveCredits(gw.t, userId, 10_000)
    const w = await watchedContext()
    const page = await w.context.newPage()
    await logIn(page, account)
    const idA = await buy(page, '1')
    const idB = await buy(page, '1')
    expect(await balanceText(page)).toBe('98.00')
    const all = await gw.t.services.tokens.listForUser(userId, true)
    const tokenA = all.find((t) => t.id === idA)!.token!
    for (const t of all) recordSecret(t.token, 'access token')
    target.account = gw.accountUrl
    target.tokenIds = [idA, idB]

    // The hostile page, proxied with token A, in the same context as the signed-in account tab.
    const zz = await w.context.newPage()
    await zz.goto(`${gw.backendUrl}/api/v1/proxy/attack?token=${tokenA}`)
    expect(zz.url()).toBe(`${gw.backendUrl}/api/v1/proxy/attack`)
    expect(await zz.locator('#origin').textContent()).toBe(gw.backendUrl)
    expect(await zz.locator('#secure').textContent()).toBe('true')
    expect(await zz.locator('#target').textContent()).toBe(`${gw.accountUrl} ${idA} ${idB}`)
    const upstreamBefore = up.received.length

    const attack = async (id: string) => {
      const mark = gw.t.logs.length
      await zz.click(`#run-${id}`)
      await zz.locator(`#${id}[data-done]`).waitFor({ timeout: 15_000 })
      return { outcome: (await zz.locator(`#${id}`).textContent())!, mark }
    }
    const outcomes: Record<string, string> = {}

    // a. Reading /state with the browser's credentials: the fetch rejects (no CORS), and the server refused it anyway.
    const a = await attack('a')
    outcomes.a = a.outcome
    expect(a.outcome).toMatch(/^BLOCKED TypeError: Failed to fetch/)
    const stateLines = accessLines(a.mark, '/state').filter((l) => l.status !== 200) // 200s: the account tab's own refresh
    expect(stateLines.length).toBeGreaterThan(0)
    expect(stateLines.every((l) => l.status === 403 || l.status === 401)).toBe(true)
    outcomes.aServer = stateLines.map((l) => `${l.method} ${l.path} ${l.status}`).join(', ')

    // b1. A no-cors POST that would revoke token A: sent, opaque, refused.
    const b1 = await attack('b1')
    outcomes.b1 = b1.outcome
    // Either an opaque answer, or (Cross-Origin-Resource-Policy: same-origin on the refusal) a network error: nothing readable.
    expect(b1.outcome).toMatch(/^(SENT \(opaque answer: type=opaque, status=0\)|BLOCKED TypeError: Failed to fetch)$/)
    expect(accessLines(b1.mark, `/tokens/${idA}/revoke`).map((l) => l.status)).toEqual([403])
    outcomes.b1Server = `POST /tokens/<A>/revoke 403`

    // b2. A real form, auto-submitted, top level in a new tab, that would revoke token B: refused.
    const refusedTab = w.context.waitForEvent('page')
    const b2 = await attack('b2')
    outcomes.b2 = b2.outcome
    const refusal = await refusedTab
    await refusal.waitForLoadState()
    await expect.poll(() => accessLines(b2.mark, `/tokens/${idB}/revoke`).map((l) => l.status)).toEqual([403])
    expect(await refusal.locator('body').textContent()).toBe('{"detail":"Cross-origin request refused"}')
    outcomes.b2Server = `POST /tokens/<B>/revoke 403 {"detail":"Cross-origin request refused"}`
    await refusal.close()

    // c. window.open and the opened page's DOM: COOP severs the handle (w.closed).
    const opened = w.context.waitForEvent('page')
    const c = await attack('c')
    outcomes.c = c.outcome
    const accountTab = await opened
    expect(c.outcome).toMatch(/^BLOCKED w\.closed=true; /)
    expect(c.outcome).not.toContain('LEAKED')
    // It did open, signed in (a top-level GET carries the Lax cookie): the opener just has no way into it.
    await accountTab.locator('#account').waitFor()
    await accountTab.close()

    // d. Framing: the browser refuses to render it (frame-ancestors 'none', X-Frame-Options DENY).
    const d = await attack('d')
    outcomes.d = d.outcome
    expect(d.outcome).toMatch(/^BLOCKED contentDocument=null; /)
    // The cookie never went with it (SameSite=Lax, a cross-site frame): the page sent it to /login.
    // Waited for: on a slow machine the script's 4 s may pass before the frame has got there.
    const framedLines = () =>
      accessLines(d.mark, /^\/(login)?$/)
        .map((l) => `${l.method} ${l.path} ${l.status}`)
        .join(', ')
    await expect.poll(framedLines, { timeout: 15_000 }).toBe('GET / 303, GET /login 200')
    outcomes.dServer = framedLines()
    // Found by its element: a frame's name as the browser reports it can lag its navigation.
    const frame = await (await zz.locator('iframe[name="account-frame"]').elementHandle())?.contentFrame()
    expect(frame).toBeTruthy()
    await frame!.waitForLoadState()
    const framed = await frame!.content()
    expect(framed).not.toContain('id="account"')
    expect(framed).not.toContain('/assets/account.css')

    // e. A service worker under the proxy prefix: the gateway answers its script fetch 403.
    const e = await attack('e')
    outcomes.e = e.outcome
    expect(e.outcome).toMatch(/^BLOCKED TypeError: .*\(403\).*; registrations=0$/)
    expect(accessLines(e.mark, /sw\.js$/).map((l) => l.status)).toEqual([403])
    outcomes.eServer = accessLines(e.mark, /sw\.js$/)
      .map((l) => `${l.method} ${l.path} ${l.status} (${l.mode})`)
      .join(', ')
    expect(up.received.slice(upstreamBefore).filter((r) => r.url.includes('sw.js'))).toEqual([])
    expect(await zz.evaluate(() => navigator.serviceWorker.getRegistrations().then((r) => r.length))).toBe(0)

    console.log(
      `[account isolation] outcomes:\n${Object.entries(outcomes)
        .map(([k, v]) => `  ${k}: ${v}`)
        .join('\n')}`,
    )
    await shot(zz, '08-isolation.png', true)

    // Nothing happened to the account: both tokens live, balance as it was, still signed in.
    const after = await tokensOf(userId)
    expect(after.map((t) => [t.id, t.isActive]).sort()).toEqual(
      [
        [idA, true],
        [idB, true],
      ].sort(),
    )
    await page.reload()
    expect(await balanceText(page)).toBe('98.00')
    expect(await page.locator('.tokens .token.live').count()).toBe(2)
    expect(w.violations).toEqual([])
    expect(w.outside).toEqual([])
    await w.context.close()
  }, 45_000)
})
