import { createServer as createTcpServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { type MetricsListener, scraperOf, startMetricsListener } from '../../../src/runtime/node/metrics'
import { type Exposition, parseExposition, seriesValue } from '../../metrics/prom-text'
import { customer, gatewayFixture } from '../../support/gateway'
import { newAccount } from '../../support/harness'
import { closed, nextMessage, openWebSocket } from '../../support/ws-client'

const METRICS_TOKEN = 'metrics-test-token-0123456789'
const f = gatewayFixture({ METRICS_TOKEN })
let listener: MetricsListener
let metricsUrl: string

beforeAll(async () => {
  const scraper = scraperOf(f.gw.t.deps.metrics)
  if (!scraper) throw new Error('prom-client metrics expected')
  listener = await startMetricsListener({ host: '127.0.0.1', port: 0 }, scraper, f.gw.t.deps.log)
  metricsUrl = `http://127.0.0.1:${listener.address()!.port}/metrics`
  // Zenzefi's WebSocket side: an echo.
  const wss = new WebSocketServer({ server: f.up.server })
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
})
afterAll(async () => {
  await listener?.close()
})

async function scrape(): Promise<Exposition> {
  const res = await fetch(metricsUrl)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/plain')
  return parseExposition(await res.text())
}

const proxied = (token: string, path: string, init: RequestInit = {}) =>
  fetch(`${f.gw.url}/api/v1/proxy${path}`, { redirect: 'manual', ...init, headers: { 'x-access-token': token, ...(init.headers as Record<string, string>) } })

describe('METRICS_ADDR listener', () => {
  it('answers the Prometheus text format, every line well formed, every family zenzefi_', async () => {
    const e = await scrape()
    expect(e.samples.size).toBeGreaterThan(20)
    for (const name of e.types.keys()) expect(name).toMatch(/^zenzefi_/)
    // prom-client's defaults, under the prefix: process metrics and event-loop lag.
    expect(e.types.get('zenzefi_process_cpu_seconds_total')).toBe('counter')
    expect(e.types.get('zenzefi_nodejs_eventloop_lag_seconds')).toBe('gauge')
    expect(e.types.get('zenzefi_http_request_duration_seconds')).toBe('histogram')
    expect(e.types.get('zenzefi_websockets_open')).toBe('gauge')
  })

  it('404s anything but /metrics', async () => {
    expect((await fetch(metricsUrl.replace('/metrics', '/other'))).status).toBe(404)
  })
})

describe('series move by the right amounts', () => {
  it('API requests by route template, logins, purchases', async () => {
    const before = await scrape()
    const account = newAccount()
    const reg = await f.gw.t.request('/api/v1/auth/register', { method: 'POST', json: account })
    expect(reg.status).toBe(201)
    // Through the real server (front door + app), not app.request.
    const login = (password: string) =>
      fetch(`${f.gw.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: account.email, password }),
      })
    expect((await login('wrong password here')).status).toBe(401)
    const ok = await login(account.password)
    expect(ok.status).toBe(200)
    const { access_token } = (await ok.json()) as { access_token: string }
    const bought = await fetch(`${f.gw.url}/api/v1/tokens/purchase`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` },
      body: JSON.stringify({ duration_hours: 1 }),
    })
    expect(bought.status).toBe(201)
    const { id } = (await bought.json()) as { id: string }
    const del = await fetch(`${f.gw.url}/api/v1/tokens/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${access_token}` } })
    expect(del.status).toBeLessThan(300)
    expect((await fetch(`${f.gw.url}/no/such/thing`)).status).toBe(404)

    const after = await scrape()
    const d = (name: string, labels: Record<string, string> = {}) => seriesValue(after, name, labels) - seriesValue(before, name, labels)
    expect(d('zenzefi_logins_total', { result: 'failure' })).toBe(1)
    expect(d('zenzefi_logins_total', { result: 'success' })).toBe(1)
    expect(d('zenzefi_logins_total', { result: 'locked' })).toBe(0)
    expect(d('zenzefi_token_purchases_total')).toBe(1)
    const api = (route: string, method: string, status_class: string) => d('zenzefi_http_requests_total', { route, method, status_class })
    // register went through app.request (same app, same series).
    expect(api('/api/v1/auth/register', 'POST', '2xx')).toBe(1)
    expect(api('/api/v1/auth/login', 'POST', '4xx')).toBe(1)
    expect(api('/api/v1/auth/login', 'POST', '2xx')).toBe(1)
    expect(api('/api/v1/tokens/purchase', 'POST', '2xx')).toBe(1)
    expect(api('/api/v1/tokens/{token_id}', 'DELETE', '2xx')).toBe(1)
    expect(api('unmatched', 'GET', '4xx')).toBe(1)
    expect(d('zenzefi_http_request_duration_seconds_count', { route: '/api/v1/auth/login', method: 'POST' })).toBe(2)
    // No series names a path, a user or a token.
    for (const key of after.samples.keys()) expect(key).not.toMatch(/no\/such|[0-9a-f]{8}-[0-9a-f]{4}-/)
  })

  it('proxied requests, bytes, upstream time, token tiers', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '5' }).end('hello'))
    const before = await scrape()
    for (let i = 0; i < 3; i++) expect((await proxied(token, `/p/${i}`)).status).toBe(200)
    expect((await proxied(token, '/p/x', { headers: { 'x-local-url': 'http://127.0.0.1:61000' } })).status).toBe(200)
    expect((await proxied('not-a-token', '/p/y')).status).toBe(401)
    const up = await fetch(`${f.gw.url}/api/v1/proxy/up`, { method: 'POST', headers: { 'x-access-token': token }, body: 'abcdefg' })
    expect(up.status).toBe(200)
    await up.arrayBuffer()
    const after = await scrape()
    const d = (name: string, labels: Record<string, string> = {}) => seriesValue(after, name, labels) - seriesValue(before, name, labels)
    expect(d('zenzefi_proxy_requests_total', { mode: 'direct', status_class: '2xx' })).toBe(4)
    expect(d('zenzefi_proxy_requests_total', { mode: 'desktop', status_class: '2xx' })).toBe(1)
    expect(d('zenzefi_proxy_requests_total', { mode: 'direct', status_class: '4xx' })).toBe(1)
    expect(d('zenzefi_upstream_duration_seconds_count')).toBe(5)
    expect(d('zenzefi_proxy_bytes_total', { direction: 'in' })).toBe(7)
    expect(d('zenzefi_proxy_bytes_total', { direction: 'out' })).toBeGreaterThanOrEqual(25)
    // The first use of the token misses the in-process tier; later ones hit it.
    expect(d('zenzefi_token_checks_total', { tier: 'memory', result: 'invalid' })).toBe(1)
    expect(d('zenzefi_token_checks_total', { tier: 'memory', result: 'hit' })).toBeGreaterThanOrEqual(4)
  })

  it('upstream errors by reason', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((req) => req.socket.destroy())
    const before = await scrape()
    expect((await proxied(token, '/reset')).status).toBe(502)
    const after = await scrape()
    expect(
      seriesValue(after, 'zenzefi_upstream_errors_total', { reason: 'reset' }) - seriesValue(before, 'zenzefi_upstream_errors_total', { reason: 'reset' }),
    ).toBe(1)
    expect(
      seriesValue(after, 'zenzefi_proxy_requests_total', { mode: 'direct', status_class: '5xx' }) -
        seriesValue(before, 'zenzefi_proxy_requests_total', { mode: 'direct', status_class: '5xx' }),
    ).toBe(1)
  })

  it('a WebSocket open and close: the gauge goes up and back, the close is counted by who closed', async () => {
    const { token } = await customer(f.gw.t)
    const before = await scrape()
    const ws = await openWebSocket(`${f.gw.url.replace('http', 'ws')}/api/v1/proxy/ws`, { headers: { 'x-access-token': token } })
    ws.send('hi')
    expect((await nextMessage(ws)).data.toString()).toBe('hi')
    const during = await scrape()
    expect(seriesValue(during, 'zenzefi_websockets_open') - seriesValue(before, 'zenzefi_websockets_open')).toBe(1)
    const done = closed(ws)
    ws.close(1000)
    await done
    let after = await scrape()
    for (let i = 0; i < 20 && seriesValue(after, 'zenzefi_websockets_open') !== seriesValue(before, 'zenzefi_websockets_open'); i++) {
      await new Promise((r) => setTimeout(r, 50))
      after = await scrape()
    }
    expect(seriesValue(after, 'zenzefi_websockets_open')).toBe(seriesValue(before, 'zenzefi_websockets_open'))
    expect(
      seriesValue(after, 'zenzefi_websocket_closed_total', { reason: 'client' }) - seriesValue(before, 'zenzefi_websocket_closed_total', { reason: 'client' }),
    ).toBe(1)
    expect(
      seriesValue(after, 'zenzefi_proxy_requests_total', { mode: 'websocket', status_class: '1xx' }) -
        seriesValue(before, 'zenzefi_proxy_requests_total', { mode: 'websocket', status_class: '1xx' }),
    ).toBe(1)
  })

  it('dependency_up follows the health checks', async () => {
    const res = await fetch(`${f.gw.url}/health/detailed`)
    await res.arrayBuffer()
    const e = await scrape()
    expect(seriesValue(e, 'zenzefi_dependency_up', { dependency: 'database' })).toBe(1)
    expect(e.samples.has('zenzefi_dependency_up{dependency="zenzefi"}')).toBe(true)
  })
})

