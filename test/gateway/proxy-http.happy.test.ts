import { request } from 'node:http'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { customer, gatewayFixture } from '../support/gateway'

const BACKEND = 'http://gw.example.test:8080'
const f = gatewayFixture({ BACKEND_URL: BACKEND })

const proxy = (path: string, token: string, init: RequestInit = {}) =>
  fetch(`${f.gw.url}/api/v1/proxy${path}`, { redirect: 'manual', ...init, headers: { 'x-access-token': token, ...(init.headers as Record<string, string>) } })

describe('forwarding', () => {
  it('keeps path and query string byte for byte (repeated keys, encoded characters)', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end('hi'))
    const res = await proxy('/a/b%20c/%E2%82%AC.txt?x=1&x=2&q=a%2Fb%26c&empty=&flag', token)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('hi')
    expect(f.up.last().url).toBe('/a/b%20c/%E2%82%AC.txt?x=1&x=2&q=a%2Fb%26c&empty=&flag')
  })

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('%s with a body reaches the upstream with method and body intact', async (method) => {
    const { token } = await customer(f.gw.t)
    f.up.on((req, res, body) => res.writeHead(201, { 'content-type': 'text/plain' }).end(`${req.method} ${body.length}`))
    const res = await proxy('/api/items', token, { method, body: JSON.stringify({ a: 1 }), headers: { 'content-type': 'application/json' } })
    expect(res.status).toBe(201)
    expect(await res.text()).toBe(`${method} 7`)
    expect(f.up.last().headers['content-type']).toBe('application/json')
  })

  it('HEAD and non-preflight OPTIONS are forwarded', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((req, res) => res.writeHead(200, { 'x-seen': req.method! }).end(req.method === 'HEAD' ? undefined : 'body'))
    const head = await proxy('/h', token, { method: 'HEAD' })
    expect(head.headers.get('x-seen')).toBe('HEAD')
    const options = await proxy('/h', token, { method: 'OPTIONS' })
    expect(options.headers.get('x-seen')).toBe('OPTIONS')
  })

  it('passes upstream statuses through, errors included', async () => {
    const { token } = await customer(f.gw.t)
    for (const status of [204, 404, 418, 500, 503]) {
      f.up.on((_req, res) => res.writeHead(status).end())
      expect((await proxy('/s', token)).status).toBe(status)
    }
  })

  it('sets Host to the upstream and X-Forwarded-*, X-User-Id, X-Token-Id from what it knows', async () => {
    const { token, tokenId, user } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end())
    // fetch can't set Host; node:http can, as any client may.
    await new Promise<void>((resolve, reject) => {
      const req = request(`${f.gw.url}/api/v1/proxy/who`, { headers: { host: 'public.example:1234', 'x-access-token': token } }, (res) => {
        res.resume()
        res.on('end', resolve)
      })
      req.on('error', reject)
      req.end()
    })
    const h = f.up.last().headers
    expect(h.host).toBe(`127.0.0.1:${f.up.port}`)
    expect(h['x-forwarded-for']).toBe('127.0.0.1')
    expect(h['x-forwarded-proto']).toBe('http')
    expect(h['x-forwarded-host']).toBe('public.example:1234')
    expect(h['x-user-id']).toBe(user.id)
    expect(h['x-token-id']).toBe(tokenId)
  })

  it('the first proxied request activates the token', async () => {
    const { token, jwt } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end())
    await proxy('/first', token)
    const [listed] = await (await f.gw.t.request('/api/v1/tokens/my-tokens', { bearer: jwt })).json()
    expect(listed.activated_at).not.toBeNull()
    expect(new Date(listed.expires_at).getTime() - new Date(listed.activated_at).getTime()).toBe(24 * 3_600_000)
  })

  it('reuses upstream connections (keep-alive)', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end('k'))
    await (await proxy('/ka', token)).text()
    let connections = 0
    const count = () => connections++
    f.up.server.on('secureConnection', count)
    for (let i = 0; i < 20; i++) await (await proxy('/ka', token)).text()
    f.up.server.off('secureConnection', count)
    expect(connections).toBe(0)
  })

  it('the cookie authenticates too, and wins over the header', async () => {
    const a = await customer(f.gw.t)
    const b = await customer(f.gw.t)
    f.up.on((_req, res) => res.end())
    await fetch(`${f.gw.url}/api/v1/proxy/c`, { headers: { cookie: `zenzefi_access_token=${a.token}`, 'x-access-token': b.token } })
    expect(f.up.last().headers['x-token-id']).toBe(a.tokenId)
  })
})

