// The Node server's front door: request targets in every form take one route, a
// refused API body is readable by the client, and an h2c upgrade keeps its body.
import { request } from 'node:http'
import { connect as tcp } from 'node:net'
import { describe, expect, it } from 'vitest'
import { customer, gatewayFixture } from '../../support/gateway'

const f = gatewayFixture({ ZENZEFI_TIMEOUT_SECONDS: '1' })

/** One raw HTTP/1.1 exchange on a fresh connection: what a hand-written client sends, byte for byte. */
function raw(text: string): Promise<string> {
  const { port } = new URL(f.gw.url)
  return new Promise((resolve, reject) => {
    const s = tcp(Number(port), '127.0.0.1', () => s.write(text))
    let data = ''
    s.on('data', (c) => (data += c))
    s.on('end', () => resolve(data))
    s.on('error', reject)
  })
}

/** A POST of `size` bytes with node:http (as curl or a script would send it); resolves with what the client read. */
function post(path: string, size: number, chunked: boolean) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const body = Buffer.alloc(size, 97)
    const headers: Record<string, string | number> = { 'content-type': 'application/json' }
    if (chunked) headers['transfer-encoding'] = 'chunked'
    else headers['content-length'] = size
    const req = request(`${f.gw.url}${path}`, { method: 'POST', headers }, (res) => {
      let text = ''
      res.on('data', (c) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode!, body: text }))
    })
    // A reset under the client surfaces here (EPIPE / ECONNRESET), and on the socket.
    req.on('error', reject)
    req.on('socket', (s) => s.on('error', reject))
    if (chunked) for (let i = 0; i < size; i += 65536) req.write(body.subarray(i, i + 65536))
    else req.write(body)
    req.end()
  })
}

describe('a JSON API body over the limit', () => {
  it.each([
    ['with Content-Length', false],
    ['chunked', true],
  ])('%s: the client reads the 413, the connection is not reset', async (_name, chunked) => {
    for (let i = 0; i < 3; i++) {
      expect(await post('/api/v1/auth/register', 5_000_000, chunked)).toEqual({ status: 413, body: '{"detail":"Request body too large"}' })
    }
  })
})

describe('request targets', () => {
  it('absolute form is served by its path through the same route: socket address, our TLS settings', async () => {
    const { token, user } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end('upstream'))
    const reply = await raw(
      'GET http://evil.example/api/v1/proxy/absolute?q=1 HTTP/1.1\r\nHost: gw.test\r\n' +
        `X-Access-Token: ${token}\r\nCF-Connecting-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n`,
    )
    // 200, not the 502 an upstream CA ignored would give.
    expect(reply).toMatch(/^HTTP\/1\.1 200 /)
    const seen = f.up.last()
    expect(seen.url).toBe('/absolute?q=1')
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(seen.headers['x-forwarded-proto']).toBe('http')
    expect(seen.headers['x-forwarded-host']).toBe('gw.test')
    expect(seen.headers['x-user-id']).toBe(user.id)
    expect(seen.rawHeaders.join('\n')).not.toContain('6.6.6.6')
  })

  it('dot segments, plain or encoded, never climb above ZENZEFI_TARGET_URL', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end('upstream'))
    const before = f.up.received.length
    for (const target of ['/api/v1/proxy/a/../b', '/api/v1/proxy/a/%2e%2E/b', '/api/v1/proxy/a/.%2e/b']) {
      const reply = await raw(`GET ${target} HTTP/1.1\r\nHost: gw.test\r\nX-Access-Token: ${token}\r\nConnection: close\r\n\r\n`)
      expect(reply, target).toMatch(/^HTTP\/1\.1 200 /)
      expect(f.up.last().url, target).toBe('/b')
    }
    // Climbing out of the prefix reaches our API (here: no such route), never Zenzefi.
    const out = await raw(`GET /api/v1/proxy/%2e%2e/%2e%2e/secret HTTP/1.1\r\nHost: gw.test\r\nX-Access-Token: ${token}\r\nConnection: close\r\n\r\n`)
    expect(out).toMatch(/^HTTP\/1\.1 404 /)
    expect(f.up.received.length).toBe(before + 3)
  })
})

describe('Upgrade: h2c (curl --http2)', () => {
  it('a proxied POST that asks for h2c is served as HTTP/1.1 with its body', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res, body) => res.end(`got ${body.length}: ${body.toString()}`))
    const reply = await raw(
      'POST /api/v1/proxy/upload HTTP/1.1\r\nHost: gw.test\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n' +
        `X-Access-Token: ${token}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nhello world`,
    )
    expect(reply).toMatch(/^HTTP\/1\.1 200 /)
    expect(reply).toContain('got 11: hello world')
    expect(f.up.last().headers.upgrade).toBeUndefined()
  })
})

describe('ZENZEFI_TIMEOUT_SECONDS and uploads', () => {
  it('an upload Zenzefi reads for longer than the timeout is not cut; the timeout counts from its end', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((req, res) => {
      let total = 0
      req.on('data', (c: Buffer) => (total += c.length))
      req.on('end', () => res.end(String(total)))
    })
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${f.gw.url}/api/v1/proxy/slow-upload`,
        { method: 'POST', headers: { 'x-access-token': token, 'x-test-stream': '1', 'content-type': 'application/octet-stream' } },
        (res) => {
          let body = ''
          res.on('data', (c) => (body += c))
          res.on('end', () => resolve({ status: res.statusCode!, body }))
        },
      )
      req.on('error', reject)
      // 2.4 s of upload against a 1 s timeout: a chunk every 200 ms.
      let sent = 0
      const timer = setInterval(() => {
        req.write(Buffer.alloc(1000, 1))
        if (++sent === 12) {
          clearInterval(timer)
          req.end()
        }
      }, 200)
    })
    expect(answer).toEqual({ status: 200, body: '12000' })
  })
})
