// No service worker through the proxy, on the real Node server against a real upstream: its
// script is refused before any token is looked at, and Zenzefi can't widen a worker's scope.
import { describe, expect, it } from 'vitest'
import { SERVICE_WORKERS_REFUSED } from '../../../src/gateway/answers'
import { customer, gatewayFixture } from '../../support/gateway'

const f = gatewayFixture()

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${f.gw.url}/api/v1/proxy${path}`, { redirect: 'manual', headers })

describe('service workers', () => {
  it('a service-worker script fetch → 403, with or without a token; Zenzefi is never asked and the token’s clock does not start', async () => {
    const { token, tokenId } = await customer(f.gw.t)
    const before = f.up.received.length
    for (const headers of [{ 'service-worker': 'script' }, { 'service-worker': 'script', 'x-access-token': token }] as Record<string, string>[]) {
      const res = await get('/sw.js', headers)
      expect(res.status).toBe(403)
      expect(await res.json()).toEqual({ detail: SERVICE_WORKERS_REFUSED })
    }
    // Even a `?token=` (which would otherwise be a 303) is not looked at.
    expect((await get(`/sw.js?token=${token}`, { 'service-worker': 'script' })).status).toBe(403)
    expect(f.up.received.length).toBe(before)
    expect(await f.gw.t.services.tokens.checkStatus(token)).toMatchObject({ tokenId, activatedAt: null })
    // The same script fetched as a plain resource is proxied.
    f.up.on((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('not a worker'))
    expect((await get('/sw.js', { 'x-access-token': token })).status).toBe(200)
  })

  it('Zenzefi’s Service-Worker-Allowed never reaches the client; the headers beside it do', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'service-worker-allowed': '/', 'x-beside': 'kept' }).end('ok'))
    const res = await get('/app.js', { 'x-access-token': token })
    expect(res.status).toBe(200)
    expect(f.up.last().url).toBe('/app.js')
    expect(res.headers.get('service-worker-allowed')).toBeNull()
    expect(res.headers.get('x-beside')).toBe('kept')
  })
})
