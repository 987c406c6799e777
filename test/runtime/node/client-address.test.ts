// The client address on the real Node server, as Zenzefi (X-Forwarded-For) and the API
// (c.get('clientIp'), the access line) see it: the socket's peer, and X-Forwarded-For
// only from a peer inside TRUSTED_PROXY_CIDRS, read from the right.
import type { IncomingHttpHeaders } from 'node:http'
import { beforeAll, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { customer, gatewayFixture } from '../../support/gateway'

type Fixture = ReturnType<typeof gatewayFixture>

/** A route on the real app that says what the API saw, and a WebSocket echo on the upstream that records its upgrades. */
function observe(f: Fixture) {
  const upgrades: IncomingHttpHeaders[] = []
  let token = ''
  beforeAll(async () => {
    f.gw.t.app.get('/test/whoami', (c) => c.json({ clientIp: c.get('clientIp'), requestId: c.get('requestId') }))
    const wss = new WebSocketServer({ noServer: true })
    f.up.server.on('upgrade', (req, socket, head) => {
      upgrades.push(req.headers)
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d) => ws.send(d)))
    })
    f.up.on((_req, res) => res.end('ok'))
    token = (await customer(f.gw.t)).token
  })
  const proxied = async (xff: string | null, path = '/who') => {
    const res = await fetch(`${f.gw.url}/api/v1/proxy${path}`, { headers: { 'x-access-token': token, ...(xff === null ? {} : { 'x-forwarded-for': xff }) } })
    expect(res.status).toBe(200)
    await res.text()
    return f.up.last().headers['x-forwarded-for']
  }
  const api = async (xff: string | null) => {
    const res = await fetch(`${f.gw.url}/test/whoami`, { headers: xff === null ? {} : { 'x-forwarded-for': xff } })
    return ((await res.json()) as { clientIp: string }).clientIp
  }
  const upgrade = async (xff: string) => {
    const ws = new WebSocket(`${f.gw.url.replace('http', 'ws')}/api/v1/proxy/ws?token=${token}`, { headers: { 'x-forwarded-for': xff } })
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    ws.close()
    return upgrades.at(-1)!['x-forwarded-for']
  }
  const accessLines = (path: string) =>
    f.gw.t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.path === path && (l.msg === 'request' || l.msg === 'proxy'))
  return { proxied, api, upgrade, accessLines, token: () => token }
}

describe('an untrusted peer (TRUSTED_PROXY_CIDRS unset)', () => {
  const f = gatewayFixture()
  const o = observe(f)

  it('its X-Forwarded-Proto is not believed', async () => {
    const res = await fetch(`${f.gw.url}/api/v1/proxy/proto`, { headers: { 'x-access-token': o.token(), 'x-forwarded-proto': 'https' } })
    await res.text()
    expect(f.up.last().headers['x-forwarded-proto']).toBe('http')
  })

  it('20 different X-Forwarded-For values are still one client: the socket address, at Zenzefi and in the API', async () => {
    const seenUpstream = new Set<string | string[] | undefined>()
    const seenApi = new Set<string>()
    for (let i = 0; i < 20; i++) {
      const xff = `203.0.113.${i}, 10.0.${i}.1`
      seenUpstream.add(await o.proxied(xff, '/one-client'))
      seenApi.add(await o.api(xff))
    }
    expect([...seenUpstream]).toEqual(['127.0.0.1'])
    expect([...seenApi]).toEqual(['127.0.0.1'])
    const lines = [...o.accessLines('/api/v1/proxy/one-client'), ...o.accessLines('/test/whoami')]
    expect(lines).toHaveLength(40)
    expect(new Set(lines.map((l) => l.client_ip))).toEqual(new Set(['127.0.0.1']))
    expect(await o.upgrade('6.6.6.6')).toBe('127.0.0.1')
  })
})

describe('behind a trusted proxy (TRUSTED_PROXY_CIDRS=127.0.0.1/32,10.0.0.0/8)', () => {
  const f = gatewayFixture({ TRUSTED_PROXY_CIDRS: '127.0.0.1/32,10.0.0.0/8' })
  const o = observe(f)

  it.each([
    ['one hop', '198.51.100.7', '198.51.100.7'],
    ['the right-most untrusted hop, not what the client wrote further left', '6.6.6.6, 198.51.100.7, 10.1.2.3', '198.51.100.7'],
    ['every hop trusted: the leftmost', '10.0.0.1, 10.0.0.2', '10.0.0.1'],
    ['IPv4-mapped IPv6, normalised', '::ffff:198.51.100.9', '198.51.100.9'],
    ['a hop that is not an address: the nearest hop that could be checked', '198.51.100.7, garbage', '127.0.0.1'],
  ])('%s', async (_name, xff, client) => {
    expect(await o.proxied(xff)).toBe(client)
    expect(await o.api(xff)).toBe(client)
  })

  it('without X-Forwarded-For the peer is the client', async () => {
    expect(await o.proxied(null)).toBe('127.0.0.1')
    expect(await o.api(null)).toBe('127.0.0.1')
  })

  it('a WebSocket upgrade takes the same rule', async () => {
    expect(await o.upgrade('6.6.6.6, 198.51.100.8')).toBe('198.51.100.8')
  })

  it('the protocol the client used is what the trusted proxy says (TLS ends there), not our plain socket', async () => {
    for (const [sent, seen] of [
      ['https', 'https'],
      ['http, https', 'https'],
      ['gopher', 'http'],
    ]) {
      const res = await fetch(`${f.gw.url}/api/v1/proxy/proto`, { headers: { 'x-access-token': o.token(), 'x-forwarded-proto': sent! } })
      await res.text()
      expect(f.up.last().headers['x-forwarded-proto'], sent).toBe(seen)
    }
  })

  it('the access line names the client so decided', async () => {
    await o.proxied('6.6.6.6, 198.51.100.44', '/logged-client')
    const [line] = o.accessLines('/api/v1/proxy/logged-client')
    expect(line).toMatchObject({ client_ip: '198.51.100.44' })
  })
})
