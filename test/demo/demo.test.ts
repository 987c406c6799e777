// `npm run demo` as a newcomer runs it: the launcher (demo/run.ts) as its own process, which
// starts the stand-in Zenzefi and the real gateway. Its printed URL must answer with the rewritten
// page through the gateway, a WebSocket must echo through it, the token's clock must start at
// first use, and SIGINT (Ctrl-C) must leave no process and no temporary directory behind.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { freePort } from '../../bench/lib/children'
import { DEMO_USER } from '../../demo/run'
import { hasChromium, LOOPBACK, launchChromium, offlinePage, saveScreenshot } from '../support/chromium'

if (!hasChromium) console.log('[zenzefi tests] skipped: the demo page in a browser and its screenshot (no /usr/bin/chromium; apt-get install chromium)')

interface Demo {
  child: ChildProcess
  output: string[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  port: number
  url: string
  token: string
  gatewayPid: number
  userId: string
  dataDir: string
}

let demo: Demo

/** Every process below `pid` (children, their children…), from ps. */
function descendants(pid: number): number[] {
  let out = ''
  try {
    out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
  } catch {
    return [] // ps exits 1 when there are none
  }
  const kids = out.split('\n').map(Number).filter(Boolean)
  return kids.flatMap((k) => [k, ...descendants(k)])
}

/** Running, i.e. neither gone nor a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** Free on 127.0.0.1 right now. */
async function portIsFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net')
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

async function startDemo(): Promise<Demo> {
  // Pictures for the README show the port a newcomer sees; ordinary runs take any free port.
  const port = process.env.UPDATE_SCREENSHOTS === '1' && (await portIsFree(8000)) ? 8000 : await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/run.ts'], {
    // The caller's DATABASE_URL/REDIS_URL are passed on on purpose: the demo must not use them.
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  createInterface({ input: child.stderr! }).on('line', (l) => output.push(l))
  const lines = createInterface({ input: child.stdout! })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo printed no URL within 90 s:\n${output.join('\n')}`)), 90_000)
    lines.on('line', (line) => {
      output.push(line)
      if (line.startsWith('Ctrl-C stops')) {
        clearTimeout(timer)
        resolve()
      }
    })
    void exited.then(({ code }) => reject(new Error(`the demo exited (${code}):\n${output.join('\n')}`)))
  })
  const text = output.join('\n')
  const m = (re: RegExp) => {
    const found = re.exec(text)
    if (!found) throw new Error(`not in the demo's output: ${re}\n${text}`)
    return found
  }
  const opened = m(/^ {2}(http:\/\/localhost:\d+\/api\/v1\/proxy\/\?token=([\w-]{64}))$/m)
  return {
    child,
    output,
    exited,
    port,
    url: opened[1]!,
    token: opened[2]!,
    gatewayPid: Number(m(/main\.ts, pid (\d+)/)[1]),
    userId: m(/\(id ([0-9a-f-]{36})/)[1]!,
    dataDir: m(/^ {2}data +(\S+)/m)[1]!,
  }
}

beforeAll(async () => {
  demo = await startDemo()
}, 120_000)

afterAll(() => {
  // Only if a test failed before the SIGINT test: the demo and what it started, by PID.
  if (demo && alive(demo.child.pid!)) {
    for (const pid of [...descendants(demo.child.pid!), demo.child.pid!]) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone
      }
    }
  }
})

const base = () => `http://localhost:${demo.port}`
const tokenHeaders = () => ({ 'x-access-token': demo.token })