describe('cardinality', () => {
  it('1,000 distinct proxied paths and 1,000 distinct unknown API paths add no series', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end('ok'))
    // Warm every route/method this test uses once, so only per-path growth could show.
    await (await proxied(token, '/warm')).arrayBuffer()
    await (await fetch(`${f.gw.url}/api/v1/nope/warm`)).arrayBuffer()
    const before = await scrape()
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const n = batch * 50 + i
          await (await proxied(token, `/distinct/${n}/${n * 7919}`)).arrayBuffer()
          await (await fetch(`${f.gw.url}/api/v1/unknown-${n}/x${n}`)).arrayBuffer()
        }),
      )
    }
    const after = await scrape()
    // The gateway's own families exactly; prom-client's process defaults (active handles by type, GC kinds) may
    // gain a series as the process does things, never one per path.
    const own = (e: Exposition) => [...e.samples.keys()].filter((k) => !/^zenzefi_(process_|nodejs_)/.test(k))
    expect(own(after).filter((k) => !own(before).includes(k))).toEqual([])
    expect(own(after)).toEqual(own(before))
    // What prom-client's defaults gain is a GC kind or an active-resource type the process hadn't had yet.
    const added = [...after.samples.keys()].filter((k) => !before.samples.has(k))
    for (const k of added) expect(k).toMatch(/^zenzefi_nodejs_(gc_|active_)/)
    expect(added.length).toBeLessThan(50)
    expect(
      seriesValue(after, 'zenzefi_http_requests_total', { route: 'unmatched', method: 'GET', status_class: '4xx' }) -
        seriesValue(before, 'zenzefi_http_requests_total', { route: 'unmatched', method: 'GET', status_class: '4xx' }),
    ).toBe(1000)
  }, 60_000)
})

