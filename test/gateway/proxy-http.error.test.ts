import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { customer, type Gateway, gatewayFixture, startGateway } from '../support/gateway'

const f = gatewayFixture({ ZENZEFI_TIMEOUT_SECONDS: '1' })

const get = (g: Gateway, path: string, token?: string) => fetch(`${g.url}/api/v1/proxy${path}`, { headers: token ? { 'x-access-token': token } : {} })

describe('refused before reaching Zenzefi', () => {
  it('no token → 401 with the contract message', async () => {
    const before = f.up.received.length
    const res = await get(f.gw, '/x')
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ detail: 'Authentication required: provide cookie or X-Access-Token header' })
    expect(f.up.received.length).toBe(before)
  })

  it('an unknown, revoked or expired token → 401 "Invalid or expired access token"', async () => {
    const { token, tokenId, jwt } = await customer(f.gw.t, 1)
    f.up.on((_req, res) => res.end())
    expect((await get(f.gw, '/x', 'Z'.repeat(64))).status).toBe(401)
    expect((await get(f.gw, '/x', token)).status).toBe(200)
    await f.gw.t.request(`/api/v1/tokens/${tokenId}`, { method: 'DELETE', bearer: jwt })
    const revoked = await get(f.gw, '/x', token)
    expect(revoked.status).toBe(401)
    expect(await revoked.json()).toEqual({ detail: 'Invalid or expired access token' })

    const other = await customer(f.gw.t, 1)
    expect((await get(f.gw, '/x', other.token)).status).toBe(200)
    f.gw.t.clock.advance(3_600_001)
    expect((await get(f.gw, '/x', other.token)).status).toBe(401)
  })
})

describe('when Zenzefi fails', () => {
  it('unreachable → 502 "Bad Gateway: Unable to reach Zenzefi server…"', async () => {
    const dead = await new Promise<number>((resolve) => {
      const s = createServer()
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port
        s.close(() => resolve(port))
      })
    })
    const g = await startGateway({ database: f.db, upstream: { url: `https://127.0.0.1:${dead}` } })
    try {
      const { token } = await customer(g.t)
      const res = await get(g, '/x', token)
      expect(res.status).toBe(502)
      expect((await res.json()).detail).toMatch(/^Bad Gateway: Unable to reach Zenzefi server/)
    } finally {
      await g.close()
    }
  })

  it('an untrusted certificate → 502, and the log line names the setting that fixes it', async () => {
    const g = await startGateway({ database: f.db, upstream: { url: f.up.url } }) // no ZENZEFI_CA_FILE
    try {
      const { token } = await customer(g.t)
      const res = await get(g, '/x', token)
      expect(res.status).toBe(502)
      expect((await res.json()).detail).toMatch(/certificate not trusted/)
      expect(g.t.logs.join('\n')).toMatch(/ZENZEFI_CA_FILE/)
    } finally {
      await g.close()
    }
  })

  it('ZENZEFI_TLS_INSECURE=true reaches it without the CA, and warns', async () => {
    const g = await startGateway({ database: f.db, upstream: { url: f.up.url }, env: { ZENZEFI_TLS_INSECURE: 'true' } })
    try {
      const { token } = await customer(g.t)
      f.up.on((_req, res) => res.end('insecure ok'))
      expect(await (await get(g, '/x', token)).text()).toBe('insecure ok')
      expect(g.t.logs.join('\n')).toMatch(/NOT verified/)
    } finally {
      await g.close()
    }
  })

  it('no response headers within ZENZEFI_TIMEOUT_SECONDS → 504', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on(() => {}) // never answers
    const started = Date.now()
    const res = await get(f.gw, '/hang', token)
    expect(res.status).toBe(504)
    // Our 5xx names the request, as its X-Request-Id does.
    expect(await res.json()).toEqual({ detail: 'Gateway Timeout: Zenzefi server did not respond', request_id: res.headers.get('x-request-id') })
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('a small JSON body cut short by the upstream ends the client response with an error, not a hang', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' })
      res.write('{"a": "')
      setTimeout(() => req.socket.destroy(), 50)
    })
    const res = await get(f.gw, '/short.json', token).catch((e: Error) => e)
    if (res instanceof Response) await expect(res.text()).rejects.toThrow()
    else expect(res).toBeInstanceOf(Error)
  })

  it('an upstream that dies mid-body ends the client response with an error, not a hang', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000000' })
      res.write(Buffer.alloc(1000))
      setTimeout(() => req.socket.destroy(), 50)
    })
    const res = await get(f.gw, '/truncated', token)
    await expect(res.arrayBuffer()).rejects.toThrow()
  })
})

describe('bad input', () => {
  it('a malformed percent-encoding or odd path is forwarded or refused with a 4xx, never a 500', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.writeHead(400).end())
    for (const path of ['/%E0%A4%A', '/..%2f..%2fetc/passwd', '/a?token', '/a?%zz=1', '/a?%zz=1&token=abc', '/a?token=%E0%A4%A']) {
      const res = await get(f.gw, path, token)
      expect(res.status, path).toBeLessThan(500)
    }
  })
})