describe('npm run demo', () => {
  it('prints the URL to open, curl lines for the same token, and runs on the embedded defaults', async () => {
    const text = demo.output.join('\n')
    expect(demo.url).toBe(`http://localhost:${demo.port}/api/v1/proxy/?token=${demo.token}`)
    expect(text).toContain(`B=http://localhost:${demo.port}/api/v1 TOKEN=${demo.token}`)
    expect(text).toContain('curl -s $B/proxy/status -H "X-Access-Token: $TOKEN"')
    expect(text).toContain(`${DEMO_USER.email} / ${DEMO_USER.password}`)
    const health = await (await fetch(`${base()}/health/detailed`)).json()
    expect(health.status).toBe('healthy')
    expect(health.checks.database.url).toMatch(/^pglite:\/\//)
    expect(health.checks.redis.url).toBe('memory://')
    expect(health.checks.zenzefi.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
  })

  it('the token is "ready" until its first use through the proxy, then "active" with its 24 h running', async () => {
    const before = await (await fetch(`${base()}/api/v1/proxy/status`, { headers: tokenHeaders() })).json()
    expect(before).toMatchObject({ status: 'ready', is_activated: false, time_remaining_seconds: null, duration_hours: 24, user_id: demo.userId })
    const certificates = await fetch(`${base()}/api/v1/proxy/api/certificates`, { headers: tokenHeaders() })
    expect(certificates.status).toBe(200)
    // Zenzefi's absolute links, rewritten to the gateway.
    const body = await certificates.json()
    expect(body.items[0].href).toBe(`http://localhost:${demo.port}/api/v1/proxy/certificates/1`)
    const after = await (await fetch(`${base()}/api/v1/proxy/status`, { headers: tokenHeaders() })).json()
    expect(after.status).toBe('active')
    expect(after.time_remaining_seconds).toBeGreaterThan(24 * 3600 - 120)
  })

  it('its URL answers 303 with the cookie, and the page comes back rewritten under the prefix', async () => {
    const first = await fetch(demo.url, { redirect: 'manual' })
    expect(first.status).toBe(303)
    expect(new URL(first.headers.get('location')!, demo.url).href).toBe(`http://localhost:${demo.port}/api/v1/proxy/`)
    const cookie = first.headers.getSetCookie().find((c) => c.startsWith('zenzefi_access_token='))!
    expect(cookie).toMatch(/HttpOnly/i)
    const res = await fetch(`http://localhost:${demo.port}/api/v1/proxy/`, { headers: { cookie: cookie.split(';')[0]! } })
    expect(res.status).toBe(200)
    const html = await res.text()
    // The shim first in <head>, then the page's own links, each form rewritten.
    expect(html).toMatch(/^<!doctype html>\s*<html lang="en"><head><script data-zenzefi-shim>/)
    const pub = `http://localhost:${demo.port}/api/v1/proxy`
    for (const expected of [
      'href="/api/v1/proxy/static/app.css"',
      'src="/api/v1/proxy/static/app.js"',
      `href="${pub}/settings"`,
      `href="//localhost:${demo.port}/api/v1/proxy/about"`,
      'srcset="/api/v1/proxy/static/chip.svg 1x, /api/v1/proxy/static/chip.svg 2x"',
      'action="/api/v1/proxy/api/certificates"',
      `formaction="${pub}/api/certificates?all=1"`,
      'url(/api/v1/proxy/static/chip.svg)',
      'url("/api/v1/proxy/static/chip.svg")',
      `api: "${pub}/api"`,
    ]) {
      expect(html, expected).toContain(expected)
    }
    // Zenzefi saw who the gateway let in.
    expect(html).toContain(`data-user-id="${demo.userId}"`)
    // Zenzefi's session cookie: Domain dropped, Path under the prefix.
    const session = res.headers.getSetCookie().find((c) => c.startsWith('JSESSIONID='))!
    expect(session).not.toMatch(/domain=/i)
    expect(session).toMatch(/path=\/api\/v1\/proxy\/?(;|$)/i)
    // The stylesheet and the script, rewritten as they stream.
    const css = await (await fetch(`${base()}/api/v1/proxy/static/app.css`, { headers: tokenHeaders() })).text()
    expect(css).toContain('@import "/api/v1/proxy/static/theme.css"')
    const js = await (await fetch(`${base()}/api/v1/proxy/static/app.js`, { headers: tokenHeaders() })).text()
    expect(js).toContain("var SOCKJS_URL = '/api/v1/proxy/ws'")
    expect(js).toContain(`var CERTS_SELF = '${pub}/api/certificates'`)
    // A redirect from Zenzefi points at the gateway.
    const login = await fetch(`${base()}/api/v1/proxy/login`, { headers: tokenHeaders(), redirect: 'manual' })
    expect(login.status).toBe(302)
    expect(login.headers.get('location')).toBe(`${pub}/`)
  })

  it('a SockJS-style WebSocket echoes through the gateway', async () => {
    const ws = new WebSocket(`ws://localhost:${demo.port}/api/v1/proxy/ws/000/test0001/websocket`, { headers: tokenHeaders() })
    const messages: string[] = []
    const waiters: Array<() => void> = []
    ws.on('message', (data) => {
      messages.push(String(data))
      for (const w of waiters.splice(0)) w()
    })
    const next = async (n: number) => {
      const deadline = Date.now() + 5_000
      while (messages.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${messages.length} messages: ${messages.join(' | ')}`)
        await new Promise<void>((r) => {
          waiters.push(r)
          setTimeout(r, 200)
        })
      }
      return messages[n - 1]
    }
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    try {
      expect(await next(1)).toBe('o')
      ws.send(JSON.stringify(['hello through the gateway']))
      expect(await next(2)).toBe('a["hello through the gateway"]')
    } finally {
      ws.close()
    }
  })

  it.skipIf(!hasChromium)(
    'in Chromium, the page, its CSS, script, fetch, WebSocket and token status all work through the gateway (screenshot saved)',
    async () => {
      const browser = await launchChromium()
      try {
        const { page, outside, sockets } = await offlinePage(browser, { width: 1280, height: 960 })
        await page.goto(demo.url)
        expect(page.url()).toBe(`http://localhost:${demo.port}/api/v1/proxy/`)
        await page.waitForFunction(() => ['fetch', 'ws', 'token'].every((id) => !document.getElementById(id)?.textContent?.includes('pending')), null, {
          timeout: 20_000,
        })
        const pub = `http://localhost:${demo.port}/api/v1/proxy`
        expect(await page.textContent('#fetch')).toBe(`fetch /api/certificates → ${pub}/api/certificates (4 certificates; first link ${pub}/certificates/1)`)
        expect(await page.textContent('#ws')).toMatch(
          new RegExp(`^ws ws://localhost:${demo.port}/api/v1/proxy/ws/000/\\w+/websocket → echo hello from the page$`),
        )
        expect(await page.textContent('#token')).toMatch(/^token active, 23 h 5\d min left of 24 h/)
        // theme.css came in through app.css's rewritten @import.
        expect(await page.evaluate(() => getComputedStyle(document.getElementById('title')!).color)).toBe('rgb(11, 42, 74)')
        expect(await page.locator('#certs tbody tr').count()).toBe(4)
        expect(await page.locator('#links tbody tr').count()).toBeGreaterThanOrEqual(12)
        expect(outside).toEqual([])
        expect(sockets.every((u) => LOOPBACK.has(new URL(u).hostname))).toBe(true)
        await saveScreenshot(page, 'demo-proxied-page.png', { fullPage: true })
      } finally {
        await browser.close()
      }
    },
    60_000,
  )

  it.skipIf(!hasChromium)(
    "the demo gateway's /docs in Chromium, offline: every operation listed, nothing asked of the outside (screenshot saved)",
    async () => {
      const doc = (await (await fetch(`${base()}/openapi.json`)).json()) as { paths: Record<string, object> }
      const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).filter((k) => k !== 'parameters').length, 0)
      const browser = await launchChromium()
      try {
        const { page, outside, violations } = await offlinePage(browser, { width: 1280, height: 900 })
        await page.goto(`http://localhost:${demo.port}/docs`)
        await page.waitForFunction((n) => document.querySelectorAll('.opblock').length === n, operations, { timeout: 20_000 })
        expect(outside).toEqual([])
        expect(violations).toEqual([])
        await saveScreenshot(page, 'docs-page.png')
      } finally {
        await browser.close()
      }
    },
    60_000,
  )

  it('SIGINT (Ctrl-C) stops the gateway and the stand-in: no process and no temporary directory left', async () => {
    const pid = demo.child.pid!
    const before = descendants(pid)
    expect(before).toContain(demo.gatewayPid)
    expect(existsSync(demo.dataDir)).toBe(true)
    demo.child.kill('SIGINT')
    const result = await Promise.race([demo.exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000))])
    expect(result, demo.output.join('\n')).toEqual({ code: 0, signal: null })
    expect(demo.output.at(-1)).toBe('demo stopped')
    const deadline = Date.now() + 5_000
    while ([pid, ...before].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect([pid, ...before].filter(alive)).toEqual([])
    expect(existsSync(demo.dataDir)).toBe(false)
  }, 30_000)
})