describe('/metrics on the public port', () => {
  it('404 without the token, 404 with a wrong one (the same as any unknown path), 200 with METRICS_TOKEN', async () => {
    const none = await fetch(`${f.gw.url}/metrics`)
    expect(none.status).toBe(404)
    expect(await none.json()).toEqual({ detail: 'Not Found' })
    const wrong = await fetch(`${f.gw.url}/metrics`, { headers: { authorization: 'Bearer not-the-token' } })
    expect(wrong.status).toBe(404)
    const basic = await fetch(`${f.gw.url}/metrics`, { headers: { authorization: `Basic ${METRICS_TOKEN}` } })
    expect(basic.status).toBe(404)
    const right = await fetch(`${f.gw.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    expect(right.status).toBe(200)
    const e = parseExposition(await right.text())
    expect(e.types.get('zenzefi_http_requests_total')).toBe('counter')
  })
})

describe('METRICS_ADDR on a taken port', () => {
  it('logs a warning and the gateway keeps serving', async () => {
    const taken = createTcpServer()
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
    const port = (taken.address() as { port: number }).port
    try {
      const logsBefore = f.gw.t.logs.length
      const second = await startMetricsListener({ host: '127.0.0.1', port }, scraperOf(f.gw.t.deps.metrics)!, f.gw.t.deps.log)
      expect(second.address()).toBeNull()
      const lines = f.gw.t.logs.slice(logsBefore).map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(lines.some((l) => l.level === 'warn' && String(l.msg ?? l.message).includes('METRICS_ADDR') && l.code === 'EADDRINUSE')).toBe(true)
      await second.close()
      expect((await fetch(`${f.gw.url}/health/ready`)).status).toBe(200)
    } finally {
      await new Promise<void>((r) => taken.close(() => r()))
    }
  })
})
