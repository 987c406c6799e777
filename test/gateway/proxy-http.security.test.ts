import { request } from 'node:http'
import { describe, expect, it } from 'vitest'
import { customer, gatewayFixture } from '../support/gateway'

const f = gatewayFixture()

/** node:http, so header names go out exactly as spelled (fetch would normalise or refuse some). */
function rawGet(path: string, headers: [string, string][]) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      `${f.gw.url}${path}`,
      { headers: [['Host', new URL(f.gw.url).host], ...headers].flat() as unknown as Record<string, string> },
      (res) => {
        let body = ''
        res.on('data', (c) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

describe('what Zenzefi never sees', () => {
  it('our cookie, X-Access-Token, X-Local-Url, our JWT, and client X-User-Id/X-Token-Id in any spelling', async () => {
    const { token, tokenId, user, jwt } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end())
    const res = await rawGet('/api/v1/proxy/inspect', [
      ['Cookie', `JSESSIONID=keep; zenzefi_access_token=${token}; theme=dark`],
      ['X-Access-Token', token],
      ['X-Local-Url', 'https://127.0.0.1:61000'],
      ['Authorization', `Bearer ${jwt}`],
      ['X-User-Id', 'attacker'],
      ['x_user_id', 'attacker'],
      ['X-TOKEN-ID', 'attacker'],
      ['X_Token_Id', 'attacker'],
      ['X-Forwarded-For', '6.6.6.6'],
      ['Connection', 'keep-alive, X-Secret-Hop'],
      ['X-Secret-Hop', 'hop'],
      ['Keep-Alive', 'timeout=5'],
      ['Proxy-Authorization', 'Basic eDp5'],
      ['X-Custom', 'kept'],
    ])
    expect(res.status).toBe(200)
    const seen = f.up.last()
    const raw = seen.rawHeaders.join('\n')
    expect(raw).not.toContain(token)
    expect(raw).not.toContain(jwt)
    expect(raw).not.toContain('attacker')
    expect(raw).not.toContain('6.6.6.6')
    expect(raw.toLowerCase()).not.toContain('x-local-url')
    expect(raw.toLowerCase()).not.toContain('x-secret-hop')
    expect(raw.toLowerCase()).not.toContain('proxy-authorization')
    expect(seen.headers.cookie).toBe('JSESSIONID=keep; theme=dark')
    expect(seen.headers['x-user-id']).toBe(user.id)
    expect(seen.headers['x-token-id']).toBe(tokenId)
    expect(seen.headers['x-custom']).toBe('kept')
    expect(seen.headers.authorization).toBeUndefined()
  })

  it('an Authorization that is not ours (Zenzefi’s own) is passed on', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end())
    await rawGet('/api/v1/proxy/a', [
      ['X-Access-Token', token],
      ['Authorization', 'Basic dXNlcjpwYXNz'],
    ])
    expect(f.up.last().headers.authorization).toBe('Basic dXNlcjpwYXNz')
  })

  it('when the only cookie is ours, no Cookie header is sent at all', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end())
    await rawGet('/api/v1/proxy/a', [['Cookie', `zenzefi_access_token=${token}`]])
    expect(f.up.last().headers.cookie).toBeUndefined()
  })
})

describe('X-Local-Url', () => {
  it('is honoured only for loopback origins', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.writeHead(302, { location: '/next' }).end())
    const evil = await fetch(`${f.gw.url}/api/v1/proxy/a`, { redirect: 'manual', headers: { 'x-access-token': token, 'x-local-url': 'https://evil.example' } })
    expect(evil.headers.get('location')).toBe('/api/v1/proxy/next')
    const local = await fetch(`${f.gw.url}/api/v1/proxy/a`, {
      redirect: 'manual',
      headers: { 'x-access-token': token, 'x-local-url': 'https://localhost:61000' },
    })
    expect(local.headers.get('location')).toBe('/next')
    const redirect = await fetch(`${f.gw.url}/api/v1/proxy/a?token=${token}`, { redirect: 'manual', headers: { 'x-local-url': 'https://evil.example' } })
    expect(redirect.headers.get('location')).toBe('http://localhost:8000/api/v1/proxy/a')
  })
})

describe('logs', () => {
  it('never contain the token, the query string or cookies', async () => {
    const { token } = await customer(f.gw.t)
    f.up.on((_req, res) => res.end())
    await fetch(`${f.gw.url}/api/v1/proxy/p?secret=s3cr3t&token=${token}`, { redirect: 'manual' })
    await rawGet('/api/v1/proxy/p?secret=s3cr3t', [['Cookie', `zenzefi_access_token=${token}; sid=c00kie`]])
    const log = f.gw.t.logs.join('\n')
    expect(log).toContain('/api/v1/proxy/p')
    expect(log).not.toContain(token)
    expect(log).not.toContain('s3cr3t')
    expect(log).not.toContain('c00kie')
  })
})
