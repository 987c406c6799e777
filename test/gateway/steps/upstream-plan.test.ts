import { describe, expect, it } from 'vitest'
import { appFixture, purchase, signUp } from '../../support/harness'
import { proxyRequest } from './request'

// The whole pipeline on the real app (real token service and tiers), looked at through its last step's plan.
const f = appFixture({ ZENZEFI_TARGET_URL: 'https://zenzefi.internal:61000/base/' })

async function authorized() {
  const { jwt, user } = await signUp(f.t)
  const token = await purchase(f.t, jwt)
  return { jwt, user, token }
}

describe('upstream-plan', () => {
  it('puts the path under ZENZEFI_TARGET_URL’s own path, keeps the query, and sets identity headers from the token', async () => {
    const { token, user } = await authorized()
    const out = await f.t.gateway.pipeline.run(
      proxyRequest({ path: '/app/list', search: '?page=2', clientIp: '10.1.2.3', headers: { 'x-access-token': token.token, host: 'gw.example' } }),
    )
    if (out.kind !== 'forward') throw new Error(`answered: ${JSON.stringify(out)}`)
    expect(out.plan.target).toBe('/base/app/list?page=2')
    expect(out.plan.headers).toMatchObject({
      host: 'zenzefi.internal:61000',
      'x-forwarded-for': '10.1.2.3',
      'x-forwarded-host': 'gw.example',
      'x-user-id': user.id,
      'x-token-id': token.id,
    })
    expect(out.plan.headers['x-access-token']).toBeUndefined()
    expect(out.plan.source).toBe('header')
  })

  it('sends the request id the front door decided, never a client copy in any spelling', async () => {
    const { token } = await authorized()
    const out = await f.t.gateway.pipeline.run(
      proxyRequest({ requestId: 'decided-1', headers: { 'x-access-token': token.token, 'X-Request-Id': 'client bad!', X_Request_Id: 'sneaky' } }),
    )
    if (out.kind !== 'forward') throw new Error(`answered: ${JSON.stringify(out)}`)
    expect(Object.entries(out.plan.headers).filter(([name]) => name.toLowerCase().replace(/_/g, '-') === 'x-request-id')).toEqual([
      ['x-request-id', 'decided-1'],
    ])
  })

  it('withholds an Authorization that carries our JWT in any position; passes Zenzefi’s own', async () => {
    const { token, jwt } = await authorized()
    for (const authorization of [`Bearer ${jwt} extra`, `Basic Zm9vOmJhcg==, Bearer ${jwt}`, `bearer   ${jwt}`]) {
      const out = await f.t.gateway.pipeline.run(proxyRequest({ headers: { 'x-access-token': token.token, authorization } }))
      expect(out.kind === 'forward' && out.plan.headers.authorization, authorization).toBeUndefined()
    }
    const own = await f.t.gateway.pipeline.run(proxyRequest({ headers: { 'x-access-token': token.token, authorization: 'Basic Zm9vOmJhcg==' } }))
    expect(own.kind === 'forward' && own.plan.headers.authorization).toBe('Basic Zm9vOmJhcg==')
  })

  it('for an upgrade: no ?token= in the target, no client Sec-WebSocket-* headers, the offered subprotocols kept apart', async () => {
    const { token } = await authorized()
    const out = await f.t.gateway.pipeline.run(
      proxyRequest({
        kind: 'websocket',
        path: '/ws',
        search: `?a=1&token=${token.token}&b=2`,
        headers: { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-protocol': 'v12.stomp, v11.stomp', Sec_WebSocket_Extensions: 'x' },
      }),
    )
    if (out.kind !== 'forward') throw new Error(`answered: ${JSON.stringify(out)}`)
    expect(out.plan.target).toBe('/base/ws?a=1&b=2')
    expect(Object.keys(out.plan.headers).filter((h) => h.replace(/_/g, '-').startsWith('sec-websocket'))).toEqual([])
    expect(out.plan.protocols).toBe('v12.stomp, v11.stomp')
    expect(out.plan.source).toBe('query')
  })

  it('for an upgrade: no `launch` in the target either, in any spelling (it is never redeemed there, nor Zenzefi’s)', async () => {
    const { token } = await authorized()
    const out = await f.t.gateway.pipeline.run(
      proxyRequest({ kind: 'websocket', path: '/ws', search: '?a=1&launch=abc&%6Caunch=def&launch&b=2', headers: { 'x-access-token': token.token } }),
    )
    if (out.kind !== 'forward') throw new Error(`answered: ${JSON.stringify(out)}`)
    expect(out.plan.target).toBe('/base/ws?a=1&b=2')
  })
})