describe('responses', () => {
  it('does not follow redirects; Location, Content-Location and Refresh point at the public URL', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.writeHead(302, { location: `${f.up.url}/login?next=%2Fhome`, 'content-location': '/docs/1', refresh: '5; url=/later' }).end())
    const res = await proxy('/home', token)
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe(`${BACKEND}/api/v1/proxy/login?next=%2Fhome`)
    expect(res.headers.get('content-location')).toBe('/api/v1/proxy/docs/1')
    expect(res.headers.get('refresh')).toBe('5; url=/api/v1/proxy/later')
  })

  it('in desktop mode (X-Local-Url) URLs point at the local origin with no prefix', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.writeHead(302, { location: `${f.up.url}/login` }).end())
    const res = await proxy('/home', token, { headers: { 'x-local-url': 'https://127.0.0.1:61000' } })
    expect(res.headers.get('location')).toBe('https://127.0.0.1:61000/login')
  })

  it('keeps each Set-Cookie separate, drops Domain, prefixes Path, and drops an upstream cookie named like ours', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) =>
      res
        .writeHead(200, [
          'Set-Cookie',
          'JSESSIONID=abc; Path=/; Domain=127.0.0.1; HttpOnly',
          'Set-Cookie',
          'theme=dark; Path=/ui; Max-Age=60',
          'Set-Cookie',
          'zenzefi_access_token=evil; Path=/',
        ])
        .end(),
    )
    const res = await proxy('/c', token)
    // Zenzefi's cookies, then our device cookie (this client sent none: src/gateway/device.ts).
    const [jsession, theme, device, ...rest] = res.headers.getSetCookie()
    expect([jsession, theme]).toEqual(['JSESSIONID=abc; Path=/api/v1/proxy/; HttpOnly', 'theme=dark; Path=/api/v1/proxy/ui; Max-Age=60'])
    expect(device).toMatch(/^zenzefi_device=[A-Za-z0-9_-]{32}; HttpOnly; Path=\/api\/v1\/proxy; Max-Age=\d+; SameSite=lax$/)
    expect(rest).toEqual([])
  })

  it('answers CORS for listed origins with credentials, and preflights without a token', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.writeHead(200, { 'access-control-allow-origin': '*' }).end())
    const res = await proxy('/x', token, { headers: { origin: 'https://127.0.0.1:61000' } })
    expect(res.headers.get('access-control-allow-origin')).toBe('https://127.0.0.1:61000')
    expect(res.headers.get('access-control-allow-credentials')).toBe('true')
    const foreign = await proxy('/x', token, { headers: { origin: 'https://evil.example' } })
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull()
    const preflight = await fetch(`${f.gw.url}/api/v1/proxy/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://localhost:61000', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-access-token' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://localhost:61000')
    expect(preflight.headers.get('access-control-allow-headers')).toBe('x-access-token')
  })

  it('a gzip HTML page is decoded and rewritten; a gzip image passes through still compressed', async () => {
    const { token } = await customer(f.gw.t)
    const page = gzipSync(`<html><head></head><body><a href="/next">n</a><img src="${f.up.url}/i.png"></body></html>`)
    const pixels = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 255, 0])
    const image = gzipSync(pixels)
    f.up.on((req, res) => {
      if (req.url === '/page')
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-encoding': 'gzip', 'content-length': page.length }).end(page)
      else res.writeHead(200, { 'content-type': 'image/png', 'content-encoding': 'gzip', 'content-length': image.length }).end(image)
    })
    const pageRes = await proxy('/page', token, { headers: { 'accept-encoding': 'gzip' } })
    expect(pageRes.headers.get('content-encoding')).toBeNull()
    const html = await pageRes.text()
    expect(html).toContain('href="/api/v1/proxy/next"')
    expect(html).toContain(`src="${BACKEND}/api/v1/proxy/i.png"`)
    const raw = await proxy('/img', token, { headers: { 'accept-encoding': 'gzip' } })
    expect(raw.headers.get('content-encoding')).toBe('gzip')
    expect(raw.headers.get('content-length')).toBe(String(image.length))
    // fetch decodes gzip itself: identical bytes after decoding, with the upstream's length, means untouched on the wire.
    expect(Buffer.from(await raw.arrayBuffer())).toEqual(pixels)
    expect(f.up.last().headers['accept-encoding']).toBe('gzip')
  })

  it('an HTML page the upstream sends in 7-byte chunks comes out rewritten as if sent whole', async () => {
    const { token } = await customer(f.gw.t)
    const html = `<!doctype html><html><head><title>t</title><link rel="stylesheet" href="/css/app.css"></head><body><form action="/save"><img srcset="/a.png 1x, /b.png 2x"><a href="${f.up.url}/abs">x</a></form></body></html>`
    f.up.on(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      for (let i = 0; i < html.length; i += 7) {
        res.write(html.slice(i, i + 7))
        await new Promise((r) => setImmediate(r))
      }
      res.end()
    })
    const out = await (await proxy('/chunked', token)).text()
    expect(out).toContain('href="/api/v1/proxy/css/app.css"')
    expect(out).toContain('action="/api/v1/proxy/save"')
    expect(out).toContain('srcset="/api/v1/proxy/a.png 1x, /api/v1/proxy/b.png 2x"')
    expect(out).toContain(`href="${BACKEND}/api/v1/proxy/abs"`)
    expect(out).not.toContain('/api/v1/proxy/api/v1/proxy')
    expect(out.indexOf('<script')).toBeGreaterThan(-1)
    expect(out.indexOf('<script')).toBeLessThan(out.indexOf('<title>'))
  })

  it('CSS and JSON are rewritten as text; a download is untouched', async () => {
    const { token } = await customer(f.gw.t)
    const bin = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256))
    f.up.on((req, res) => {
      if (req.url === '/app.css') res.writeHead(200, { 'content-type': 'text/css' }).end('body{background:url(/img/bg.png)} @import "/x.css";')
      else if (req.url === '/data.json') {
        const body = JSON.stringify({ next: `${f.up.url}/api/next` })
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
      } else res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bin.length }).end(bin)
    })
    expect(await (await proxy('/app.css', token)).text()).toBe('body{background:url(/api/v1/proxy/img/bg.png)} @import "/api/v1/proxy/x.css";')
    const json = await proxy('/data.json', token)
    const text = await json.text()
    expect(JSON.parse(text)).toEqual({ next: `${BACKEND}/api/v1/proxy/api/next` })
    // Small text bodies are rewritten in one pass and keep an exact Content-Length.
    expect(json.headers.get('content-length')).toBe(String(Buffer.byteLength(text)))
    const dl = await proxy('/file.bin', token)
    expect(dl.headers.get('content-length')).toBe('4096')
    expect(Buffer.from(await dl.arrayBuffer()).equals(bin)).toBe(true)
  })
})

describe('?token= and source maps', () => {
  it('?token= answers 303 with the cookie and the same URL without the token, other parameters kept; it does not activate', async () => {
    const { token, tokenId } = await customer(f.gw.t, 12)
    const res = await fetch(`${f.gw.url}/api/v1/proxy/app/index.html?a=1&token=${token}&b=%20x`, { redirect: 'manual' })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe(`${BACKEND}/api/v1/proxy/app/index.html?a=1&b=%20x`)
    // The access cookie, and the device cookie the browser's requests are told apart by from now on.
    const [access, device, ...rest] = res.headers.getSetCookie()
    expect(access).toBe(`zenzefi_access_token=${token}; HttpOnly; Path=/; Max-Age=43200; SameSite=lax`)
    expect(device).toMatch(/^zenzefi_device=[A-Za-z0-9_-]{32}; HttpOnly; Path=\/api\/v1\/proxy; Max-Age=\d+; SameSite=lax$/)
    expect(rest).toEqual([])
    expect(await f.gw.t.services.tokens.checkStatus(token)).toMatchObject({ tokenId, activatedAt: null })
  })

  it('in desktop mode the 303 goes to X-Local-Url + path', async () => {
    const { token } = await customer(f.gw.t)
    const res = await fetch(`${f.gw.url}/api/v1/proxy/app/?token=${token}`, { redirect: 'manual', headers: { 'x-local-url': 'https://127.0.0.1:61000' } })
    expect(res.headers.get('location')).toBe('https://127.0.0.1:61000/app/')
  })

  it('an invalid ?token= → 401 with its own message', async () => {
    const res = await fetch(`${f.gw.url}/api/v1/proxy/app/?token=nope`, { redirect: 'manual' })
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ detail: 'Invalid or expired access token in query parameter' })
  })

  it('.map paths → 404 without reaching the upstream', async () => {
    const { token } = await customer(f.gw.t)
    const before = f.up.received.length
    const res = await proxy('/static/app.js.map', token)
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ detail: 'Source maps not available through proxy' })
    expect(f.up.received.length).toBe(before)
  })
})
