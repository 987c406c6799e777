import { mkdirSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { hasChromium, launchChromium } from '../support/chromium'
import { customer, freePort, type Gateway, startGateway, startUpstream, type Upstream } from '../support/gateway'
import { type TestDatabase, testDatabase } from '../support/harness'

const hasBrowser = hasChromium
if (!hasBrowser) console.log('[zenzefi tests] skipped: browser end-to-end test (no /usr/bin/chromium; apt-get install chromium)')

let db: TestDatabase
let up: Upstream
let gw: Gateway
let wss: WebSocketServer
const wsHandshakes: IncomingMessage[] = []

// A small stand-in for Zenzefi's UI: a page whose CSS, script, fetch and WebSocket all use upstream URLs.
function page(upstreamUrl: string) {
  const wsUrl = `${upstreamUrl.replace('https://', 'wss://')}/ws/echo`
  return `<!doctype html><html><head><title>Zenzefi</title>
<link rel="stylesheet" href="/static/app.css"></head>
<body><h1 id="title">Certificates</h1><p id="fetch">pending</p><p id="ws">pending</p>
<script src="/static/app.js"></script>
<script>
fetch('/api/certificates').then(r => r.json()).then(d => { document.getElementById('fetch').textContent = 'fetch:' + d.count })
  .catch(e => { document.getElementById('fetch').textContent = 'fetch failed ' + e })
const ws = new WebSocket(${JSON.stringify(wsUrl)})
ws.onopen = () => ws.send('hello')
ws.onmessage = (m) => { document.getElementById('ws').textContent = 'ws:' + m.data }
ws.onerror = () => { document.getElementById('ws').textContent = 'ws failed' }
</script></body></html>`
}

beforeAll(async () => {
  if (!hasBrowser) return
  db = await testDatabase()
  up = await startUpstream()
  wss = new WebSocketServer({ server: up.server })
  wss.on('connection', (socket, req) => {
    wsHandshakes.push(req)
    socket.on('message', (data) => socket.send(`echo ${data}`))
  })
  up.on((req, res) => {
    if (req.url === '/' || req.url === '/index.html') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(up.url))
    else if (req.url === '/static/app.css') res.writeHead(200, { 'content-type': 'text/css' }).end('#title { color: rgb(12, 34, 56); }')
    else if (req.url === '/static/app.js') res.writeHead(200, { 'content-type': 'application/javascript' }).end('document.body.dataset.script = "loaded"')
    else if (req.url === '/api/certificates') res.writeHead(200, { 'content-type': 'application/json' }).end('{"count": 3}')
    else res.writeHead(404).end()
  })
  const port = await freePort()
  gw = await startGateway({ database: db, upstream: up, port, env: { BACKEND_URL: `http://127.0.0.1:${port}` } })
})

afterAll(async () => {
  wss?.close()
  await gw?.close()
  await up?.close()
  await db?.drop()
})

describe.skipIf(!hasBrowser)('in a real browser', () => {
  it('opens /api/v1/proxy/?token=…, follows the 303, and the page’s CSS, script, fetch and WebSocket all work through the gateway', async () => {
    const { token } = await customer(gw.t)
    const browser = await launchChromium()
    try {
      const context = await browser.newContext()
      const pg = await context.newPage()
      const statuses: number[] = []
      pg.on('response', (r) => statuses.push(r.status()))
      await pg.goto(`${gw.url}/api/v1/proxy/?token=${token}`)
      expect(pg.url()).toBe(`${gw.url}/api/v1/proxy/`)
      expect(statuses[0]).toBe(303)
      await pg.waitForFunction(
        () => document.getElementById('ws')?.textContent !== 'pending' && document.getElementById('fetch')?.textContent !== 'pending',
        null,
        { timeout: 15_000 },
      )
      expect(await pg.textContent('#fetch')).toBe('fetch:3')
      expect(await pg.textContent('#ws')).toBe('ws:echo hello')
      expect(await pg.evaluate(() => getComputedStyle(document.getElementById('title')!).color)).toBe('rgb(12, 34, 56)')
      expect(await pg.evaluate(() => document.body.dataset.script)).toBe('loaded')
      const cookies = await context.cookies()
      expect(cookies.find((c) => c.name === 'zenzefi_access_token')).toMatchObject({ httpOnly: true, path: '/' })
      // The WebSocket went through the gateway with our identity headers, not straight to the upstream.
      expect(wsHandshakes.at(-1)!.headers['x-token-id']).toBeTruthy()
      mkdirSync('test-results', { recursive: true })
      await pg.screenshot({ path: 'test-results/browser-proxy.png', fullPage: true })
    } finally {
      await browser.close()
    }
  }, 60_000)
})
